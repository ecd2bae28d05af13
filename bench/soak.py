"""A classroom-scale soak: 1,000 learners on ``wslab serve --workers 2 --data DIR`` for 10 minutes, with restarts.

Run from the repository root::

    python -m bench.soak                                   # 1,000 learners, 600 s (about 11 minutes)
    python -m bench.soak --learners 80 --seconds 40 --json # a short one

It starts ``wslab serve --workers 2 --data DIR`` (a temporary DIR, the token in
the environment as ``WSLAB_TOKEN``) on loopback, and joins ``--learners``
learners in rooms of ``--room-size`` (40: a class each), each one the course's
own :class:`~wslab.client.reconnecting.ReconnectingClient` (reconnect with
backoff, re-join with ``since``, resend what was not acknowledged with the same
id), as a phone's page or a notebook would. Each chats at ``--rate`` messages a
minute (exponential gaps, a second or two of typing first: :mod:`bench.load`'s
learner, kept by a client that reconnects). Meanwhile:

* at ``--kill-at`` (a third of the run) one worker is killed with SIGKILL, a
  crash: its learners reconnect, to either worker, while the pool starts it again;
* at ``--restart-at`` (two thirds) the whole server is stopped as an instructor
  does (Ctrl-C: every client closed with 1001) and started again on the same
  port with the same ``--data``: the same token, the same history, seq going on;
* every ``--sample`` seconds the resident memory of the parent, each worker,
  the Valkey and this load client is read from ``/proc``.

At the end every learner stops, every message must be acknowledged, and each
room is audited with :func:`bench.load.audit`: every learner of the room saw
seq 1..N exactly once and in order, and every sender's counter 1..n without a
gap or a repeat. It prints the figures (or one JSON object with ``--json``) and
exits 1 if anything was lost, duplicated or left unacknowledged. Memory is
"flat after warm-up" when each worker's memory grew by at most ``--flat-mib``
between a minute after (re)start and the end of that stretch.

Every wait is bounded; the pacing sleeps simulate people, not synchronisation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    from bench.load import ROOT, audit, chatter
    from bench.procs import cmdline, descendants, log, raise_nofile, rss_bytes, sigterm_as_interrupt
    from bench.stats import nearest_rank
except ModuleNotFoundError as exc:  # `python bench/soak.py`
    if exc.name != "bench":
        raise
    raise SystemExit("run it from the repository root as: python -m bench.soak [--learners N ...]") from None
from wslab.client.reconnecting import ReconnectingClient
from wslab.core.backoff import BackoffPolicy
from wslab.core.clock import SYSTEM_CLOCK, Clock

__all__ = ["WAIT", "Served", "SoakLearner", "Sample", "run_soak", "main"]

WAIT = 30.0
"""Bound on a single wait: the server starting or stopping, learners joining, the last acks."""


class Served:
    """``wslab serve --workers N --data DIR`` in a subprocess; its pids read from the banner and ``/proc``."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc, self.port = proc, port

    @classmethod
    async def start(cls, data: Path, token: str, workers: int, port: int = 0) -> Served:
        pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env = dict(os.environ, PYTHONPATH=pythonpath, PYTHONUNBUFFERED="1", WSLAB_TOKEN=token,
                   WSLAB_JUPYTER_PROXY="off")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "wslab.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--data", str(data),
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        stdout = proc.stdout

        async def banner() -> int:
            found = 0
            while line := (await stdout.readline()).decode():
                match = re.search(r"Workers: \d+ processes on port (\d+)", line)
                found = int(match.group(1)) if match else found
                if line.startswith("Press Ctrl-C"):
                    return found
            raise RuntimeError("wslab serve ended before its banner")

        try:
            port = await asyncio.wait_for(banner(), WAIT)
        except BaseException:
            proc.kill()
            raise
        served = cls(proc, port)
        asyncio.get_running_loop().create_task(served._drain())  # its event lines, not kept
        return served

    async def _drain(self) -> None:
        assert self.proc.stdout is not None
        while await self.proc.stdout.readline():
            pass

    @property
    def workers(self) -> list[int]:
        return [pid for pid in descendants(self.proc.pid) if " wslab.cli serve " in cmdline(pid)]

    @property
    def engine(self) -> list[int]:
        return [pid for pid in descendants(self.proc.pid) if "valkey" in cmdline(pid) or "redis" in cmdline(pid)]

    async def stop(self) -> None:
        """Ctrl-C, as an instructor stops it (every client closed with 1001); killed after :data:`WAIT` s."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.proc.wait(), WAIT)
            except TimeoutError:
                self.proc.kill()
                await asyncio.wait_for(self.proc.wait(), WAIT)


@dataclass
class SoakLearner:
    """One learner: the course's reconnecting client, what it sent, and every chat its session let through."""

    name: str
    room: str
    client: ReconnectingClient
    clock: Clock
    sent: int = 0
    received: list[tuple[int, str, int, float]] = field(default_factory=list)  # seq, sender, n, latency
    raw_chats: int = 0
    reconnects: int = 0

    def __post_init__(self) -> None:
        self.client.on("chat", self._chat)
        self.client.on("message", self._message)
        self.client.on("connect", self._connect)

    def _chat(self, message: dict[str, Any]) -> None:
        counter, sent_at, _ = str(message["content"]).split(" ", 2)
        latency = self.clock.monotonic() - float(sent_at[1:])
        self.received.append((int(message["seq"]), str(message["sender"]), int(counter[1:]), latency))

    def _message(self, message: dict[str, Any]) -> None:
        if message.get("type") == "chat":
            self.raw_chats += 1
        elif message.get("type") == "welcome":
            self.raw_chats += len(message.get("history", []))

    def _connect(self, details: dict[str, Any]) -> None:
        self.reconnects += bool(details.get("reconnect"))

    def say(self, words: str) -> None:
        """The next numbered message, carrying its counter and send time (as :mod:`bench.load`'s learner)."""
        self.sent += 1
        self.client.say(f"#{self.sent} @{self.clock.monotonic():.6f} {words}")


@dataclass
class Sample:
    """Resident memory at one moment, in MiB."""

    at: float
    parent: float
    workers: list[float]
    engine: float
    client: float


def _mib(pid: int | tuple[int, ...]) -> float:
    try:
        return round(rss_bytes(pid) / 2**20, 1)
    except (OSError, RuntimeError):
        return 0.0


async def run_soak(
    learners: int, seconds: float, rate: float, room_size: int, kill_at: float, restart_at: float,
    sample_every: float, seed: int, workers: int = 2, clock: Clock = SYSTEM_CLOCK,
) -> dict[str, Any]:
    """The whole run (see the module's docstring); returns its figures."""
    rng = random.Random(seed)
    token = secrets.token_urlsafe(16)
    events: list[tuple[float, str]] = []
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="wslab-soak-") as folder:
        data = Path(folder) / "rooms"
        served = await Served.start(data, token, workers)
        url = f"ws://127.0.0.1:{served.port}/chat?token={token}"
        rooms = [f"class-{i:02d}" for i in range((learners + room_size - 1) // room_size)]
        crowd = [
            SoakLearner(
                f"learner-{i:04d}", rooms[i // room_size],
                ReconnectingClient(url, policy=BackoffPolicy(), seed=rng.randrange(2**32), open_timeout=20.0),
                clock,
            )
            for i in range(learners)
        ]
        try:
            log(f"joining {learners} learners in {len(rooms)} rooms of {room_size} ...")
            for start in range(0, learners, 50):
                batch = crowd[start : start + 50]
                for learner in batch:
                    learner.client.join(learner.name, learner.room)
                    learner.client.start()
                await asyncio.wait_for(asyncio.gather(*(lr.client.wait_open(WAIT) for lr in batch)), WAIT * 2)
            started = clock.monotonic()
            until = started + seconds
            events.append((0.0, f"{learners} learners joined"))

            async def sampler() -> None:
                while True:
                    parent = served.proc.pid
                    samples.append(Sample(
                        round(clock.monotonic() - started, 1), _mib(parent), [_mib(w) for w in served.workers],
                        _mib(tuple(served.engine)), _mib(os.getpid()),
                    ))
                    await asyncio.sleep(sample_every)

            async def faults() -> None:
                nonlocal served
                await asyncio.sleep(kill_at)
                victim = served.workers[0]
                os.kill(victim, signal.SIGKILL)
                events.append((round(clock.monotonic() - started, 1), f"worker {victim} killed with SIGKILL"))
                log(f"{events[-1][0]:g} s: {events[-1][1]}")
                await asyncio.sleep(max(0.0, restart_at - (clock.monotonic() - started)))
                port = served.port
                down = clock.monotonic()
                await served.stop()
                served = await Served.start(data, token, workers, port=port)
                back = clock.monotonic() - down
                what = f"whole server stopped (Ctrl-C), started again: down {back:.1f} s"
                events.append((round(down - started, 1), what))
                log(f"{events[-1][0]:g} s: {events[-1][1]}")

            sampling = asyncio.get_running_loop().create_task(sampler())
            faulting = asyncio.get_running_loop().create_task(faults())
            log(f"chatting for {seconds:g} s at about {rate:g} messages per learner per minute ...")
            await asyncio.gather(*(
                chatter(lambda lr=lr: lr.client.keystroke("…"), lr.say, until, rate, random.Random(rng.random()), clock)
                for lr in crowd
            ))
            await asyncio.wait_for(faulting, WAIT)
            log("draining: every message acknowledged, every learner up to its room's last seq ...")
            await asyncio.wait_for(asyncio.gather(*(lr.client.flush(WAIT * 2) for lr in crowd),
                                                  return_exceptions=True), WAIT * 3)
            last = {room: 0 for room in rooms}
            for learner in crowd:
                for seq, *_ in learner.received:
                    last[learner.room] = max(last[learner.room], seq)

            async def caught_up(learner: SoakLearner) -> None:
                while (learner.received[-1][0] if learner.received else 0) < last[learner.room]:
                    await learner.client.wait_for("chat", WAIT)

            await asyncio.wait_for(asyncio.gather(*(caught_up(lr) for lr in crowd), return_exceptions=True),
                                   WAIT * 2)
            elapsed = clock.monotonic() - started
            sampling.cancel()
            samples.append(Sample(
                round(elapsed, 1), _mib(served.proc.pid), [_mib(w) for w in served.workers],
                _mib(tuple(served.engine)), _mib(os.getpid()),
            ))
        finally:
            await asyncio.gather(*(lr.client.aclose(5.0) for lr in crowd), return_exceptions=True)
            await served.stop()
    return _figures(crowd, rooms, last, samples, events, seconds, rate, room_size, kill_at, restart_at, elapsed)


def _figures(
    crowd: list[SoakLearner], rooms: list[str], last: dict[str, int], samples: list[Sample],
    events: list[tuple[float, str]], seconds: float, rate: float, room_size: int, kill_at: float,
    restart_at: float, elapsed: float,
) -> dict[str, Any]:
    lost = duplicates = out_of_order = gaps = deliveries = expected = 0
    latencies: list[float] = []
    for room in rooms:
        members = [lr for lr in crowd if lr.room == room]
        result = audit(members, 1, last[room], {lr.name: lr.sent for lr in members})  # type: ignore[arg-type]
        lost, duplicates = lost + result.lost, duplicates + result.duplicates
        out_of_order, gaps = out_of_order + result.out_of_order, gaps + result.counter_gaps
        deliveries, expected = deliveries + result.deliveries, expected + result.expected
        latencies += result.latencies
    sent = sum(lr.sent for lr in crowd)
    messages = sum(last.values())
    unacked = sum(lr.client.unacked + lr.client.queued for lr in crowd)

    def flat(start: float, end: float) -> float:
        """Growth of the workers' memory (MiB, summed) from ``start`` to ``end`` s, the same processes."""
        window = [s for s in samples if start <= s.at <= end]
        if len(window) < 2:
            return 0.0
        return round(sum(window[-1].workers) - sum(window[0].workers), 1)

    growth = {
        "first stretch (60 s to the worker kill)": flat(60.0, kill_at - 1),
        "after the whole restart (60 s after it to the end)": flat(restart_at + 60.0, elapsed + 1),
    }
    return {
        "learners": len(crowd), "rooms": len(rooms), "room_size": room_size, "seconds": seconds,
        "rate_per_minute": rate, "elapsed_s": round(elapsed, 1), "events": events,
        "messages": messages, "sent": sent, "unacknowledged": unacked,
        "deliveries": deliveries, "expected_deliveries": expected,
        "lost": lost, "duplicated": duplicates, "out_of_order": out_of_order, "counter_gaps": gaps,
        "resent_by_server_dropped_by_client": sum(lr.raw_chats for lr in crowd) - deliveries,
        "reconnects": sum(lr.reconnects for lr in crowd),
        "latency_p50_ms": round(nearest_rank(latencies, 50) * 1000, 1),
        "latency_p99_ms": round(nearest_rank(latencies, 99) * 1000, 1),
        "latency_max_ms": round(max(latencies, default=0.0) * 1000, 1),
        "memory_mib": [s.__dict__ for s in samples],
        "worker_growth_mib": growth,
        "ok": messages == sent and unacked == 0 and lost == duplicates == out_of_order == gaps == 0
        and deliveries == expected,
    }


def _summary(report: dict[str, Any], flat_mib: float) -> str:
    lines = [
        f"soak: {report['learners']} learners in {report['rooms']} rooms of {report['room_size']}, "
        f"{report['seconds']:g} s at ~{report['rate_per_minute']:g} msg/learner/min (took {report['elapsed_s']:g} s)",
        *(f"  {at:g} s: {what}" for at, what in report["events"]),
        f"  messages {report['messages']} (sent {report['sent']}, unacknowledged {report['unacknowledged']}), "
        f"reconnects {report['reconnects']}",
        f"  deliveries {report['deliveries']} of {report['expected_deliveries']}; lost {report['lost']}, "
        f"duplicated {report['duplicated']}, out of order {report['out_of_order']}, "
        f"sender counter gaps {report['counter_gaps']}",
        f"  sent again by the server after a reconnect and dropped by the client's session: "
        f"{report['resent_by_server_dropped_by_client']}",
        f"  latency p50 {report['latency_p50_ms']} ms, p99 {report['latency_p99_ms']} ms, "
        f"max {report['latency_max_ms']} ms (messages queued while a server was down included)",
        "  memory (MiB): t parent workers valkey client",
        *(f"    {s['at']:>6g} {s['parent']:>6g} {'+'.join(f'{w:g}' for w in s['workers']):>13} "
          f"{s['engine']:>6g} {s['client']:>6g}" for s in report["memory_mib"]),
        *(f"  workers' memory growth, {stretch}: {mib:+g} MiB" for stretch, mib in report["worker_growth_mib"].items()),
    ]
    flat = all(abs(mib) <= flat_mib for mib in report["worker_growth_mib"].values())
    verdict = "OK" if report["ok"] and flat else "FAILED"
    lines.append(f"  {verdict}" + ("" if flat else f" (memory grew by more than {flat_mib:g} MiB)"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print its figures; 0 if nothing was lost and memory stayed flat, else 1; 130 if interrupted."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=1000, help="simulated learners (default 1000)")
    parser.add_argument("--room-size", type=int, default=40, help="learners per room (default 40)")
    parser.add_argument("--seconds", type=float, default=600.0, help="how long they chat (default 600)")
    parser.add_argument("--rate", type=float, default=2.0, help="messages per learner per minute (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="wslab serve --workers (default 2)")
    parser.add_argument("--kill-at", type=float, help="when to SIGKILL a worker, s (default: a third of the run)")
    parser.add_argument("--restart-at", type=float, help="when to restart the server, s (default: two thirds)")
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between memory readings (default 30)")
    parser.add_argument("--flat-mib", type=float, default=16.0, help="most growth counted as flat, MiB (default 16)")
    parser.add_argument("--seed", type=int, default=9, help="random seed (default 9)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    args = parser.parse_args(argv)
    if not 2 <= args.learners <= 2000 or not 2 <= args.room_size <= args.learners:
        parser.error("--learners must be 2 to 2000 and --room-size 2 to --learners")
    if not 10 <= args.seconds <= 3600:
        parser.error("--seconds must be 10 to 3600")
    kill_at = args.kill_at if args.kill_at is not None else args.seconds / 3
    restart_at = args.restart_at if args.restart_at is not None else args.seconds * 2 / 3
    if not 0 < kill_at < restart_at < args.seconds:
        parser.error("it must be 0 < --kill-at < --restart-at < --seconds")
    raise_nofile()
    sigterm_as_interrupt()
    try:
        report = asyncio.run(run_soak(
            args.learners, args.seconds, args.rate, args.room_size, kill_at, restart_at, args.sample, args.seed,
            args.workers,
        ))
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    flat = all(abs(mib) <= args.flat_mib for mib in report["worker_growth_mib"].values())
    print(json.dumps(report) if args.json else _summary(report, args.flat_mib), flush=True)
    return 0 if report["ok"] and flat else 1


if __name__ == "__main__":
    sys.exit(main())
