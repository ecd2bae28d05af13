"""Where a join's server CPU goes: the opening handshake alone, then the handshake and a ``join``.

    python -m bench.joins              # from the repository root; 6 repetitions, about a minute
    python -m bench.joins --reps 10

:mod:`bench.run`'s setup row compares the hub's open + join (until every member
has seen all online) with raw websockets' handshake alone. This splits that
figure in two, in the same repetitions, with the same lean client
(:mod:`bench.wsclient`), ``N`` connections opened ``concurrency`` at a time,
server and client pinned to CPUs of their own when there are two:

* ``handshake``: each server's CPU per connection for the opening handshake alone
  (the hub's ``/chat``, raw websockets' room path), no frame after it: what the
  hub's shell costs against websockets' own ``serve`` before any protocol;
* ``echo``: raw websockets' CPU per connection for the handshake on ``/echo``, then
  one frame the size of a ``join`` sent and echoed back: the least any protocol
  with a join costs on websockets (one frame in, one frame out), with no room;
* ``join``: the hub's CPU per connection for the handshake, the ``join`` frame, its
  ``welcome`` and the ``presence`` frames until every member has seen all
  ``N`` online (:func:`bench.scenarios.converged`), as in :mod:`bench.run`.

The difference of the hub's two rows is the join itself: reading one frame,
the hub's work, writing the ``welcome`` and the members' share of the presence
rounds. Server CPU is read from ``/proc`` as in :mod:`bench.run`; ratios are
per repetition, then the median with its min-max spread. Prints a table, and
the figures as one JSON line last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from bench import procs
from bench.dialects import HOST, Dialect
from bench.runner import ROOT, Runner, rotated
from bench.scenarios import Measured, abort, converged, gather_bounded, server_idle
from bench.stats import Spread, paired_difference, paired_ratio, summary
from bench.wsclient import WSConn, open_ws

__all__ = ["CASES", "measure", "main"]

CASES = {
    "raw handshake": ("raw", "handshake"),
    "raw handshake + one echo": ("raw", "echo"),
    "hub handshake": ("hub", "handshake"),
    "hub handshake + join": ("hub", "join"),
}
"""What each row runs: the server kind, and what each client does once connected."""


async def measure(kind: str, what: str, port: int, pid: int, n: int, concurrency: int) -> float:
    """Server CPU per connection (µs) for ``n`` clients doing ``what`` (``handshake``, ``echo``, ``join``); bounded."""
    server = (pid,)
    await server_idle(Measured(server))  # its start is not counted
    cpu0 = procs.cpu_ns(server)
    if what == "handshake":
        path = "/chat" if kind == "hub" else "/room/joins"
        conns: list[WSConn] = await gather_bounded([open_ws(HOST, port, path) for _ in range(n)], concurrency)
    elif what == "echo":
        conns = await gather_bounded([_echo_once(port, i) for i in range(n)], concurrency)
    else:
        d = Dialect(kind, port, False)
        conns = await gather_bounded([d.join("joins", f"j{i}") for i in range(n)], concurrency)
        if await converged(conns, n):
            raise RuntimeError(f"not every member saw all {n} online within the wait")
    cpu1 = procs.cpu_ns(server)
    abort(conns)
    return (cpu1 - cpu0) / 1000 / n


async def _echo_once(port: int, i: int) -> WSConn:
    """Open ``/echo`` and have one join-sized frame echoed (bounded)."""
    conn = await open_ws(HOST, port, "/echo")
    echoed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    conn.set_handler(lambda _c, _payload: echoed.done() or echoed.set_result(None))
    conn.send_text(json.dumps({"type": "join", "name": f"j{i}", "room": "joins"}))
    await asyncio.wait_for(echoed, 15)
    return conn


def run(reps: int, n: int, concurrency: int, log_path: Path) -> dict[str, list[float]]:
    """``reps`` repetitions of every case (the order rotates), a fresh server each; case -> µs per connection."""
    cpus = sorted(os.sched_getaffinity(0))
    server_cpus, client_cpus = ({cpus[0]}, {cpus[1]}) if len(cpus) >= 2 else (None, None)
    if client_cpus:
        os.sched_setaffinity(0, client_cpus)
    runner = Runner(log_path=log_path, timeout=120.0, server_cpus=server_cpus, client_cpus=client_cpus)
    out: dict[str, list[float]] = {case: [] for case in CASES}
    for rep in range(reps):
        for case in rotated(list(CASES), rep):
            kind, what = CASES[case]
            proc, port = runner.start_server(kind)
            try:
                one = measure(kind, what, port, proc.pid, n, concurrency)
                out[case].append(asyncio.run(asyncio.wait_for(one, 120)))
            finally:
                procs.stop(proc)
            procs.log(f"[rep {rep + 1}/{reps}] {case}: {out[case][-1]:.0f} µs per connection")
    return out


def _cell(spread: Spread | None, unit: str = "") -> str:
    if spread is None:
        return "n/a"
    median, low, high = spread
    return f"{median:.3g}{unit} ({low:.3g}–{high:.3g})"


def report(out: dict[str, list[float]]) -> str:
    """The table: each case's µs per connection, ÷ raw's handshake and ÷ raw's handshake + one echo (paired)."""
    raw, echo = list(out["raw handshake"]), list(out["raw handshake + one echo"])
    lines = [
        "| Case | server CPU per connection (µs) | ÷ raw handshake | ÷ raw handshake + one echo |",
        "|---|---|---|---|",
    ]
    for case, values in out.items():
        by_raw = _cell(paired_ratio(list(values), raw), "×") if case != "raw handshake" else "1"
        by_echo = _cell(paired_ratio(list(values), echo), "×") if case != "raw handshake + one echo" else "1"
        lines.append(f"| {case} | {_cell(summary(list(values)))} | {by_raw} | {by_echo} |")
    join = paired_difference(list(out["hub handshake + join"]), list(out["hub handshake"]))
    lines.append("")
    lines.append(f"The join above the hub's own handshake (paired per repetition): {_cell(join, ' µs')} "
                 "per connection.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, run, print the table and one JSON line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--reps", type=int, default=6, help="repetitions (default 6)")
    parser.add_argument("-n", type=int, default=500, help="connections per case (default 500)")
    parser.add_argument("--concurrency", type=int, default=20, help="opened at a time (default 20)")
    args = parser.parse_args(argv)
    procs.raise_nofile()
    log_path = ROOT / "bench" / "results" / f"joins-{time.strftime('%Y%m%dT%H%M%S')}-servers.log"
    log_path.parent.mkdir(exist_ok=True)
    try:
        out = run(args.reps, args.n, args.concurrency, log_path)
    finally:
        procs.stop_all()
    print(report(out))
    figures: dict[str, Any] = {
        "reps": args.reps, "n": args.n, "concurrency": args.concurrency, "us_per_connection": out
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
