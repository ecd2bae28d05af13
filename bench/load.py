"""Load and faults for a classroom server: many learners in one room, and one who stops reading.

Run from the repository root::

    python -m bench.load                      # 200 learners, 60 s, against `wslab serve`
    python -m bench.load --learners 50 --seconds 5 --json

Phase 1 (load). Starts ``wslab serve`` in a subprocess (its own process, as in a
classroom; or use ``--url``/``--token`` for a server already running), joins
``--learners`` simulated learners to one room from this process (asyncio), and
lets each chat at a realistic rate for ``--seconds``: a message every
``60/--rate`` seconds on average (exponential gaps), each preceded by a second
or two of "typing". Then it checks, for every learner:

* every message the room numbered (seq 1..N) arrived exactly once, in order;
* every sender's own counter (1, 2, 3, ...) arrived without gap or repeat;
* every message sent was acknowledged;

and measures delivery latency (send to receipt, the same clock in one
process) at p50, p99 and max.

Phase 2 (slow consumer). On a separate in-process server, one learner stops
reading while four others send long messages flat out (below the rate limit).
The server's watchdog must close the stalled learner with 4008 before its
queue grows without bound, while a reading "witness" keeps getting every
message, quickly. The phase lowers the limit to ``--stall-limit`` bytes
(default 256 KiB; the server's default is 1 MiB) so it ends in seconds. Note
that the kernel's socket buffers (up to ~4 MB on Linux) fill before the
server's own queue starts to grow, so detection takes that much data first.

Prints a summary (or one JSON object with ``--json``) and exits 1 if anything
was lost, duplicated, reordered or left unacknowledged, or if the stalled
learner was not closed with 4008. Every wait is bounded; pacing uses sleeps,
which here simulate people, not synchronise anything.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import random
import re
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

try:
    from bench.procs import log, sigterm_as_interrupt
    from bench.stats import nearest_rank
except ModuleNotFoundError as exc:  # `python bench/load.py`, the command before bench was a package
    if exc.name != "bench":
        raise
    raise SystemExit("run it from the repository root as: python -m bench.load [--learners N ...]") from None
from wslab.core import protocol as p
from wslab.core.clock import SYSTEM_CLOCK, Clock
from wslab.kernel.course_server import start_server
from wslab.server.chat_server import ServerEvent

__all__ = [
    "ROOT",
    "WAIT",
    "STALL_SENDERS",
    "PHRASES",
    "chatter",
    "Learner",
    "Audit",
    "audit",
    "LoadReport",
    "StallReport",
    "run_load",
    "run_stall",
    "main",
]

ROOT = Path(__file__).resolve().parents[1]

WAIT = 20.0
"""Bound on any single wait: connecting, joining, an ack, draining."""

STALL_SENDERS = 10
"""Learners sending long messages flat out in phase 2."""

PHRASES = [
    "I think the reconnect delay should double each time",
    "my server says 4001, did I forget the token?",
    "readyState is 1 now",
    "can someone explain the backoff jitter?",
    "the echo works!",
    "why does the typing indicator clear after two seconds?",
    "ok",
    "done with exercise 3",
]


@dataclass
class Learner:
    """One simulated learner: a connection, what it sent, and everything it received."""

    name: str
    ws: ClientConnection
    clock: Clock
    sent: int = 0
    pending: dict[str, float] = field(default_factory=dict)  # message id -> send time
    acks: list[int] = field(default_factory=list)  # room seq of each acknowledged message
    ack_latencies: list[float] = field(default_factory=list)
    received: list[tuple[int, str, int, float]] = field(default_factory=list)  # seq, sender, n, latency
    errors: list[str] = field(default_factory=list)
    typing_frames: int = 0
    max_seq: int = 0
    target: int | None = None
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    acked_all: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int | None = None

    @classmethod
    async def join(cls, url: str, name: str, room: str, clock: Clock, **connect_options: Any) -> Learner:
        """Connect to ``url`` and join ``room`` as ``name``; raises :class:`RuntimeError` if not welcomed."""
        ws = await asyncio.wait_for(connect(url, open_timeout=WAIT, **connect_options), WAIT)
        await ws.send(p.encode({"type": "join", "name": name, "room": room}))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        if welcome.get("type") != "welcome":
            raise RuntimeError(f"{name} could not join: {welcome}")
        return cls(name=name, ws=ws, clock=clock, max_seq=welcome["seq"])

    async def say(self, content_words: str) -> None:
        """Send the next numbered message; its content carries the counter and the send time."""
        self.sent += 1
        now = self.clock.monotonic()
        message_id = f"{self.name}-{self.sent}"
        self.pending[message_id] = now
        self.acked_all.clear()
        content = f"#{self.sent} @{now:.6f} {content_words}"
        await self.ws.send(p.encode({"type": "chat", "id": message_id, "content": content}))

    async def typing(self, on: bool) -> None:
        """Say that this learner is typing (``on``) or stopped."""
        await self.ws.send(p.encode({"type": "typing", "typing": on}))

    async def read(self) -> None:
        """Record every frame until the connection closes."""
        try:
            async for frame in self.ws:
                now = self.clock.monotonic()
                message = json.loads(frame)
                kind = message.get("type")
                if kind == "chat":
                    counter, sent_at, _ = message["content"].split(" ", 2)
                    self.received.append(
                        (message["seq"], message["sender"], int(counter[1:]), now - float(sent_at[1:]))
                    )
                    self.max_seq = max(self.max_seq, message["seq"])
                    if self.target is not None and self.max_seq >= self.target:
                        self.reached.set()
                elif kind == "ack":
                    sent_at = self.pending.pop(message["id"], None)
                    if sent_at is not None:
                        self.acks.append(message["seq"])
                        self.ack_latencies.append(now - sent_at)
                    if not self.pending:
                        self.acked_all.set()
                elif kind == "typing":
                    self.typing_frames += 1
                elif kind == "error":
                    self.errors.append(f"{message.get('code')}: {message.get('message')}")
        except ConnectionClosed as exc:
            self.close_code = exc.rcvd.code if exc.rcvd else None
        else:
            self.close_code = self.ws.close_code

    def expect_up_to(self, seq: int) -> None:
        """Set :attr:`reached` once this learner has seen room seq ``seq`` (at once if it has)."""
        self.target = seq
        if self.max_seq >= seq:
            self.reached.set()


@dataclass
class Audit:
    """What a set of receivers saw, checked against what was sent."""

    deliveries: int = 0
    expected: int = 0
    lost: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    counter_gaps: int = 0
    latencies: list[float] = field(default_factory=list)


def audit(receivers: list[Learner], first_seq: int, last_seq: int, sent_by: dict[str, int]) -> Audit:
    """Check that each receiver got seq ``first_seq..last_seq`` once, in order, and every sender's counter 1..n."""
    result = Audit()
    wanted = set(range(first_seq, last_seq + 1))
    for learner in receivers:
        seqs = [seq for seq, _, _, _ in learner.received]
        result.deliveries += len(seqs)
        result.expected += len(wanted)
        unique = set(seqs)
        result.duplicates += len(seqs) - len(unique)
        result.lost += len(wanted - unique)
        result.out_of_order += sum(1 for a, b in zip(seqs, seqs[1:], strict=False) if b <= a)
        counters: dict[str, list[int]] = {}
        for _, sender, n, latency in learner.received:
            counters.setdefault(sender, []).append(n)
            result.latencies.append(latency)
        for sender, total in sent_by.items():
            if counters.get(sender, []) != list(range(1, total + 1)):
                result.counter_gaps += 1
    return result


@dataclass
class LoadReport:
    """Phase 1's figures; :attr:`ok` when nothing was lost, duplicated, reordered or left unacknowledged."""

    learners: int
    seconds: float
    rate_per_minute: float
    messages: int
    sent: int
    acknowledged: int
    unacknowledged: int
    deliveries: int
    expected_deliveries: int
    lost: int
    duplicates: int
    out_of_order: int
    counter_gaps: int
    typing_frames: int
    errors: int
    latency_p50_ms: float
    latency_p99_ms: float
    latency_max_ms: float
    ack_p99_ms: float
    deliveries_per_second: float

    @property
    def ok(self) -> bool:
        return (
            self.messages > 0
            and self.sent == self.acknowledged == self.messages
            and self.lost == self.duplicates == self.out_of_order == self.counter_gaps == self.unacknowledged == 0
            and self.deliveries == self.expected_deliveries
        )


async def _join_all(url: str, names: list[str], room: str, clock: Clock, batch: int = 25) -> list[Learner]:
    learners: list[Learner] = []
    for start in range(0, len(names), batch):
        learners += await asyncio.gather(
            *(Learner.join(url, name, room, clock) for name in names[start : start + batch])
        )
    return learners


async def chatter(
    start_typing: Callable[[], object], say: Callable[[str], object],
    until: float, rate_per_minute: float, rng: random.Random, clock: Clock,
) -> None:
    """Chat like a person until ``until``: wait (exponential gaps, ``rate_per_minute`` on average),
    type for 0.5 to 2 s, send one of :data:`PHRASES`; stop before a turn that would end after ``until``.

    ``start_typing()`` and ``say(text)`` may return an awaitable, which is awaited.
    """
    while True:
        gap = rng.expovariate(rate_per_minute / 60.0)
        typing_for = rng.uniform(0.5, 2.0)
        if clock.monotonic() + gap + typing_for >= until:
            return
        await asyncio.sleep(gap)
        if inspect.isawaitable(started := start_typing()):
            await started
        await asyncio.sleep(typing_for)
        if inspect.isawaitable(sent := say(rng.choice(PHRASES))):
            await sent


async def run_load(
    url: str, learners: int, seconds: float, rate_per_minute: float, seed: int, clock: Clock = SYSTEM_CLOCK
) -> LoadReport:
    """Phase 1: ``learners`` in a fresh room for ``seconds``; audit every delivery."""
    rng = random.Random(seed)
    room = f"load-{rng.randrange(16**6):06x}"
    names = [f"learner-{i:03d}" for i in range(learners)]
    log(f"joining {learners} learners to room {room} ...")
    crowd = await _join_all(url, names, room, clock)
    first_seq = max(learner.max_seq for learner in crowd) + 1
    readers = [asyncio.create_task(learner.read()) for learner in crowd]
    log(f"chatting for {seconds:g} s at about {rate_per_minute:g} messages per learner per minute ...")
    started = clock.monotonic()
    until = started + seconds
    await asyncio.gather(*(
        chatter(lambda lr=lr: lr.typing(True), lr.say, until, rate_per_minute, random.Random(rng.random()), clock)
        for lr in crowd
    ))
    # Every message acknowledged, then every learner has everything up to the last seq.
    await asyncio.wait_for(asyncio.gather(*(lr.acked_all.wait() for lr in crowd if lr.pending)), WAIT)
    last_seq = max((seq for lr in crowd for seq in lr.acks), default=first_seq - 1)
    for learner in crowd:
        learner.expect_up_to(last_seq)
    try:
        await asyncio.wait_for(asyncio.gather(*(lr.reached.wait() for lr in crowd)), WAIT)
    except TimeoutError:
        log("some learners never received the last message (counted as lost)")
    elapsed = clock.monotonic() - started
    for learner in crowd:
        await learner.ws.close()
    await asyncio.wait_for(asyncio.gather(*readers), WAIT)

    sent_by = {lr.name: lr.sent for lr in crowd}
    result = audit(crowd, first_seq, last_seq, sent_by)
    messages = last_seq - first_seq + 1
    acks = sorted(seq for lr in crowd for seq in lr.acks)
    return LoadReport(
        learners=learners,
        seconds=seconds,
        rate_per_minute=rate_per_minute,
        messages=messages,
        sent=sum(sent_by.values()),
        acknowledged=len(acks),
        unacknowledged=sum(len(lr.pending) for lr in crowd),
        deliveries=result.deliveries,
        expected_deliveries=messages * learners,
        lost=result.lost,
        duplicates=result.duplicates,
        out_of_order=result.out_of_order,
        counter_gaps=result.counter_gaps,
        typing_frames=sum(lr.typing_frames for lr in crowd),
        errors=sum(len(lr.errors) for lr in crowd),
        latency_p50_ms=round(nearest_rank(result.latencies, 50) * 1000, 2),
        latency_p99_ms=round(nearest_rank(result.latencies, 99) * 1000, 2),
        latency_max_ms=round(max(result.latencies, default=0.0) * 1000, 2),
        ack_p99_ms=round(nearest_rank([a for lr in crowd for a in lr.ack_latencies], 99) * 1000, 2),
        deliveries_per_second=round(result.deliveries / elapsed, 1) if elapsed > 0 else 0.0,
    )


@dataclass
class StallReport:
    """Phase 2's figures; :attr:`ok` when the stalled learner was closed with 4008 and the witness lost nothing."""

    limit_bytes: int
    close_code: int | None
    closed_after_s: float
    server_event: str
    messages: int
    witness_lost: int
    witness_duplicates: int
    witness_p50_ms: float
    witness_p99_ms: float

    @property
    def ok(self) -> bool:
        return self.close_code == p.CLOSE_SLOW_CONSUMER and self.witness_lost == self.witness_duplicates == 0


async def run_stall(limit_bytes: int, max_seconds: float = 30.0, clock: Clock = SYSTEM_CLOCK) -> StallReport:
    """Phase 2: a learner stops reading; it must be closed with 4008 while a witness loses nothing."""
    handle = start_server(port=0, update_interval=None, slow_consumer_bytes=limit_bytes, replace_running=True)
    loop = asyncio.get_running_loop()
    slow_event = asyncio.Event()
    seen: list[str] = []

    def on_event(event: ServerEvent) -> None:
        if event.kind == "slow":
            seen.append(event.text)
            loop.call_soon_threadsafe(slow_event.set)

    handle.server.listeners.append(on_event)
    try:
        url = handle.chat_url
        # A small receive buffer, so the kernel holds little on the stalled side.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        sock.settimeout(WAIT)
        sock.connect(("127.0.0.1", handle.port))
        sock.setblocking(False)
        stalled = await Learner.join(url, "stalled", "stall", clock, sock=sock)
        witness = await Learner.join(url, "witness", "stall", clock)
        senders = [await Learner.join(url, f"sender-{i}", "stall", clock) for i in range(STALL_SENDERS)]
        readers = [asyncio.create_task(lr.read()) for lr in (witness, *senders)]
        # `stalled` never calls recv(): the client library stops reading its socket
        # once 16 frames are queued, exactly like a frozen browser tab.
        started = clock.monotonic()
        # 1900 emoji: within the 2000-character limit, ~7.6 KB of UTF-8 per frame.
        long_text = "\U0001F600" * 1900

        async def flood(sender: Learner) -> None:
            while not slow_event.is_set() and clock.monotonic() - started < max_seconds:
                await sender.say(long_text)
                await asyncio.sleep(0.125)  # 8 a second: under the 10/s rate limit

        await asyncio.gather(*(flood(s) for s in senders))
        closed_after = clock.monotonic() - started
        # Now read what the stalled learner was sent: at the end of it is the server's close frame.
        await asyncio.wait_for(stalled.read(), WAIT)
        await asyncio.wait_for(asyncio.gather(*(s.acked_all.wait() for s in senders if s.pending)), WAIT)
        last_seq = max((seq for s in senders for seq in s.acks), default=0)
        witness.expect_up_to(last_seq)
        await asyncio.wait_for(witness.reached.wait(), WAIT)
        for learner in (witness, *senders):
            await learner.ws.close()
        await asyncio.wait_for(asyncio.gather(*readers), WAIT)
        result = audit([witness], 1, last_seq, {s.name: s.sent for s in senders})
        return StallReport(
            limit_bytes=limit_bytes,
            close_code=stalled.close_code,
            closed_after_s=round(closed_after, 2),
            server_event=seen[0] if seen else "",
            messages=last_seq,
            witness_lost=result.lost + result.counter_gaps,
            witness_duplicates=result.duplicates,
            witness_p50_ms=round(nearest_rank(result.latencies, 50) * 1000, 2),
            witness_p99_ms=round(nearest_rank(result.latencies, 99) * 1000, 2),
        )
    finally:
        handle.stop()


async def _start_serve() -> tuple[asyncio.subprocess.Process, str]:
    """``wslab serve`` on a free loopback port, in its own process; returns it and its chat URL.

    Killed again if it does not print its URLs within :data:`WAIT` s (or on any error, Ctrl-C included).
    """
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=pythonpath, PYTHONUNBUFFERED="1")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wslab.cli", "serve", "--host", "127.0.0.1", "--port", "0",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    stdout = proc.stdout
    assert stdout is not None

    async def banner() -> str:
        url = ""
        while line := (await stdout.readline()).decode():
            match = re.match(r"\s+Notebook .*?(ws://127\.0\.0\.1:\d+/chat\S*)", line)
            url = match.group(1) if match else url
            if line.startswith("Press Ctrl-C"):
                return url
        raise RuntimeError("wslab serve ended before printing its URLs")

    try:
        return proc, await asyncio.wait_for(banner(), WAIT)
    except BaseException:
        proc.kill()
        raise


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    proc = None
    url = args.url
    if url is None:
        proc, url = await _start_serve()
    elif args.token:
        url += ("&" if "?" in url else "?") + f"token={args.token}"
    try:
        load = await run_load(url, args.learners, args.seconds, args.rate, args.seed)
    finally:
        if proc is not None:
            await _stop_serve(proc)
    report: dict[str, Any] = {"load": load.__dict__ | {"ok": load.ok}}
    if not args.no_stall:
        log(f"slow consumer: one learner stops reading (limit {args.stall_limit} bytes) ...")
        stall = await run_stall(args.stall_limit)
        report["slow_consumer"] = stall.__dict__ | {"ok": stall.ok}
    return report


async def _stop_serve(proc: asyncio.subprocess.Process) -> None:
    """SIGINT (the server closes everyone with 1001 and exits 0); killed if still there after :data:`WAIT` s."""
    if proc.returncode is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(proc.wait(), WAIT)
    except TimeoutError:
        proc.kill()
        await asyncio.wait_for(proc.wait(), WAIT)
        raise


def _summary(report: dict[str, Any]) -> str:
    load = report["load"]
    lines = [
        f"load: {load['learners']} learners, {load['seconds']:g} s, ~{load['rate_per_minute']:g} msg/learner/min",
        f"  messages {load['messages']} (sent {load['sent']}, unacknowledged {load['unacknowledged']})",
        f"  deliveries {load['deliveries']} of {load['expected_deliveries']} expected "
        f"({load['deliveries_per_second']:g}/s), typing updates {load['typing_frames']}",
        f"  lost {load['lost']}, duplicated {load['duplicates']}, out of order {load['out_of_order']}, "
        f"sender counter gaps {load['counter_gaps']}, errors {load['errors']}",
        f"  delivery latency p50 {load['latency_p50_ms']} ms, p99 {load['latency_p99_ms']} ms, "
        f"max {load['latency_max_ms']} ms; ack p99 {load['ack_p99_ms']} ms",
        f"  {'OK' if load['ok'] else 'FAILED'}",
    ]
    stall = report.get("slow_consumer")
    if stall:
        lines += [
            f"slow consumer (limit {stall['limit_bytes']} bytes): closed with {stall['close_code']} "
            f"after {stall['closed_after_s']} s; server: {stall['server_event']!r}",
            f"  witness during the stall: {stall['messages']} messages, lost {stall['witness_lost']}, "
            f"duplicated {stall['witness_duplicates']}, p50 {stall['witness_p50_ms']} ms, "
            f"p99 {stall['witness_p99_ms']} ms",
            f"  {'OK' if stall['ok'] else 'FAILED'}",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run both phases (or phase 1 only, ``--no-stall``) and print the report; 0 if all is well, else 1.

    130 when interrupted (Ctrl-C or SIGTERM), once the server it started has stopped.
    """
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=200, help="simulated learners in the room (default 200)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long they chat (default 60)")
    parser.add_argument("--rate", type=float, default=3.0, help="messages per learner per minute (default 3)")
    parser.add_argument("--seed", type=int, default=6, help="random seed (default 6)")
    parser.add_argument("--url", help="chat URL of a running server (default: start `wslab serve` for the run)")
    parser.add_argument("--token", help="the token of the server at --url")
    parser.add_argument("--stall-limit", type=int, default=256 * 1024, help="slow-consumer limit for phase 2, bytes")
    parser.add_argument("--no-stall", action="store_true", help="skip the slow-consumer phase")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    args = parser.parse_args(argv)
    if not 1 <= args.learners <= 1000:
        parser.error("--learners must be 1 to 1000")
    if not 1 <= args.seconds <= 600:
        parser.error("--seconds must be 1 to 600")
    if not 0 < args.rate <= 60:
        parser.error("--rate must be above 0 and at most 60 (the server allows 10 frames a second)")
    sigterm_as_interrupt()  # so that SIGTERM, like Ctrl-C, stops `wslab serve` on the way out
    try:
        report = asyncio.run(_main(args))
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    print(json.dumps(report) if args.json else _summary(report), flush=True)
    ok = report["load"]["ok"] and report.get("slow_consumer", {"ok": True})["ok"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
