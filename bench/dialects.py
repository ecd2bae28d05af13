"""How the load client speaks to each server kind, and what a hub member keeps of its room.

The same client speaks four dialects, one per server kind, for the same chat:

* ``hub``: wslab's ``/chat`` protocol (join, then ``chat`` frames with ids);
  echo on wslab's ``/echo``;
* ``raw``: websockets' ``broadcast`` of the frame as received, so the client
  sends the very bytes the hub would deliver; rooms by path;
* ``sio``: Engine.IO 4 / Socket.IO 5 over a WebSocket (``42["chat",{...}]``);
* ``node``: ``ws`` relaying a hub-shaped chat frame; rooms by path.

:class:`Dialect` opens, joins and frames; :class:`Member` is one hub client's
view of its room (who is online, the last sequence number, the room's epoch),
kept up to date by every frame it receives; :class:`Progress` counts members
that came back after a reconnect storm.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from bench.frames import stamp, stamped_chat
from bench.wsclient import WSConn, open_ws

__all__ = ["HOST", "JOIN_TRIES", "Dialect", "Member", "Progress"]

HOST = "127.0.0.1"

JOIN_TRIES = 50
"""Joins a reconnecting member retries when the hub still holds its old connection (``name-taken``)."""

_SEQ = re.compile(rb'"seq":(\d+)')


class Member:
    """One ``/chat`` client's view of its room, kept up to date by every frame it receives.

    * who is online: the ``welcome``'s list, then each ``presence``: with presence v1
      (``online``: the whole list in every frame) only the latest frame counts, so it is
      kept as bytes and parsed when asked (:meth:`count`); with v2 (``joined``/``left``
      lists, coalesced per room and tick) each delta is applied as it comes, ``left``
      before ``joined``;
    * ``seq``: the highest chat sequence number seen in order (welcome history, live
      chats); ``gaps`` and ``dups`` count chats that arrived out of that order;
    * ``epoch``: the room's epoch from the ``welcome`` (presence v2), sent back with
      ``since`` when re-joining;
    * ``generation``: how many ``welcome`` frames it has had (1 after the first join).
    """

    __slots__ = ("name", "online", "full", "seq", "epoch", "gaps", "dups", "generation", "reply",
                 "target", "progress", "caught", "presence_frames")

    def __init__(self, name: str) -> None:
        self.name = name
        self.online: set[str] = set()
        self.full: bytes | None = None
        self.seq = 0
        self.epoch: str | None = None
        self.gaps = 0
        self.dups = 0
        self.generation = 0
        self.reply: asyncio.Future[dict[str, Any]] | None = None
        self.target: int | None = None
        self.progress: Progress | None = None
        self.caught = False
        self.presence_frames = 0

    def __call__(self, conn: WSConn, payload: bytes) -> None:
        head = payload[:24]
        if b'"chat"' in head:
            m = _SEQ.search(payload)
            if m:
                self._chat(int(m.group(1)))
        elif b'"presence"' in head:
            self.presence_frames += 1
            if b'"online":' in payload:
                self.full = payload
            else:
                msg = json.loads(payload)
                self._delta(msg.get("left"), False)
                self._delta(msg.get("joined"), True)
        elif b'"welcome"' in head:
            msg = json.loads(payload)
            self.online = set(msg["online"])
            self.full = None
            self.epoch = msg.get("epoch", self.epoch)
            for chat in msg.get("history", ()):
                self._chat(chat["seq"])
            if msg.get("history_complete", True):
                self.seq = max(self.seq, msg["seq"])
            self.generation += 1
            self._answer(msg)
        elif b'"error"' in head:
            self._answer(json.loads(payload))

    def _answer(self, msg: dict[str, Any]) -> None:
        if self.reply is not None and not self.reply.done():
            self.reply.set_result(msg)
        self._check()

    def _chat(self, seq: int) -> None:
        if seq <= self.seq:
            self.dups += 1
            return
        if seq != self.seq + 1:
            self.gaps += 1
        self.seq = seq
        self._check()

    def _check(self) -> None:
        if (not self.caught and self.target is not None and self.generation >= 2
                and self.seq >= self.target and self.progress is not None):
            self.caught = True
            self.progress.one_caught_up()

    def _delta(self, names: str | Iterable[str] | None, joined: bool) -> None:
        if names is None:
            return
        if isinstance(names, str):
            names = [names]
        if joined:
            self.online.update(names)
        else:
            self.online.difference_update(names)

    def count(self) -> int:
        """How many members this client believes are online now."""
        if self.full is not None:
            self.online = set(json.loads(self.full)["online"])
            self.full = None
        return len(self.online)

    def join_frame(self, room: str) -> str:
        """The ``join`` to send: with ``since`` and ``epoch`` once this member was welcomed before."""
        join: dict[str, Any] = {"type": "join", "name": self.name, "room": room}
        if self.generation:
            join["since"] = self.seq
            if self.epoch is not None:
                join["epoch"] = self.epoch
        return json.dumps(join)


class Progress:
    """Counts members that re-joined and caught up; resolves ``done`` when all ``n`` have."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.caught = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.at = 0.0
        """When the last one caught up (:func:`time.monotonic`)."""

    def one_caught_up(self) -> None:
        """Count one more member that is back and has seen every chat."""
        self.caught += 1
        if self.caught >= self.n and not self.done.done():
            self.at = time.monotonic()
            self.done.set_result(None)


class Dialect:
    """How one server kind joins a room, sends a chat message and echoes."""

    echo_path = "/echo"

    def __init__(self, kind: str, port: int, deflate: bool) -> None:
        self.kind, self.port, self.deflate = kind, port, deflate
        self.seq = 0
        self.join_retries = 0

    async def join(self, room: str, name: str, member: Member | None = None) -> WSConn:
        """Open a connection and join ``room`` (for the hub: as ``member``, re-joining with ``since``)."""
        if self.kind == "hub":
            return await self.hub_join(room, member or Member(name))
        if self.kind == "sio":
            conn = await self.sio_open()
            await self._until(
                conn,
                lambda p: p.startswith(b"431"),
                lambda: conn.send_text('421["join",' + json.dumps({"room": room, "name": name}) + "]"),
            )
            return conn
        return await open_ws(HOST, self.port, f"/room/{room}?name={name}", deflate=self.deflate)

    async def hub_join(self, room: str, member: Member) -> WSConn:
        """Join ``/chat`` as ``member``, whose handler then stays on the connection (``conn.state``).

        ``name-taken`` (the hub has not yet seen the member's old connection go) is retried
        every 20 ms, at most :data:`JOIN_TRIES` times; the retries are counted in ``join_retries``.
        """
        return await self.hub_join_on(await open_ws(HOST, self.port, "/chat", deflate=self.deflate), room, member)

    async def hub_join_on(self, conn: WSConn, room: str, member: Member) -> WSConn:
        """:meth:`hub_join` on a connection already open."""
        conn.state = member
        conn.set_handler(member)
        loop = asyncio.get_running_loop()
        for _ in range(JOIN_TRIES):
            member.reply = loop.create_future()
            conn.send_text(member.join_frame(room))
            msg = await asyncio.wait_for(member.reply, 15)
            if msg.get("type") == "welcome":
                return conn
            if msg.get("code") != "name-taken":
                raise RuntimeError(f"join refused: {msg}")
            self.join_retries += 1
            await asyncio.sleep(0.02)
        raise RuntimeError(f"{member.name}: still name-taken after {JOIN_TRIES} tries")

    async def sio_open(self) -> WSConn:
        """Open an Engine.IO 4 WebSocket and connect the Socket.IO namespace (``40``)."""
        conn = await open_ws(HOST, self.port, "/socket.io/?EIO=4&transport=websocket", deflate=self.deflate)
        await self._until(conn, lambda p: p.startswith(b"0{"), None)
        await self._until(conn, lambda p: p.startswith(b"40"), lambda: conn.send_text("40"))
        return conn

    async def _until(
        self, conn: WSConn, pred: Callable[[bytes], bool], action: Callable[[], None] | None, timeout: float = 15.0
    ) -> None:
        """Do ``action``, then wait (at most ``timeout`` s) for a frame that ``pred`` accepts."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_text(c: WSConn, payload: bytes) -> None:
            if not self.pong(c, payload) and pred(payload) and not fut.done():
                fut.set_result(None)

        conn.set_handler(on_text)
        if action is not None:
            action()
        await asyncio.wait_for(fut, timeout)

    def pong(self, conn: WSConn, payload: bytes) -> bool:
        """Answer an Engine.IO ping (``2``) with its pong (``3``); True if ``payload`` was one."""
        if payload == b"2" and self.kind == "sio":
            conn.send_text("3")
            return True
        return False

    def chat_frame(self, room: str, sender: str) -> str:
        """The next chat message from ``sender`` to ``room``, its content stamped with the send time."""
        self.seq += 1
        content = stamp()
        mid = f"m{self.seq}"
        if self.kind == "raw":
            # The bytes the hub would deliver, built by the client; the server only relays them.
            return stamped_chat(room, self.seq, sender, content, mid)
        if self.kind == "sio":
            return '42["chat",' + json.dumps({"content": content, "id": mid}, separators=(",", ":")) + "]"
        return json.dumps({"type": "chat", "content": content, "id": mid}, separators=(",", ":"))

    async def echo_conn(self) -> WSConn:
        """Open a connection that echoes what it is sent."""
        if self.kind == "sio":
            return await self.sio_open()
        return await open_ws(HOST, self.port, self.echo_path, deflate=self.deflate)

    def echo_frame(self, body: str) -> str:
        """``body`` framed for an echo."""
        return '42["echo",' + json.dumps(body) + "]" if self.kind == "sio" else body
