"""Checks for the capstone, ``04-chat``: the seed's chat UI with "is typing" indicators.

The learner writes ``render_message``, ``typing_line``, ``TypingSender``,
``ChatView``, ``join_room`` and ``ChatClient`` (the seed's ``WebSocketClient``
composed from their own ``Outbox``, ``Backoff`` and ``Emitter``); the first four
are sans-I/O and checked with a :class:`~wslab.core.clock.FakeClock`, so those checks
are exact and fast. ``ChatClient`` runs against a fresh server of the checks' own
that goes down (``outage``) while the client is in the room.

Longer than 500 lines because the capstone has six graded parts and 25 checks,
each small; they share this exercise's fixtures (the recorder, the outage), and
the registry finds them here by exercise.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
from typing import Any

from wslab.core.clock import FakeClock
from wslab.grading.registry import exercise
from wslab.grading.runner import Context

ex = exercise("chat", title="The chat view with typing indicators (capstone)", notebook="04-chat", hidden=(8, 10))

MSG = {
    "type": "chat",
    "room": "lobby",
    "seq": 1,
    "sender": "Ada",
    "content": "Hello, Bob!",
    "timestamp": "2026-11-27T09:52:04.123Z",
}
ON = {"type": "typing", "typing": True}
OFF = {"type": "typing", "typing": False}
ELLIPSIS = "…"


def _html(ctx: Context, msg: dict[str, Any]) -> str:
    out = ctx.get("render_message")(dict(msg))
    assert isinstance(out, str), f"render_message should return a str of HTML, got {type(out).__name__}"
    return out


# ----------------------------------------------------------------- render_message


@ex.check(points=1, title="render_message shows sender and content",
          hint="Put both msg['sender'] and msg['content'] into the HTML you return.")
def render_shows_sender_and_content(ctx: Context) -> None:
    html = _html(ctx, MSG)
    assert "Ada" in html, f"expected the sender 'Ada' in the HTML, got {html[:300]!r}"
    assert "Hello, Bob!" in html, f"expected the content 'Hello, Bob!' in the HTML, got {html[:300]!r}"


@ex.check(points=2, title="render_message shows the time",
          hint="The server sends an ISO-8601 UTC timestamp; show its hours and minutes (HH:MM).")
def render_shows_time(ctx: Context) -> None:
    html = _html(ctx, MSG)
    assert "09:52" in html, f"expected 09:52 for a message stamped 2026-11-27T09:52:04.123Z, got {html[:300]!r}"
    other = _html(ctx, {**MSG, "timestamp": "2026-11-28T18:05:59.000Z"})
    assert "18:05" in other, f"expected 18:05 for a message stamped 2026-11-28T18:05:59.000Z, got {other[:300]!r}"


@ex.check(points=2, title="render_message escapes HTML in sender and content",
          hint="Anything a person typed is text, not markup: escape it (the html module can help).")
def render_escapes_html(ctx: Context) -> None:
    html = _html(ctx, {**MSG, "sender": "<b>Eve</b>", "content": '<script>alert("hi")</script> & co'})
    assert "<script" not in html.lower(), f"expected <script> escaped as text, got it as markup: {html[:300]!r}"
    assert "<b>Eve" not in html, f"expected the sender's <b> escaped as text, got it as markup: {html[:300]!r}"
    assert "&lt;script&gt;" in html, (
        f"expected the content's '<script>' as visible text (&lt;script&gt;), got {html[:300]!r}"
    )
    assert "&amp; co" in html, f"expected '&' in the content as &amp;, got {html[:300]!r}"


# ----------------------------------------------------------------- typing_line


def _typing_line(ctx: Context, names: list[str], me: str | None = None) -> str:
    fn = ctx.get("typing_line")
    return str(fn(list(names)) if me is None else fn(list(names), me=me))


def _same(got: str, want: str, call: str) -> None:
    if got != want and isinstance(got, str) and got.replace("...", ELLIPSIS) == want:
        raise AssertionError(f"{call} used three dots '...'; use the ellipsis character '…'")
    assert got == want, f"{call} returned {got!r}, expected {want!r}"


@ex.check(points=1, title="typing_line for nobody, one and two people",
          hint="Three cases: nobody (empty text), one name, two names joined with 'and'.")
def typing_one_and_two(ctx: Context) -> None:
    _same(_typing_line(ctx, []), "", "typing_line([])")
    _same(_typing_line(ctx, ["Ada"]), "Ada is typing…", "typing_line(['Ada'])")
    _same(_typing_line(ctx, ["Ada", "Bob"]), "Ada and Bob are typing…", "typing_line(['Ada', 'Bob'])")


@ex.check(points=1, title="typing_line for three or more people",
          hint="Past two names a line of names is noise: say that several people are typing.")
def typing_several(ctx: Context) -> None:
    for names in (["Ada", "Bob", "Cy"], ["Ada", "Bob", "Cy", "Dee", "Eve"]):
        _same(_typing_line(ctx, names), "Several people are typing…", f"typing_line({names})")


# ----------------------------------------------------------------- TypingSender


class _Recorder:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.frames: list[tuple[float, Any]] = []

    def __call__(self, frame: Any) -> None:
        if isinstance(frame, str):
            frame = json.loads(frame)
        self.frames.append((self.clock.monotonic(), frame))

    @property
    def sent(self) -> list[Any]:
        return [frame for _, frame in self.frames]


TOLERANCE = 0.25
"""Seconds a TypingSender may be late at a boundary (``>`` or ``>=`` idle, ``tick()`` a few times a second)."""


def _sender(ctx: Context) -> tuple[Any, FakeClock, _Recorder]:
    cls = ctx.get("TypingSender", "class")
    clock = FakeClock()
    rec = _Recorder(clock)
    return cls(rec, clock, idle=2.0, refresh=3.0), clock, rec


def _typing_frames(rec: _Recorder) -> list[Any]:
    return [f for f in rec.sent if isinstance(f, dict) and f.get("type") == "typing"]


@ex.check(points=1, title="TypingSender: the first key sends typing: true",
          hint="On the first key press, call send with the typing frame whose typing is True.")
def typing_first_key_sends(ctx: Context) -> None:
    sender, _, rec = _sender(ctx)
    sender.key()
    assert rec.sent == [ON], f"after one key press, sent {rec.sent}; expected [{ON}]"


@ex.check(points=2, title="TypingSender: not one frame per key press",
          hint="Remember that you already told the room you are typing; a fast typist sends many keys.")
def typing_not_every_key(ctx: Context) -> None:
    sender, clock, rec = _sender(ctx)
    for _ in range(10):
        sender.key()
        clock.advance(0.2)
        sender.tick()
    ons = [f for f in rec.sent if f == ON]
    assert len(ons) == 1, f"10 key presses in 2 s: expected typing: true once, got it {len(ons)} times"
    assert OFF not in rec.sent, f"keys kept coming: expected no typing: false, got {rec.sent}"


@ex.check(points=2, title="TypingSender: stops after a short idle",
          hint="tick() is called often: when `idle` seconds passed since the last key, say you stopped, once.")
def typing_stops_when_idle(ctx: Context) -> None:
    sender, clock, rec = _sender(ctx)
    sender.key()
    clock.advance(1.0)
    sender.tick()
    assert OFF not in rec.sent, (
        f"1 s after a key press (idle is 2 s): expected nothing more than [{ON}], got {rec.sent}"
    )
    clock.advance(1.0)
    sender.tick()  # at exactly idle: `>=` sends now, `>` at the next tick; both are right
    clock.advance(TOLERANCE)
    sender.tick()
    assert rec.sent[-1:] == [OFF], (
        f"expected tick() to send {OFF} between 2 s and {2 + TOLERANCE:g} s after the last key "
        f"(idle=2, tolerance {TOLERANCE:g} s); sent {rec.sent}"
    )
    for _ in range(3):
        clock.advance(2.0)
        sender.tick()
    assert rec.sent.count(OFF) == 1, f"expected typing: false sent once, got it {rec.sent.count(OFF)} times: {rec.sent}"


@ex.check(points=1, title="TypingSender: stops when the message is sent",
          hint="Sending the message ends typing: say so at once, and start afresh at the next key.")
def typing_stops_on_send(ctx: Context) -> None:
    sender, clock, rec = _sender(ctx)
    sender.key()
    clock.advance(0.5)
    sender.message_sent()
    assert rec.sent == [ON, OFF], f"key, then message_sent(): sent {rec.sent}; expected [{ON}, {OFF}]"
    clock.advance(3.0)
    sender.tick()
    assert rec.sent == [ON, OFF], f"after message_sent(), tick() sent more: {rec.sent}"
    sender.key()
    assert rec.sent == [ON, OFF, ON], f"the next key after sending should send typing: true again; sent {rec.sent}"


# ----------------------------------------------------------------- ChatView


def _view(ctx: Context, me: str = "Ada") -> Any:
    return ctx.get("ChatView", "class")(me)


def _view_html(view: Any) -> str:
    out = view.html()
    assert isinstance(out, str), f"ChatView.html() should return a str, got {type(out).__name__}"
    return out


@ex.check(points=1, title="ChatView shows history, then new messages, in order",
          hint="A welcome frame carries `history`; each chat frame adds one message at the end.")
def view_history_and_new(ctx: Context) -> None:
    view = _view(ctx)
    history = [{**MSG, "seq": 1, "content": "first"}, {**MSG, "seq": 2, "sender": "Bob", "content": "second"}]
    view.apply({"type": "welcome", "name": "Ada", "room": "lobby", "online": ["Ada", "Bob"],
                "typing": [], "seq": 2, "history": history, "history_complete": True})
    view.apply({**MSG, "seq": 3, "content": "third"})
    html = _view_html(view)
    where = [html.find(word) for word in ("first", "second", "third")]
    assert -1 not in where, f"html() lacks some of the messages first, second, third: {html[:300]!r}"
    assert where == sorted(where), (
        f"expected the messages oldest first (first, second, third), got them at positions {where}"
    )


@ex.check(points=1, title="ChatView shows who else is typing",
          hint="Keep the names of the latest typing frame; show them with typing_line, leaving yourself out.")
def view_typing(ctx: Context) -> None:
    view = _view(ctx, "Ada")
    view.apply({"type": "typing", "room": "lobby", "typing": ["Bob", "Ada"]})
    html = _view_html(view)
    assert "Bob is typing…" in html, (
        f"with Bob and you (Ada) typing: expected 'Bob is typing…' in html(), got {html[-300:]!r}"
    )
    view.apply({"type": "typing", "room": "lobby", "typing": []})
    assert "typing…" not in _view_html(view), (
        f"after typing: []: expected no 'typing…' in html(), got {_view_html(view)[-300:]!r}"
    )


# ----------------------------------------------------------------- join_room

_names = itertools.count(1)


@ex.check(points=2, title="join_room joins a live chat server", timeout=6.0,
          hint="Connect, send a join frame (JSON with your name), then wait for the frame of type 'welcome'.")
async def join_gets_welcome(ctx: Context) -> None:
    join_room = ctx.get("join_room", "async")
    url = ctx.server().chat_url
    name = f"Checker{next(_names)}"
    result = await ctx.within(join_room(url, name, timeout=2.0), 4.0, f"join_room(chat_url, {name!r}, timeout=2.0)")
    assert isinstance(result, tuple) and len(result) == 2, (
        f"expected join_room to return (ws, welcome), got {result!r:.200}"
    )
    ws, welcome = result
    try:
        kind = type(welcome).__name__
        assert isinstance(welcome, dict), f"the welcome should be the parsed frame (a dict), got {kind}"
        assert welcome.get("type") == "welcome", f"join_room returned {welcome!r}, not the welcome frame"
        assert welcome.get("name") == name, f"the welcome is for {welcome.get('name')!r}, not {name!r}"
    finally:
        close = getattr(ws, "close", None)
        if close is not None:  # websockets' close() is a coroutine, the browser-style one is not
            closing = close()
            if inspect.isawaitable(closing):
                await asyncio.wait_for(closing, 2.0)


async def _close_quietly(ws: Any) -> None:
    close = getattr(ws, "close", None)
    if close is not None:  # websockets' close() is a coroutine, the browser-style one is not
        try:
            closing = close()
            if inspect.isawaitable(closing):
                await asyncio.wait_for(closing, 2.0)
        except Exception:
            pass


@ex.check(points=2, title="join_room gives up after `timeout` when no welcome comes", timeout=5.0,
          hint="Bound the wait for the welcome frame with `timeout` and raise TimeoutError when it passes.")
async def join_times_out(ctx: Context) -> None:
    join_room = ctx.get("join_room", "async")
    async with ctx.silent_server() as url:
        await ctx.gives_up(join_room(url, "Ada", timeout=0.5), 2.0, "join_room(silent_url, 'Ada', timeout=0.5)",
                           "join_room returned although the server never sent a welcome")


# ----------------------------------------------------------------- ChatClient through an outage

OUTAGE = 1.0
"""Seconds the checks' server stays down."""


class _Outage:
    """What one run of the learner's ``ChatClient`` through ``server.outage(OUTAGE)`` showed."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.bounds: list[float] = []
        self.joins: list[list[str]] = []
        self.drops = 0
        self.said: list[str] = []
        self.heard_by_cy: list[str] = []
        self.errors: list[str] = []
        self.raised: list[BaseException] = []
        self.changed = asyncio.Event()
        self.gate = asyncio.Event()

    def note(self) -> None:
        self.changed.set()

    def stub(self, client: Any) -> bool:
        """True if the client stopped on a stub (NotImplementedError), in its task or reported as an error."""
        task = getattr(client, "task", None)
        if isinstance(task, asyncio.Future) and task.done() and not task.cancelled() and isinstance(
            task.exception(), NotImplementedError
        ):
            return True
        return any(isinstance(exc, NotImplementedError) for exc in self.raised)

    def raise_stub(self, client: Any) -> None:
        if self.stub(client):
            raise NotImplementedError("ChatClient is not finished: a method still raises NotImplementedError")

    async def until(self, condition: Any, seconds: float, what: str) -> None:
        """Wait, at most ``seconds``, until ``condition()``; fail with ``what`` otherwise."""
        try:
            async with asyncio.timeout(seconds):
                while True:
                    self.changed.clear()  # before looking: a change while ``condition`` runs is not lost
                    if condition():
                        return
                    await self.changed.wait()
        except TimeoutError:
            raise AssertionError(f"{what} (waited {seconds:g} s); {self.summary()}") from None

    def summary(self) -> str:
        return (f"the client joined {len(self.joins)} time(s), was dropped {self.drops} time(s), "
                f"heard {self.said}, waited {[round(d, 3) for d in self.delays]} between tries"
                + (f", reported errors {self.errors[:3]}" if self.errors else ""))


def _make_backoff(ctx: Context) -> Any:
    cls = ctx.get("Backoff", "class")
    try:
        return cls(initial=0.05, factor=2.0, cap=0.4, stay_up=5.0, jitter="full")
    except TypeError:  # a Backoff without jitter is checked in exercise 3; its bounds hold here too
        return cls(initial=0.05, factor=2.0, cap=0.4, stay_up=5.0)


async def _through_outage(ctx: Context) -> _Outage:
    """Run the learner's ChatClient on a fresh server through ``outage(OUTAGE)``, with Cy talking while it is away."""
    from websockets.asyncio.client import connect

    from wslab.grading.checks.reconnect import ceilings
    from wslab.grading.runner import Missing
    from wslab.kernel.course_server import ServerHandle
    from wslab.server.config import ServerConfig

    client_cls = ctx.get("ChatClient", "class")
    ctx.get("join_room", "async")
    for piece, where in (("Outbox", "exercise 2"), ("Backoff", "exercise 3"), ("Emitter", "exercise 3")):
        try:
            ctx.get(piece, "class")
        except Missing:  # the pieces are the learner's to bring: that is work still to do
            raise NotImplementedError(f"paste your {piece} ({where}) into the cell under section 7") from None
    rec = _Outage()
    rec.bounds = ceilings(0.05, 2.0, 0.4, 100)

    async def sleep(delay: float) -> None:
        rec.delays.append(delay)
        rec.note()
        await asyncio.sleep(min(max(float(delay), 0.0), 1.0))
        if len(rec.delays) >= 4:  # from the 4th try on, wait until Cy has spoken (so it is said while away)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(rec.gate.wait(), 3.0)

    def on_join(welcome: Any) -> None:
        rec.joins.append(list(welcome.get("online", [])) if isinstance(welcome, dict) else [])
        rec.note()

    def on_drop(_: Any) -> None:
        rec.drops += 1
        rec.note()

    def on_chat(msg: Any) -> None:
        rec.said.append(str(msg.get("content")) if isinstance(msg, dict) else repr(msg))
        rec.note()

    def on_error(exc: Any) -> None:
        rec.errors.append(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, BaseException):
            rec.raised.append(exc)
        rec.note()

    server = ServerHandle(ServerConfig(update_interval=None, typing_timeout=1.0))
    await asyncio.wait_for(asyncio.to_thread(server._start), 5)
    client = None
    cy = None
    try:
        client = client_cls(server.chat_url, "Grace", _make_backoff(ctx), sleep=sleep)
        client.on("connect", on_join)
        client.on("disconnect", on_drop)
        client.on("chat", on_chat)
        client.on("error", on_error)
        client.start()
        task = getattr(client, "task", None)
        if isinstance(task, asyncio.Future):  # a client that stops on a stub is noticed at once
            task.add_done_callback(lambda _: rec.note())
        try:
            await rec.until(lambda: rec.joins or rec.stub(client), 3.0, "ChatClient.start() never joined the room")
        finally:
            rec.raise_stub(client)
        client.send({"type": "chat", "content": "before"})
        await rec.until(lambda: "before" in rec.said, 2.0, "a message sent while joined never came back")

        back = asyncio.ensure_future(asyncio.to_thread(server.outage, OUTAGE, wait=True))
        await rec.until(lambda: rec.drops >= 1, 2.0, "the server went down, but the client never emitted 'disconnect'")
        client.send({"type": "chat", "content": "offline-1"})
        client.send({"type": "chat", "content": "offline-2"})
        await asyncio.wait_for(back, OUTAGE + 3)

        # Cy speaks while Grace is still away (her 4th wait holds until then).
        cy = await asyncio.wait_for(connect(server.chat_url, open_timeout=2, close_timeout=1), 3)
        await asyncio.wait_for(cy.send(json.dumps({"type": "join", "name": "Cy"})), 2)
        async with asyncio.timeout(2):
            while json.loads(await cy.recv()).get("type") != "welcome":
                pass
        await asyncio.wait_for(cy.send(json.dumps({"type": "chat", "content": "while-away"})), 2)
        async with asyncio.timeout(2):
            while True:
                frame = json.loads(await cy.recv())
                if frame.get("type") == "chat" and frame.get("content") == "while-away":
                    break
        rec.gate.set()

        await rec.until(lambda: len(rec.joins) >= 2, 4.0, "after the outage the client never joined the room again")
        await rec.until(lambda: {"offline-1", "offline-2", "while-away"} <= set(rec.said), 3.0,
                        "after re-joining, the client did not hear everything said while it was offline")
        # Cy hears Grace's two offline messages too (each once): the room got them.
        async with asyncio.timeout(2):
            while rec.heard_by_cy.count("offline-2") < 1:
                frame = json.loads(await cy.recv())
                if frame.get("type") == "chat" and frame.get("sender") == "Grace":
                    rec.heard_by_cy.append(frame.get("content"))
        # A moment for anything sent twice to arrive twice, bounded by an echo round trip from Cy.
        await asyncio.wait_for(cy.send(json.dumps({"type": "chat", "content": "last"})), 2)
        await rec.until(lambda: "last" in rec.said, 2.0, "the client stopped hearing the room after re-joining")
    finally:
        if cy is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(cy.close(), 2)
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 3)
        await asyncio.wait_for(asyncio.to_thread(server.stop, 3), 5)
    return rec


@ex.check(points=3, title="ChatClient comes back after an outage and re-joins the room", timeout=12.0,
          hint="run(): after each session that ends or fails, `await self.sleep(self.backoff.next_delay())` "
               "and try again; _session() joins with your join_room and flushes your Outbox once joined.")
async def client_rejoins_after_outage(ctx: Context) -> None:
    from wslab.grading.checks.reconnect import delays_within

    rec = await _through_outage(ctx)
    assert len(rec.joins) == 2, f"expected 2 joins (before and after the outage), got: {rec.summary()}"
    assert rec.joins[-1] and "Grace" in rec.joins[-1], (
        f"the second welcome's `online` should name Grace, got {rec.joins[-1]!r}"
    )
    assert len(rec.delays) >= 2, (
        f"the server was down {OUTAGE:g} s: expected at least 2 waits between tries, got: {rec.summary()}"
    )
    delays_within(rec.delays, rec.bounds, "Backoff(initial=0.05, factor=2, cap=0.4) in your ChatClient")
