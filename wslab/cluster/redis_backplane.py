"""The Redis backplane: rooms shared by every node that points at one Redis 7+ or Valkey 8+.

What lives where (``{room}`` is a hash tag, so one room's keys stay on one shard)::

    wslab:{room}:epoch        the room's epoch (SET NX by the first node: it survives restarts)
    wslab:{room}:seq          the last seq (INCR, inside the commit script)
    wslab:{room}:log          a Stream: every chat, id "<seq>-0", trimmed to about LOG_KEEP entries
    wslab:{room}:id:<s>:<id>  a client id already logged, for ID_TTL seconds (dedupe across nodes)
    wslab:{room}:nodes        the set of nodes that have members in the room
    wslab:{room}:node:<node>  one node's members (name -> join time), EXPIRE presence_ttl, refreshed
    wslab:{room}:events       pub/sub: "this node's members or typers changed" (a hint only)

Fan-out is by **stream reads**, not pub/sub: every node follows each room's
log with ``XREAD BLOCK`` from the last id it delivered. When its link drops it
reconnects and reads on from that id, so it delivers what was logged meanwhile,
in order, once. Pub/sub only carries hints (presence changed, who is typing);
presence is re-read from the keys on every refresh, so a lost hint costs at most
one refresh interval, and typing expires on its own.

Contracts:

* a chat is delivered only after it is in the log; the sender's ``ack`` comes
  after that; if the log cannot be reached the sender gets no ack (its
  connection closes with 1013 and its client resends with the same id, which
  the log refuses to take twice);
* every await has a timeout: commands :data:`COMMAND_TIMEOUT`, blocking reads
  ``BLOCK_MS`` plus a margin.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from wslab.core.backoff import Backoff, BackoffPolicy
from wslab.core.hub import Commit, Hub, Share
from wslab.server.backplane import Backplane, BackplaneError, Perform

__all__ = [
    "RedisBackplane",
    "COMMAND_TIMEOUT",
    "BLOCK_MS",
    "LOG_KEEP",
    "ID_TTL",
    "PRESENCE_TTL",
    "PRESENCE_REFRESH",
    "describe",
    "engine_info",
    "LINK_BACKOFF",
]

log = logging.getLogger(__name__)

COMMAND_TIMEOUT = 2.0
"""Seconds one Redis command may take."""

BLOCK_MS = 1000
"""How long one ``XREAD BLOCK`` waits for new entries (ms)."""

LOG_KEEP = 10_000
"""Entries kept in a room's stream (at least): how far behind a node may fall and still catch up."""

ID_TTL = 24 * 3600
"""Seconds a client message id is remembered for dedupe across nodes."""

PRESENCE_TTL = 5.0
"""Seconds a node's presence key lives without a refresh: a crashed node's members vanish within
``PRESENCE_TTL + PRESENCE_REFRESH``."""

PRESENCE_REFRESH = 1.0
"""Seconds between a node's refreshes of its presence keys (and reads of the others')."""

_COMMIT = """
if ARGV[3] == '1' then
  local seen = redis.call('GET', KEYS[3])
  if seen then return {tonumber(seen), 1} end
end
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], seq .. '-0', 'chat', ARGV[1])
if ARGV[3] == '1' then redis.call('SET', KEYS[3], seq, 'EX', ARGV[4]) end
return {seq, 0}
"""

_RETRY = (RedisError, OSError, TimeoutError, asyncio.TimeoutError)


def _key(room: str, part: str) -> str:
    return f"wslab:{{{room}}}:{part}"


def _decode(fields: dict[Any, Any], seq: int) -> dict[str, Any]:
    raw = fields.get(b"chat", fields.get("chat"))
    body: dict[str, Any] = json.loads(raw or b"")
    return {"type": body.pop("type"), "room": body.pop("room"), "seq": seq, **body}


def describe(url: str) -> str:
    """``url`` without its user name and password, for banners, logs and errors (every one of them)."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    return f"{parts.scheme}://{host}:{parts.port or 6379}{parts.path or ''}"


def engine_info(url: str) -> str:
    """The engine's name, version and (password-free) address, asked synchronously within
    :data:`COMMAND_TIMEOUT`; raises :class:`ConnectionError` with one line when it cannot be reached."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=COMMAND_TIMEOUT, socket_connect_timeout=COMMAND_TIMEOUT)
    try:
        info = client.info("server")
    except (redis.RedisError, OSError) as exc:
        raise ConnectionError(f"cannot reach Redis at {describe(url)}: {exc}") from None
    finally:
        client.close()
    if "valkey_version" in info:
        return f"Valkey {info['valkey_version']} at {describe(url)}"
    return f"Redis {info.get('redis_version', '?')} at {describe(url)}"


LINK_BACKOFF = BackoffPolicy(initial=0.05, factor=2.0, cap=1.0, jitter="equal", stay_up=0.0)
"""How long a lost link's read loops wait between tries: the course's own backoff, doubling from
50 ms to 1 s, with equal jitter (half fixed, half random), so the nodes of a room that all lost
their engine at once do not retry in step, and no loop ever retries at once in a tight spin."""


class RedisBackplane(Backplane):
    """Rooms in Redis or Valkey at ``url`` (``redis://host:port/db``, ``rediss://`` for TLS).

    Args:
        url: the engine.
        node: this node's id (random when None); it names its presence keys.
        presence_ttl, presence_refresh: see :data:`PRESENCE_TTL`, :data:`PRESENCE_REFRESH`.
        where: how ``wslab serve`` describes where the data lives.
    """

    shared = True

    def __init__(
        self,
        url: str,
        *,
        node: str | None = None,
        presence_ttl: float = PRESENCE_TTL,
        presence_refresh: float = PRESENCE_REFRESH,
        where: str | None = None,
    ) -> None:
        if presence_refresh <= 0 or presence_ttl <= presence_refresh:
            raise ValueError("presence_ttl must be greater than presence_refresh, and both > 0")
        if urlsplit(url).scheme not in ("redis", "rediss", "unix", "valkey", "valkeys"):
            raise ValueError(f"not a Redis URL: {url!r}; write redis://host:port/0")
        self.url = url.replace("valkey", "redis", 1) if url.startswith("valkey") else url
        """The engine's URL, password included: never print it (:func:`describe` does it safely)."""
        self.node = node or secrets.token_hex(4)
        self.presence_ttl = presence_ttl
        self.presence_refresh = presence_refresh
        self.engine = f"Redis protocol at {describe(self.url)}"
        self.where = where or f"in the engine at {describe(self.url)}"
        self._hub: Hub | None = None
        self._perform: Perform | None = None
        self._redis: aioredis.Redis | None = None
        self._reader: aioredis.Redis | None = None
        self._commit_script: Any = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._loading: dict[str, asyncio.Future[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._members: dict[str, dict[str, int]] = {}  # room -> local name -> join time (ms)
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self.link_up = asyncio.Event()
        """Set while the follow loops can read; cleared when a read failed (for tests and dashboards)."""
        self.reconnects = 0
        """How many times a follow loop lost its link and came back."""

    # ------------------------------------------------------------ lifecycle

    async def start(self, hub: Hub, perform: Perform) -> None:
        self._hub, self._perform = hub, perform
        # socket_timeout=None (redis-py's default is 5 s): every await below has its own asyncio.timeout,
        # and with a socket timeout redis-py wraps each command's send in asyncio.wait_for (a task per
        # command on 3.11) and its read in a timer of its own.
        common: dict[str, Any] = {
            "socket_timeout": None, "socket_connect_timeout": COMMAND_TIMEOUT, "client_name": f"wslab-{self.node}"
        }
        self._redis = aioredis.Redis.from_url(self.url, **common)
        self._reader = aioredis.Redis.from_url(self.url, **common)
        try:
            await asyncio.wait_for(self._redis.ping(), COMMAND_TIMEOUT + 1)
            info = await asyncio.wait_for(self._redis.info("server"), COMMAND_TIMEOUT + 1)
        except _RETRY as exc:
            await self._close_clients()
            raise BackplaneError(f"cannot reach Redis at {describe(self.url)}: {exc}") from None
        version = str(info.get("valkey_version") or info.get("redis_version") or "?")
        name = "Valkey" if "valkey_version" in info else "Redis"
        major = int(version.split(".")[0]) if version.split(".")[0].isdigit() else 0
        if (name == "Redis" and major < 7) or (name == "Valkey" and major < 7):
            await self._close_clients()
            raise BackplaneError(
                f"{name} {version} at {describe(self.url)} is too old: wslab needs Redis 7+ or Valkey 8+"
            )
        self.engine = f"{name} {version} at {describe(self.url)}"
        self._commit_script = self._redis.register_script(_COMMIT)
        self.link_up.set()
        self._spawn(self._presence_loop(), "presence")
        self._spawn(self._events_loop(), "events")

    async def stop(self) -> None:
        self._stopping = True
        tasks = [*self._tasks.values(), *self._background]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=COMMAND_TIMEOUT)
        if self._redis is not None:
            with contextlib.suppress(*_RETRY):
                async with asyncio.timeout(COMMAND_TIMEOUT):
                    for room in list(self._members):
                        await self._redis.delete(_key(room, f"node:{self.node}"))
                        await self._redis.srem(_key(room, "nodes"), self.node)
                        await self._redis.publish(
                            _key(room, "events"), json.dumps({"node": self.node, "kind": "members", "room": room})
                        )
        await self._close_clients()

    async def _close_clients(self) -> None:
        for client in (self._redis, self._reader):
            if client is not None:
                with contextlib.suppress(*_RETRY):
                    await asyncio.wait_for(client.aclose(), COMMAND_TIMEOUT)

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro, name=f"wslab backplane {name}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def _apply(self, actions: Iterable[Any]) -> None:
        assert self._perform is not None
        self._perform(actions)

    # ------------------------------------------------------------ rooms and the log

    async def load(self, room: str) -> None:
        if room in self._tasks:  # loaded and followed: the hub is up to date, or will be by the log
            return
        loading = self._loading.get(room)
        if loading is None:  # one load per room, however many joins wait for it
            loading = self._loading[room] = asyncio.ensure_future(self._load(room))
            loading.add_done_callback(lambda _: self._loading.pop(room, None))
        await asyncio.shield(loading)

    async def _load(self, room: str) -> None:
        hub, r = self._hub, self._redis
        assert hub is not None and r is not None
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT * 2):
                await r.set(_key(room, "epoch"), hub.epoch, nx=True)
                async with r.pipeline(transaction=True) as pipe:
                    pipe.get(_key(room, "epoch"))
                    pipe.get(_key(room, "seq"))
                    pipe.xrevrange(_key(room, "log"), count=max(hub.history_size, 1))
                    replies: list[Any] = await pipe.execute()
                    epoch, seq, entries = replies
                remote = await self._remote_names(room)
        except _RETRY as exc:
            raise BackplaneError(f"cannot load room {room!r} from {describe(self.url)}: {exc}") from None
        last = int(seq or 0)
        history = [_decode(fields, int(eid.split(b"-")[0])) for eid, fields in reversed(entries)]
        if hub.history_size == 0:
            history = []
        self._apply(hub.restore_room(room, epoch.decode(), last, history, remote))
        if room not in self._tasks:
            self._tasks[room] = asyncio.get_running_loop().create_task(
                self._follow(room, last), name=f"wslab backplane follow {room}"
            )

    async def commit(self, commit: Commit) -> tuple[int, bool]:
        assert self._hub is not None and self._commit_script is not None
        chat = commit.chat
        ident = chat.get("id")
        id_key = _key(commit.room, f"id:{chat['sender']}:{ident}") if ident is not None else _key(commit.room, "id:")
        keep = max(LOG_KEEP, self._hub.history_size)
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT):
                seq, duplicate = await self._commit_script(
                    keys=[_key(commit.room, "seq"), _key(commit.room, "log"), id_key],
                    args=[commit.text, keep, "1" if ident is not None else "0", ID_TTL],
                )
        except _RETRY as exc:
            raise BackplaneError(f"cannot log the message: {exc}") from None
        return int(seq), bool(duplicate)

    async def _follow(self, room: str, last: int) -> None:
        """Deliver the room's log from after ``last``, in order; after a lost link, read on from there."""
        assert self._reader is not None and self._hub is not None
        cursor = f"{last}-0"
        backoff = Backoff(LINK_BACKOFF)
        while not self._stopping:
            try:
                async with asyncio.timeout(BLOCK_MS / 1000 + COMMAND_TIMEOUT):
                    reply: Any = await self._reader.xread({_key(room, "log"): cursor}, block=BLOCK_MS, count=500)
            except asyncio.CancelledError:
                raise
            except _RETRY as exc:
                if self.link_up.is_set():
                    log.warning(
                        "lost the link to %s (%s); reading on from %s when it is back", describe(self.url), exc, cursor
                    )
                self.link_up.clear()
                await asyncio.sleep(backoff.next_delay())
                continue
            if not self.link_up.is_set():
                self.reconnects += 1
                self.link_up.set()
                self._dirty.update(self._members)  # rewrite our presence at once
                self._wake.set()
            backoff.reset()
            for _stream, entries in reply or []:
                for eid, fields in entries:
                    cursor = eid.decode() if isinstance(eid, bytes) else str(eid)
                    try:
                        chat = _decode(fields, int(cursor.split("-")[0]))
                    except (ValueError, KeyError, TypeError):
                        log.error("room %s: log entry %s is not a wslab chat; skipped", room, cursor)
                        continue
                    try:
                        self._apply(self._hub.apply(chat))
                    except Exception:  # one bad entry must not stop the room
                        log.exception("room %s: could not deliver log entry %s", room, cursor)

    # ------------------------------------------------------------ presence and typing

    def share(self, share: Share) -> None:
        if share.kind == "members":
            now = int(time.time() * 1000)
            before = self._members.get(share.room, {})
            self._members[share.room] = {name: before.get(name, now) for name in share.names}
            self._dirty.add(share.room)
            self._wake.set()
        elif share.kind == "typing" and self._redis is not None:
            message = json.dumps({"node": self.node, "kind": "typing", "room": share.room, "names": list(share.names)})
            self._spawn(self._publish(share.room, message), "typing")

    async def _publish(self, room: str, message: str) -> None:
        assert self._redis is not None
        with contextlib.suppress(*_RETRY):
            async with asyncio.timeout(COMMAND_TIMEOUT):
                await self._redis.publish(_key(room, "events"), message)

    async def _presence_loop(self) -> None:
        """Write this node's members (at once when they change, and every refresh); read the others'."""
        assert self._redis is not None and self._hub is not None
        last_full = 0.0
        while not self._stopping:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can turn a cancel that meets its
            # timeout into TimeoutError, and this loop would then outlive stop() (a hang seen in CI).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.presence_refresh):
                    await self._wake.wait()
            self._wake.clear()
            now = time.monotonic()
            full = now - last_full >= self.presence_refresh
            rooms = set(self._members) if full else set(self._dirty)
            changed, self._dirty = set(self._dirty), set()
            if full:
                last_full = now
            try:
                async with asyncio.timeout(COMMAND_TIMEOUT * 2):
                    for room in rooms:
                        await self._write_presence(room, announce=room in changed)
                    if full:
                        for room in self._hub.rooms():
                            if room in self._tasks:
                                self._apply(self._hub.remote_members(room, await self._remote_names(room)))
            except _RETRY as exc:
                log.warning("presence refresh failed (%s); trying again", exc)
                self._dirty |= changed
            except Exception:  # bad data in the engine: log it, keep refreshing
                log.exception("presence refresh failed")

    async def _write_presence(self, room: str, *, announce: bool) -> None:
        assert self._redis is not None
        names = self._members.get(room, {})
        key = _key(room, f"node:{self.node}")
        if names and not announce and await self._redis.pexpire(key, int(self.presence_ttl * 1000)):
            return  # unchanged and still there: the refresh is one PEXPIRE
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if names:
                pipe.hset(key, mapping={name: str(at) for name, at in names.items()})
                pipe.pexpire(key, int(self.presence_ttl * 1000))
                pipe.sadd(_key(room, "nodes"), self.node)
            else:
                pipe.srem(_key(room, "nodes"), self.node)
            if announce:
                pipe.publish(_key(room, "events"), json.dumps({"node": self.node, "kind": "members", "room": room}))
            await pipe.execute()
        if not names:
            self._members.pop(room, None)

    async def _remote_names(self, room: str) -> list[str]:
        """The members of ``room`` on the other nodes, in join order."""
        assert self._redis is not None
        listed: Any = await self._redis.smembers(_key(room, "nodes"))
        nodes = [n.decode() for n in listed if n.decode() != self.node]
        found: list[tuple[int, str]] = []
        for node in nodes:
            members: Any = await self._redis.hgetall(_key(room, f"node:{node}"))
            if not members:  # its key expired: that node is gone
                await self._redis.srem(_key(room, "nodes"), node)
                continue
            found += [(int(at), name.decode()) for name, at in members.items()]
        return [name for _, name in sorted(found)]

    async def _events_loop(self) -> None:
        """Follow the hints of other nodes; resubscribe after a lost link."""
        assert self._redis is not None and self._hub is not None
        backoff = Backoff(LINK_BACKOFF)
        while not self._stopping:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                async with asyncio.timeout(COMMAND_TIMEOUT):
                    await pubsub.psubscribe("wslab:{*}:events")
                backoff.reset()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        await self._on_event(message.get("data"))
            except asyncio.CancelledError:
                raise
            except _RETRY:
                await asyncio.sleep(backoff.next_delay())
            finally:
                with contextlib.suppress(*_RETRY, TimeoutError):
                    async with asyncio.timeout(COMMAND_TIMEOUT):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _on_event(self, data: Any) -> None:
        assert self._hub is not None
        try:
            event = json.loads(data)
            node, kind, room = event["node"], event["kind"], event.get("room")
        except (ValueError, TypeError, KeyError):
            return
        if node == self.node or room not in self._tasks:
            return
        if kind == "typing":
            self._apply(self._hub.remote_typing(room, node, [str(n) for n in event.get("names", [])]))
        elif kind == "members":
            async with asyncio.timeout(COMMAND_TIMEOUT * 2):
                self._apply(self._hub.remote_members(room, await self._remote_names(room)))
