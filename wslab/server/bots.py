"""Scripted chat participants that live inside the server, so a lesson has company.

A :class:`ChatBot` joins a room through :meth:`ChatServer.attach_local
<wslab.server.ChatServer.attach_local>`: the hub sees one more connection,
with no socket and no second machine. When someone else says something the
bot thinks for a moment, shows "Ada is typing…" for a moment, then answers::

    server = wslab.start_server()
    ada = wslab.add_bot(server, "Ada")            # answers everyone in "lobby"
    echo = wslab.add_bot(server, "Echo Bot", reply=wslab.server.bots.echo_reply)

Everything a bot does runs on the server's event loop (``deliver`` is called
there, and its timers use that loop's ``call_later``); every delay is bounded
by :data:`MAX_DELAY`. Bots never answer other bots, so two bots cannot talk
forever, and at most :data:`MAX_PENDING` answers wait at once, so a flood of
messages gets a few answers, not a flood back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

from wslab.core import protocol as p
from wslab.server.chat_server import ChatServer, LocalPeer

__all__ = [
    "ChatBot", "HostedServer", "Reply", "add_bot", "remove_bot", "ada_reply", "echo_reply", "MAX_DELAY", "MAX_PENDING",
]

T = TypeVar("T")

log = logging.getLogger(__name__)

MAX_DELAY = 5.0
"""Longest a bot waits before typing, and types before answering, in seconds."""

MAX_PENDING = 5
"""Answers a bot keeps waiting at once; messages past that get none."""

Reply = Callable[[str, str], "str | None"]


class HostedServer(Protocol):
    """A server running on another thread's loop, as :func:`add_bot` needs it: what
    :func:`wslab.start_server` returns (a :class:`~wslab.kernel.course_server.ServerHandle`)."""

    server: ChatServer

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = ...) -> T: ...

_bots_by_server: weakref.WeakKeyDictionary[ChatServer, dict[str, ChatBot]] = weakref.WeakKeyDictionary()


def echo_reply(sender: str, content: str) -> str:
    """The Echo Bot: says back what it heard."""
    return f"Echo: {content}"


def ada_reply(sender: str, content: str) -> str:
    """Ada: greets greetings, answers questions, and repeats the rest back."""
    words = content.lower().replace("!", " ").replace(",", " ").split()
    if {"hi", "hello", "hey"} & set(words):
        return f"Hello {sender}! I'm Ada, a bot living inside the server."
    if content.rstrip().endswith("?"):
        return f"Good question, {sender}. Try it in the next cell and see!"
    return f"{sender}, you said: {content}"


class ChatBot:
    """A scripted participant in one room.

    Args:
        name: its display name (a valid chat name).
        room: the room it joins.
        reply: ``reply(sender, content) -> text or None``; None means stay quiet.
        think: seconds between hearing a message and starting to type.
        typing_for: seconds it shows as typing before the answer arrives.
        greet: also welcome each person who joins.

    Attributes: :attr:`joined` (True after the server's ``welcome``),
    :attr:`heard` (``(sender, content)`` it was sent), :attr:`answered`
    (the texts it sent), :attr:`errors` (``error`` frames it got).
    """

    def __init__(
        self,
        name: str = "Ada",
        room: str = p.DEFAULT_ROOM,
        *,
        reply: Reply = ada_reply,
        think: float = 0.3,
        typing_for: float = 1.2,
        greet: bool = False,
    ) -> None:
        self.name = p.validate_name(name)
        self.room = p.validate_room(room)
        self.reply = reply
        self.think = min(max(0.0, think), MAX_DELAY)
        self.typing_for = min(max(0.0, typing_for), MAX_DELAY)
        self.greet = greet
        self.joined = False
        self.heard: list[tuple[str, str]] = []
        self.answered: list[str] = []
        self.errors: list[tuple[str, str]] = []
        self._peer: LocalPeer | None = None
        self._server: ChatServer | None = None
        self._pending: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------ on the server's loop

    def attach(self, server: ChatServer) -> None:
        """Join ``server`` (call on the server's loop). Raises if the name is taken."""
        if self._peer is not None:
            raise RuntimeError(f"{self.name} is already attached")
        self._server = server
        self._peer = server.attach_local(self._deliver, label=f"bot {self.name}")
        _bots_by_server.setdefault(server, {})[self.name] = self
        self._send({"type": "join", "name": self.name, "room": self.room})
        if not self.joined:
            name_errors = [m for c, m in self.errors if c in (p.ErrorCode.NAME_TAKEN, p.ErrorCode.NAME_INVALID)]
            self.detach()
            raise ValueError(name_errors[-1] if name_errors else f"{self.name} could not join {self.room!r}")

    def detach(self) -> None:
        """Leave the room (call on the server's loop). Safe to call twice."""
        for task in list(self._pending):
            task.cancel()
        self._pending.clear()
        peer, self._peer = self._peer, None
        if peer is not None:
            peer.close()
        if self._server is not None:
            hosted = _bots_by_server.get(self._server, {})
            if hosted.get(self.name) is self:
                del hosted[self.name]
        self.joined = False

    def _send(self, message: dict[str, Any]) -> None:
        if self._peer is not None:
            self._peer.send(p.encode(message))

    def _deliver(self, frame: str) -> None:
        message = json.loads(frame)
        kind = message.get("type")
        if kind == "welcome":
            self.joined = True
        elif kind == "error":
            self.errors.append((str(message.get("code")), str(message.get("message"))))
        elif kind == "chat":
            sender, content = message.get("sender"), message.get("content")
            if sender == self.name or not isinstance(sender, str) or not isinstance(content, str):
                return
            if self._server is not None and sender in _bots_by_server.get(self._server, {}):
                return  # bots do not answer bots
            self.heard.append((sender, content))
            self._schedule(sender, content)
        elif kind == "presence" and self.greet and isinstance(message.get("joined"), list):
            back = set(message.get("left") or [])  # left and came back within one tick: a reconnect, not news
            bots = _bots_by_server.get(self._server, {}) if self._server is not None else {}
            skip = back | set(bots) | {self.name}
            for newcomer in message["joined"]:
                if isinstance(newcomer, str) and newcomer not in skip:
                    self._schedule_text(f"Welcome to #{self.room}, {newcomer}!")

    def _schedule(self, sender: str, content: str) -> None:
        try:
            text = self.reply(sender, content)
        except Exception:
            log.exception("bot %s failed to answer", self.name)
            return
        if text:
            self._schedule_text(text)

    def _schedule_text(self, text: str) -> None:
        if len(self._pending) >= MAX_PENDING:
            return
        task = asyncio.get_running_loop().create_task(self._answer(text[: p.MAX_CONTENT_CHARS]))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _answer(self, text: str) -> None:
        await asyncio.sleep(self.think)
        self._send({"type": "typing", "typing": True})
        await asyncio.sleep(self.typing_for)
        self.answered.append(text)
        self._send({"type": "chat", "content": text})

    def __repr__(self) -> str:
        state = "in" if self.joined else "not in"
        return f"ChatBot({self.name!r}, {state} #{self.room})"


def add_bot(
    server: HostedServer | ChatServer, name: str = "Ada", room: str = p.DEFAULT_ROOM, **options: Any
) -> ChatBot:
    """Create a :class:`ChatBot` and have ``server`` host it; returns once it has joined.

    A bot of the same name that an earlier call put in the same room leaves first,
    so running a notebook cell again works.

    ``server`` is what :func:`wslab.start_server` returned (the bot is attached
    on the server's thread, waiting at most a few seconds) or a
    :class:`ChatServer` when called on its own loop. ``options`` go to
    :class:`ChatBot`.
    """
    bot = ChatBot(name, room, **options)
    chat_server = server if isinstance(server, ChatServer) else server.server

    def attach() -> None:
        # Running the cell that added a bot again replaces the bot instead of failing with "name taken".
        earlier = _bots_by_server.get(chat_server, {}).get(bot.name)
        if earlier is not None and earlier.room == bot.room:
            earlier.detach()
        bot.attach(chat_server)

    if isinstance(server, ChatServer):
        attach()
    else:

        async def run() -> None:
            attach()

        server.call(run(), timeout=5.0)
    return bot


def remove_bot(server: HostedServer, bot: ChatBot) -> None:
    """Have ``bot`` leave ``server`` (from any thread)."""

    async def detach() -> None:
        bot.detach()

    server.call(detach(), timeout=5.0)
