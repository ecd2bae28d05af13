"""The load client of :mod:`bench.run`: one process that drives one server through every scenario of a plan.

Run by :mod:`bench.run`, not by hand (though it can be), from the repository root::

    python -m bench.peers_load --kind hub --port 8765 --server-pid 1234 --plan '{"fanout_n": [100], ...}'

It prints one JSON object on stdout with the figures of each scenario (and a
line per scenario on stderr as it goes). What each scenario does and measures
is :mod:`bench.scenarios`; how each server kind is spoken to, :mod:`bench.dialects`;
this module runs them in the plan's order (:func:`run_plan`) within ``--timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from bench import procs
from bench.dialects import Dialect
from bench.plans import KINDS, RELAYS, Plan
from bench.scenarios import (
    Figures,
    Measured,
    abort,
    connect_room,
    echo_concurrent,
    echo_sequential,
    fanout,
    server_idle,
    storm,
)
from bench.wsclient import WSConn

__all__ = ["run_plan", "main"]


async def run_plan(kind: str, port: int, server: Measured, plan: Plan) -> dict[str, Figures]:
    """Every scenario of ``plan`` against the ``kind`` server on ``port``, in order; scenario -> figures.

    The fan-out rooms (largest first, as the plan lists them) open, are measured
    and stay open through the echo runs; the storm then runs alone, last but for
    compression, after the rooms are dropped and the server is idle; a compression
    plan (``deflate_n``) serves a room without and a room with permessage-deflate.
    """
    d = Dialect("raw" if kind in RELAYS else kind, port, False)
    out: dict[str, Figures] = {}
    rooms: list[list[WSConn]] = []

    def run_step(name: str, result: Figures) -> None:
        out[name] = result
        print(f"  {kind}: {name} {json.dumps(result)}", file=sys.stderr, flush=True)

    concurrency = plan.get("setup_concurrency", 20)
    for n in plan.get("fanout_n", []):
        room = f"r{n}"
        conns, setup = await connect_room(d, server, room, n, concurrency)
        rooms.append(conns)
        if n == max(plan["fanout_n"]):
            run_step("setup", setup)
        run_step(f"burst{n}", await fanout(d, server, conns, room, plan["burst_messages"], None))
        paced = plan.get("paced_messages", {}).get(str(n))
        if paced:
            run_step(f"paced{n}", await fanout(d, server, conns, room, paced, plan["paced_rate"]))
    if plan.get("echo_count"):
        run_step("echo1", await echo_sequential(d, server, plan["echo_count"]))
    if plan.get("echo_clients") and not plan.get("deflate_n"):
        run_step("echo50", await echo_concurrent(d, server, plan["echo_clients"], plan["echo_each"]))
    # The storm drops every connection the server has, so it runs last, alone: the
    # fan-out rooms go first (their clients disconnect) and the server is let go idle.
    if plan.get("storm_n") and kind in ("hub", "raw"):
        for conns in rooms:
            abort(conns)
        rooms.clear()
        await server_idle(server)
        run_step("storm", await storm(d, server, plan))
    # Compression: the same server (started with deflate enabled) serves a room of
    # clients that do not offer permessage-deflate and a room of clients that do.
    deflate_n = plan.get("deflate_n")
    if deflate_n:
        for label, deflate in (("plain", False), ("deflate", True)):
            d.deflate = deflate
            room = f"{label}{deflate_n}"
            conns, _ = await connect_room(d, server, room, deflate_n, concurrency)
            rooms.append(conns)
            negotiated = sum(c.inflater is not None for c in conns)
            if negotiated != (deflate_n if deflate else 0):
                raise RuntimeError(f"permessage-deflate negotiated on {negotiated} of {deflate_n} {label} connections")
            run_step(f"burst_{label}", await fanout(d, server, conns, room, plan["burst_messages"], None))
        # The first echo run in a process pays for warming up (measured: up to twice
        # the CPU per message), which would flatter whichever variant runs second.
        d.deflate = False
        await echo_concurrent(d, server, plan["echo_clients"], max(10, plan["echo_each"] // 2))
        for label, deflate in (("plain", False), ("deflate", True)):
            d.deflate = deflate
            run_step(f"echo50_{label}", await echo_concurrent(d, server, plan["echo_clients"], plan["echo_each"]))
    for conns in rooms:
        abort(conns)
    return out


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, run the plan within ``--timeout`` s, print the figures as one JSON line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--kind", required=True, choices=KINDS)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server-pid", required=True, help="the server's pid, or pids joined by commas (all counted)")
    parser.add_argument("--engine-pid", type=int, help="which of those is the Valkey (its CPU also on its own)")
    parser.add_argument(
        "--plan", required=True, help="JSON: fanout_n, burst_messages, paced_messages {n: m}, ... (see bench/plans.py)"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="bound on the whole run, in seconds")
    args = parser.parse_args(argv)
    procs.raise_nofile()
    server = Measured(tuple(int(one) for one in str(args.server_pid).split(",")), args.engine_pid or None)
    plan: Plan = json.loads(args.plan)
    result = asyncio.run(asyncio.wait_for(run_plan(args.kind, args.port, server, plan), args.timeout))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
