"""``wslab serve --workers N``, ``--redis URL`` and ``--data DIR``, driven as real processes.

The engine is a real Valkey: embedded (started by wslab serve itself) or, for ``--redis``,
one these tests start on loopback. Clients here behave like the course's client session: on
a lost connection they reconnect, re-join with ``since`` and ``epoch``, and resend what was
not acknowledged with the same id.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bench.procs import descendants
from support import WAIT, Peer, ended, until
from support.serving import START_WAIT, Served, run_serve
from wslab.cluster.engine import EmbeddedValkey, EngineUnavailable, find_engine

pytestmark = pytest.mark.slow

try:
    find_engine()
except EngineUnavailable as exc:  # pragma: no cover - a platform without the binary
    pytest.skip(str(exc), allow_module_level=True)


def engine_url(proc: Served) -> str:
    match = re.search(r"redis://127\.0\.0\.1:\d+/0", proc.banner_value("Rooms"))
    assert match, proc.lines
    return match.group(0)


class Client:
    """A chat client that reconnects, re-joins with since and epoch, and resends unacked chats."""

    def __init__(self, url: str, name: str) -> None:
        self.url, self.name = url, name
        self.peer: Peer | None = None
        self.epoch: str | None = None
        self.chats: list[dict[str, Any]] = []
        self.unacked: dict[str, str] = {}
        self.reconnects = 0

    @property
    def last_seq(self) -> int:
        return self.chats[-1]["seq"] if self.chats else 0

    async def connect(self) -> None:
        for _ in range(100):
            try:
                self.peer = await Peer.open(self.url)
                since = {"since": self.last_seq, "epoch": self.epoch} if self.epoch else {}
                welcome = await self.peer.join(self.name, **since)
                break
            except (OSError, ConnectionClosed, InvalidHandshake, AssertionError, TimeoutError):
                await asyncio.sleep(0.1)  # the port may be between workers: try again, bounded
        else:
            raise AssertionError(f"{self.name} could not reconnect")
        self.epoch = welcome["epoch"]
        self.chats += welcome["history"]
        for ident, content in list(self.unacked.items()):
            await self.peer.send({"type": "chat", "content": content, "id": ident})

    async def say(self, content: str, ident: str) -> None:
        self.unacked[ident] = content
        assert self.peer is not None
        try:
            await self.peer.send({"type": "chat", "content": content, "id": ident})
        except ConnectionClosed:
            pass  # resent after the reconnect

    async def run_until(self, count: int) -> None:
        """Receive (reconnecting as needed) until ``count`` chats were seen and nothing is unacked."""
        while len(self.chats) < count or self.unacked:
            assert self.peer is not None
            try:
                message = await self.peer.recv()
            except TimeoutError:
                raise AssertionError(
                    f"{self.name}: nothing for {WAIT} s; seen {[m['seq'] for m in self.chats]}, "
                    f"unacked {self.unacked}, {self.reconnects} reconnects; last frames {self.peer.seen[-3:]}"
                ) from None
            except ConnectionClosed:
                self.reconnects += 1
                await self.connect()
                continue
            if message["type"] == "chat":
                self.chats.append(message)
            elif message["type"] == "ack":
                self.unacked.pop(message["id"], None)

    async def close(self) -> None:
        if self.peer is not None:
            await self.peer.close()


CLIENTS = 16
"""Clients of the two workers. The kernel spreads connections over SO_REUSEPORT sockets by a hash, so
with 8 clients one run in 256 had none on the worker the test kills; with 16, one in 65,536."""


async def test_workers_share_rooms_and_a_worker_killed_with_sigkill_loses_no_message() -> None:
    proc = await Served.start("--workers", "2")
    try:
        workers = proc.banner_value("Workers")
        assert workers.startswith("2 processes on port") and "Valkey" in proc.banner_value("Rooms")
        assert proc.banner_value("Data").startswith("not kept")
        pids = [int(pid) for pid in re.findall(r"\d+", workers.partition("pids")[2])]
        clients = [Client(proc.url(), f"u{i}") for i in range(CLIENTS)]
        for client in clients:
            await client.connect()
        await clients[0].say("before", "u0-0")
        await asyncio.wait_for(asyncio.gather(*(c.run_until(1) for c in clients)), WAIT * 2)
        os.kill(pids[0], signal.SIGKILL)
        for i, client in enumerate(clients):
            await client.say(f"after {i}", f"u{i}-1")
        await asyncio.wait_for(asyncio.gather(*(c.run_until(CLIENTS + 1) for c in clients)), START_WAIT * 2)
        orders = [[m["seq"] for m in c.chats] for c in clients]
        assert all(order == list(range(1, CLIENTS + 2)) for order in orders), orders  # every one, once, one order
        assert {m["content"] for m in clients[0].chats} == {"before", *(f"after {i}" for i in range(CLIENTS))}
        assert sum(c.reconnects for c in clients) >= 1  # some were on the killed worker
        for client in clients:
            await client.close()
        status, out = await proc.stop(signal.SIGTERM)
        assert status == 0 and "wslab serve: stopped" in out
        await until(lambda: all(ended(pid) for pid in pids), START_WAIT, "the workers to end")
    finally:
        await proc.kill()


async def test_no_secret_on_any_command_line_the_engine_refuses_strangers_and_all_die_with_the_parent() -> None:
    proc = await Served.start("--workers", "2", "--host", "0.0.0.0")
    try:
        pids = [int(pid) for pid in re.findall(r"\d+", proc.banner_value("Workers").partition("pids")[2])]
        engine_port = int(engine_url(proc).rsplit(":", 1)[1].split("/")[0])
        found = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True, timeout=WAIT).stdout
        engine_pids = [int(line.split()[0]) for line in found.splitlines() if f"127.0.0.1:{engine_port}" in line]
        assert engine_pids, found

        # What every local user's ps shows: no token, no admin token, no join code, no engine password.
        environ = Path(f"/proc/{pids[0]}/environ").read_bytes().split(b"\0")
        engine = next(v for v in environ if v.startswith(b"WSLAB_REDIS=")).decode().partition("=")[2]
        password = urlsplit(engine).password
        assert password and proc.token and proc.join_code
        secrets = [proc.token, proc.admin_token, proc.join_code, proc.join_code.replace("-", ""), password]
        everyone = [proc.proc.pid, *descendants(proc.proc.pid)]
        assert set(pids + engine_pids) <= set(everyone)
        for pid in everyone:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            assert not [s for s in secrets if s in cmdline], (pid, cmdline)
        assert password not in proc.banner

        # Another local user, without the password: refused by the engine, nothing written.
        reader, writer = await asyncio.open_connection("127.0.0.1", engine_port)
        writer.write(b"PING\r\nSET wslab:{lobby}:seq 999\r\n")
        refused = await asyncio.wait_for(reader.readline(), WAIT)
        assert refused.startswith(b"-NOAUTH"), refused
        writer.close()
        proc.proc.kill()
        await asyncio.wait_for(proc.proc.wait(), WAIT)
        await until(
            lambda: all(ended(pid) for pid in pids + engine_pids), START_WAIT, "the workers and the engine to end"
        )
    finally:
        await proc.kill()


def test_an_unreachable_redis_is_one_line_and_status_1() -> None:
    for extra in ([], ["--workers", "2"]):
        done = run_serve("--port", "0", "--redis", "redis://127.0.0.1:1/0", *extra)
        assert done.returncode == 1
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("wslab serve: cannot reach Redis at redis://127.0.0.1:1/0")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "--workers must be 1 to 64"),
        (["--redis", "http://x"], "is not a Redis URL"),
        (["--redis", "redis://127.0.0.1:1/0", "--data", "d"], "with --redis the data lives in that engine"),
    ],
)
def test_bad_scaling_options_exit_2(args: list[str], message: str) -> None:
    done = run_serve("--port", "0", *args)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


async def test_two_servers_on_one_redis_share_a_room_like_two_machines(valkey: EmbeddedValkey) -> None:
    one = await Served.start("--redis", valkey.url)  # the password in the URL, as --redis gives it
    two = await Served.start(env={"WSLAB_REDIS": valkey.url})  # or kept out of ps, in the environment
    try:
        rooms = one.banner_value("Rooms")
        assert rooms.startswith("Valkey ") and f"at redis://127.0.0.1:{valkey.port}/0" in rooms
        assert two.banner_value("Rooms") == rooms
        assert valkey.password not in one.banner + two.banner  # never printed
        ann, bob = Client(one.url(), "ann"), Client(two.url(), "bob")
        await ann.connect()
        await bob.connect()
        await ann.say("across", "a1")
        await bob.say("and back", "b1")
        await asyncio.wait_for(asyncio.gather(ann.run_until(2), bob.run_until(2)), WAIT * 2)
        assert [m["content"] for m in ann.chats] == [m["content"] for m in bob.chats]
        await ann.close()
        await bob.close()
        for proc in (one, two):
            _, rest = await proc.stop()
            assert valkey.password not in rest
    finally:
        for proc in (one, two):
            await proc.kill()


async def test_a_restart_with_data_keeps_the_history_the_phone_links_and_the_open_dashboard(tmp_path: Path) -> None:
    """The whole process group SIGKILLed and started again on the same port with the same --data."""
    from wslab.classroom.instructor_dashboard import InstructorDashboard

    data = tmp_path / "rooms"

    async def start(port: int = 0) -> Served:
        # Its own process group, to kill it whole; 0.0.0.0, so there are tokens to keep.
        return await Served.start("--host", "0.0.0.0", "--data", str(data), new_session=True, port=port)

    first = await start()
    try:
        assert first.banner_value("Data").startswith(str(data.resolve()))
        assert first.banner_value("Restarts").startswith(f"the tokens and the join code are kept in {data.resolve()}")
        phone_link = first.url(f"?token={first.token}")
        ann = Client(phone_link, "ann")
        await ann.connect()
        for i in range(3):
            await ann.say(f"m{i}", f"a{i}")
        await asyncio.wait_for(ann.run_until(3), WAIT)
        dashboard = await asyncio.to_thread(
            InstructorDashboard, first.admin_url, admin_token=first.admin_token, auto_refresh=None
        )
        assert list(dashboard.rows) == ["ann"]
        await ann.close()
        # "More than a second before": the engine writes its append-only file at once and fsyncs it every
        # second; a process killed (not the machine) loses nothing written. Wait until m2 is in the file.
        logs = data / "appendonlydir"
        await until(
            lambda: any(b"m2" in f.read_bytes() for f in logs.glob("*.aof")), WAIT, "m2 in the append-only file"
        )
        os.killpg(first.proc.pid, signal.SIGKILL)
        await asyncio.wait_for(first.proc.wait(), WAIT)
    finally:
        await first.kill()
    second = await start(port=first.port)
    try:
        # The same secrets: every phone's link and the open dashboard still work.
        assert (second.token, second.admin_token, second.join_code) == (first.token, first.admin_token, first.join_code)
        assert second.url(f"?token={second.token}") == phone_link
        back = Client(phone_link, "ann")
        back.epoch, back.chats = ann.epoch, ann.chats[:1]  # it had seen m0 only, say
        await back.connect()
        assert back.epoch == ann.epoch  # the same run of history
        assert [m["content"] for m in back.chats] == ["m0", "m1", "m2"]  # exactly what it missed, once
        await back.say("m3", "a3")
        await asyncio.wait_for(back.run_until(4), WAIT)
        assert back.chats[-1]["seq"] == 4  # seq continues
        typed = Client(second.url(f"?token={first.join_code}"), "bo")  # the join code a phone typed, too
        await typed.connect()
        assert await asyncio.to_thread(dashboard.refresh) is not None, dashboard.status.value
        assert list(dashboard.rows) == ["ann", "bo"] and "refused" not in dashboard.status.value
        await asyncio.to_thread(dashboard.close)
        await back.close()
        await typed.close()
        status, _ = await second.stop(signal.SIGTERM)
        assert status == 0
    finally:
        await second.kill()
