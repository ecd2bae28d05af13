"""A reconnecting JSON client: the seed's ``WebSocketClient``, done right.

The seed's client (``docs/reconnect.md`` walks through it) reconnects with
exponential backoff and dispatches messages by ``type``. It also drops sends
while offline, swallows bad JSON, resets its backoff on every open and never
jitters. :class:`ReconnectingClient` keeps its shape and fixes those::

    client = ReconnectingClient(server.chat_url, policy=BackoffPolicy(initial=0.5))
    client.on("update", show).on("chat", show_chat).on("error", warn)
    client.subscribe("updates")           # resent after every reconnect
    client.join("ada")                    # re-joined with ``since``: no duplicates
    client.start()
    client.say("hi")                      # queued while offline, delivered once
    await client.wait_for("connect", timeout=5)
    ...
    client.close()                        # stops reconnecting for good

Every decision (what to send on each connection, what is unacknowledged,
which chats were already seen, when to retry and when to stop) is taken by
:class:`~wslab.core.session.ClientSession`, the sans-I/O client core, held by
:attr:`ReconnectingClient.session`; ``docs/client-session.md`` states its
contracts. This class is its asyncio shell. It adds only I/O:

* **connect**: each attempt's opening handshake is bounded by ``open_timeout``;
* **sleep**: the session's ``Retry`` delays, cut short by :meth:`close`;
* **write**: one writer task per connection sends the session's frames in
  order, paced by a token bucket (``send_rate``, ``send_burst``) a little under
  the server's rate limit, so flushing a long queue is not taken for flooding;
  frames still unwritten when a connection dies go back to the session;
* **heartbeat**: a ping every ``heartbeat_interval`` seconds; if its pong takes
  longer than ``heartbeat_timeout`` the connection is dropped, so a connection
  that goes silent is noticed within ``heartbeat_interval + heartbeat_timeout``
  seconds (plus the event loop's scheduling latency);
* **events**: handlers registered with :meth:`ReconnectingClient.on`; an
  exception raised by one is reported through the event loop's exception
  handler and never stops the client or the other handlers.

Every wait (:meth:`wait_for`, :meth:`flush`, :meth:`aclose`) has a timeout.

Longer than 500 lines because the five pieces of I/O above share one
connection's lifetime (the writer, the heartbeat and the reader start and stop
together, and unwritten frames go back to the session when it dies); the rules
themselves are in the session, not here.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import ssl as ssl_module
from collections import deque
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from wslab.client.tls import client_context, describe_failure
from wslab.core import protocol as p
from wslab.core.backoff import BackoffPolicy, ReconnectPredicate
from wslab.core.clock import SYSTEM_CLOCK, Clock
from wslab.core.errors import ClientClosedError, QueueFullError
from wslab.core.ratelimit import TokenBucket
from wslab.core.session import LIFECYCLE_EVENTS, ClientSession, Disconnect, Emit, Retry, Send, SessionAction

__all__ = [
    "ReconnectingClient",
    "QueueFullError",
    "ClientClosedError",
    "LIFECYCLE_EVENTS",
    "HistoryEntry",
    "ClientState",
]

log = logging.getLogger(__name__)

ClientState = Literal["connecting", "open", "offline", "closed"]
"""What :attr:`ReconnectingClient.state` can be."""

HistoryEntry = tuple[float, str, dict[str, Any]]
"""(wall time, event name, details) - one line of :attr:`ReconnectingClient.history`."""

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_RECORDED = frozenset({"connect", "disconnect", "reconnecting", "overflow", "closed", "epoch"})


class ReconnectingClient:
    """A JSON WebSocket client that reconnects with backoff and loses nothing.

    Args:
        url: ``ws://`` or ``wss://`` URL, e.g. ``server.chat_url``.
        policy: the backoff numbers; :class:`~wslab.core.backoff.BackoffPolicy`
            defaults (1 s doubling to 30 s, full jitter, reset after 5 s up).
        queue_limit: most messages waiting to be sent; > 0.
        overflow: ``"raise"`` (:class:`QueueFullError`) or ``"event"``
            (emit ``overflow``, :meth:`send` returns False).
        should_reconnect: ``predicate(code)`` deciding whether a close code
            allows reconnecting (``None`` when there was no close frame).
        heartbeat_interval, heartbeat_timeout: seconds between pings, and
            how long a pong may take (None disables the heartbeat). A dead
            connection is noticed within their sum.
        clock: timestamps in :attr:`history`, and the session's ``now``.
        seed: seeds the backoff jitter (overrides ``policy.seed``).
        open_timeout: bound on each opening handshake and on the re-join.
        close_timeout: bound on each closing handshake.
        history_limit: how many :attr:`history` entries are kept.
        send_rate, send_burst: pace outgoing frames (frames per second,
            frames at once) a little under the server's limits. None: no pacing.
        id_prefix: the first part of chat ids (random by default).
        cafile: with a ``wss://`` URL: a PEM CA to trust besides the system's
            (a workshop's own CA); see :func:`~wslab.client.tls.client_context`.
        ssl: with a ``wss://`` URL: the :class:`ssl.SSLContext` to connect with
            (instead of ``cafile``).

    Events and the data their handlers receive (a dict; a handler may also
    take no argument): those of :class:`~wslab.core.session.ClientSession`
    (``docs/client-session.md``), with ``url`` added to ``connect`` and
    ``was_clean`` to ``disconnect``:

    * ``connect``: ``{"url", "attempt", "reconnect", "resent", "flushed"}``;
    * ``disconnect``: ``{"code", "reason", "was_clean", "uptime"}``;
    * ``reconnecting``: ``{"attempt", "delay"}`` just before waiting ``delay``;
    * ``message``: every JSON object the server sends; then the same object
      again under its ``type`` (``on("update", fn)``), unless that type is
      one of :data:`LIFECYCLE_EVENTS`; each ``chat`` once, history included;
    * ``error``: ``{"type": "error", "code", "message", "source"}``,
      ``source`` being ``"server"`` for the server's ``error`` frames and
      ``"client"`` for frames the client could not read and for a
      ``history-gap``;
    * ``epoch``: ``{"old", "new", "room"}``: the room's history started over;
    * ``overflow``: ``{"message", "queued", "limit"}``;
    * ``closed``: ``{"code", "reason", "unsent"}`` once the client stops for good.

    One more event comes from this shell, not the session: ``failed``
    (``{"attempt", "error"}``) when an attempt to connect fails, ``error``
    saying why in a sentence (a TLS certificate that is not trusted is named
    with OpenSSL's reason and what to give).
    """

    def __init__(
        self,
        url: str,
        *,
        policy: BackoffPolicy | None = None,
        queue_limit: int = 100,
        overflow: Literal["raise", "event"] = "raise",
        should_reconnect: ReconnectPredicate | None = None,
        heartbeat_interval: float | None = 10.0,
        heartbeat_timeout: float = 10.0,
        clock: Clock = SYSTEM_CLOCK,
        seed: int | None = None,
        open_timeout: float = 10.0,
        close_timeout: float = 2.0,
        history_limit: int = 1000,
        send_rate: float | None = p.RATE_PER_SECOND * 0.9,
        send_burst: int = p.RATE_BURST // 2,
        id_prefix: str | None = None,
        cafile: str | None = None,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
            raise ValueError(f"url must start with ws:// or wss://, got {url!r}")
        if (cafile is not None or ssl is not None) and not url.startswith("wss://"):
            raise ValueError(f"cafile= and ssl= are for a wss:// URL, got {url!r}")
        if cafile is not None and ssl is not None:
            raise ValueError("give cafile= or ssl=, not both")
        self.ssl = client_context(cafile) if cafile is not None else ssl
        """The TLS context for ``wss://`` (None: the system's CAs)."""
        if heartbeat_interval is not None and (heartbeat_interval <= 0 or heartbeat_timeout <= 0):
            raise ValueError("heartbeat_interval and heartbeat_timeout must be > 0 (or heartbeat_interval=None)")
        if open_timeout <= 0 or close_timeout <= 0:
            raise ValueError("open_timeout and close_timeout must be > 0")
        if send_rate is not None and (send_rate <= 0 or send_burst < 1):
            raise ValueError("send_rate must be > 0 (or None) and send_burst >= 1")
        self.url = url
        self.policy = policy if policy is not None else BackoffPolicy()
        self.session = ClientSession(
            id_prefix=id_prefix,
            policy=self.policy,
            rng=random.Random(seed if seed is not None else self.policy.seed),
            should_reconnect=should_reconnect,
            queue_limit=queue_limit,
            overflow=overflow,
            restore_timeout=open_timeout,
        )
        """The sans-I/O client core: every decision and every piece of state lives there."""
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.clock = clock
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.history_limit = history_limit
        self._pacer = TokenBucket(send_rate, send_burst) if send_rate is not None else None
        self._handlers: dict[str, list[tuple[Callable[..., Any], bool]]] = {}
        self._waiters: list[tuple[str, Callable[[Any], bool] | None, asyncio.Future[Any]]] = []
        self._conn: ClientConnection | None = None
        self._writes: deque[Send] = deque()
        self._writes_changed = asyncio.Event()
        self._progress = asyncio.Event()  # a frame went out, an ack came, or the client stopped
        self._retry_delay: float | None = None
        self._wake = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._connect_task: asyncio.Task[ClientConnection] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dead_reason: str | None = None
        self._was_clean = False  # of the connection that closed last
        self._tasks: set[asyncio.Task[Any]] = set()
        self.latency: float | None = None
        """Round trip of the last heartbeat, in seconds (None before the first)."""
        self.history: list[HistoryEntry] = []
        """(wall time, event, details), oldest first: connecting, failed, connect,
        disconnect, reconnecting, heartbeat-timeout, overflow, error, epoch, closed."""

    # ------------------------------------------------------------ read-only state

    @property
    def state(self) -> ClientState:
        """``"connecting"``, ``"open"`` (restored and flushed), ``"offline"`` (waiting or not started), ``"closed"``."""
        state = self.session.state
        return "connecting" if state == "restoring" else state

    @property
    def attempt(self) -> int:
        """Reconnect attempts since the backoff last reset."""
        return self.session.attempt

    @property
    def queued(self) -> int:
        """Messages waiting to be sent."""
        return self.session.queued + len(self._writes)

    @property
    def unacked(self) -> int:
        """Chats sent but not yet acknowledged by the server (resent after a reconnect)."""
        return len(self.session.unacked)

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels this client subscribed to, resent on every reconnect."""
        return tuple(self.session.channels)

    @property
    def last_seq(self) -> int | None:
        """The highest chat ``seq`` seen in the joined room (None before a welcome)."""
        return self.session.last_seq if self.session.epoch is not None or self.session.last_seq else None

    @property
    def online(self) -> list[str]:
        """Who is in the joined room now, in join order."""
        return list(self.session.online)

    @property
    def typing(self) -> list[str]:
        """Who is typing in the joined room now."""
        return list(self.session.typing)

    # ------------------------------------------------------------ events

    def on(self, event: str, fn: Callable[..., Any]) -> ReconnectingClient:
        """Call ``fn(data)`` (or ``fn()``) on each ``event``; returns self so calls chain.

        ``event`` is a lifecycle event or a message ``type`` such as ``"update"``.
        ``fn`` may be ``async def``; it then runs as a task.
        """
        if not callable(fn):
            raise TypeError(f"on({event!r}, ...) needs a callable, got {fn!r}")
        self._handlers.setdefault(event, []).append((fn, _takes_argument(fn)))
        return self

    def off(self, event: str, fn: Callable[..., Any]) -> ReconnectingClient:
        """Stop calling ``fn`` on ``event`` (no error if it was not registered)."""
        self._handlers[event] = [(f, a) for f, a in self._handlers.get(event, []) if f != fn]
        return self

    def _emit(self, event: str, data: Any = None) -> None:
        for fn, takes_argument in list(self._handlers.get(event, ())):
            try:
                result = fn(data) if takes_argument else fn()
                if inspect.isawaitable(result):
                    self._spawn(_guard(result, self._report, event), f"{event} handler")
            except Exception as exc:
                self._report(exc, event)
        for entry in list(self._waiters):
            name, where, future = entry
            if name != event or future.done():
                continue
            try:
                matches = where is None or where(data)
            except Exception as exc:
                future.set_exception(exc)
                continue
            if matches:
                future.set_result(data)

    def _report(self, exc: BaseException, event: str) -> None:
        context = {"message": f"exception in a ReconnectingClient {event!r} handler ({self.url})", "exception": exc}
        if self._loop is not None:
            self._loop.call_exception_handler(context)
        else:
            log.error(context["message"], exc_info=exc)

    def _record(self, event: str, details: dict[str, Any]) -> None:
        self.history.append((self.clock.wall(), event, details))
        if len(self.history) > self.history_limit:
            del self.history[: len(self.history) - self.history_limit]

    async def wait_for(self, event: str, timeout: float = 5.0, where: Callable[[Any], bool] | None = None) -> Any:
        """Wait for the next ``event`` (whose data satisfies ``where``) and return its data.

        Only events after the call count. Raises :class:`TimeoutError` after
        ``timeout`` seconds, naming the event and the client's state.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        entry = (event, where, future)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"no {event!r} event within {timeout:g} s (client is {self.state}, "
                f"attempt {self.attempt}, {self.queued} queued, url {self.url})"
            ) from None
        finally:
            self._waiters.remove(entry)

    async def wait_open(self, timeout: float = 5.0) -> None:
        """Return once :attr:`state` is ``"open"`` (at once if it is); :class:`TimeoutError` otherwise."""
        if self.state == "open":
            return
        if self.state == "closed":
            raise ClientClosedError(f"the client is closed; it will not open again ({self.url})")
        await self.wait_for("connect", timeout)

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until nothing is queued and every chat is acknowledged, at most ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.queued or self.unacked:
            if self.state == "closed":
                raise ClientClosedError(
                    f"the client closed with {self.queued} queued and {self.unacked} unacknowledged message(s)"
                )
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(
                    f"still {self.queued} queued and {self.unacked} unacknowledged message(s) after "
                    f"{timeout:g} s (client is {self.state}, url {self.url})"
                )
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), left)
            except TimeoutError:
                continue

    # ------------------------------------------------------------ what to send

    def send(self, message: dict[str, Any]) -> bool:
        """Send ``message`` as JSON now if open, else queue it; returns True if sent or queued.

        ``join``, ``subscribe``, ``unsubscribe`` and ``chat`` messages go to
        :meth:`join`, :meth:`subscribe`, :meth:`unsubscribe` and :meth:`say`, so
        they are remembered; a ``chat`` without ``id`` gets one. Messages of the
        chat protocol's types are checked first: an invalid one raises
        :class:`~wslab.core.errors.ProtocolError` here instead of coming back
        as an ``error`` frame. Raises :class:`QueueFullError` when
        ``queue_limit`` messages wait (with ``overflow="raise"``; with
        ``"event"`` it emits ``overflow`` and returns False), and
        :class:`ClientClosedError` after :meth:`close`.
        """
        if not isinstance(message, dict):
            raise TypeError(f"send() takes a dict (sent as JSON), got {type(message).__name__}")
        try:
            return self._do(self.session.send(message, self.clock.monotonic()))
        except QueueFullError:
            self._record("overflow", {"queued": self.session.queued, "limit": self.session.queue_limit})
            raise

    def say(self, content: str, id: str | None = None) -> str:
        """Send a chat message in the joined room (queued until joined); returns its id."""
        id_ = id if id is not None else self.session.new_id()
        self._do(self.session.say(content, self.clock.monotonic(), id=id_))
        return id_

    def keystroke(self, text: str | None = None) -> None:
        """The message input changed: sends ``typing`` frames by the session's rules (nothing while offline)."""
        self._do(self.session.keystroke(text, self.clock.monotonic()))

    async def send_raw(self, frame: str | bytes, timeout: float = 5.0) -> None:
        """Send ``frame`` exactly as given, now, on the open connection.

        For experiments and protocol tests (what does the server do with text
        that is not JSON?). Nothing is encoded, checked, queued or resent:
        raises :class:`ConnectionError` when not connected.
        """
        conn = self._conn
        if conn is None or self.state != "open":
            raise ConnectionError("send_raw() needs an open connection; await wait_for('connect') first")
        await asyncio.wait_for(conn.send(frame), timeout)

    def join(self, name: str, room: str = p.DEFAULT_ROOM) -> bool:
        """Join ``room`` as ``name``, now and again after every reconnect (with ``since``)."""
        return self._do(self.session.join(name, room, self.clock.monotonic()))

    def subscribe(self, channel: str) -> bool:
        """Subscribe to ``channel``, now and again after every reconnect."""
        return self._do(self.session.subscribe(channel, self.clock.monotonic()))

    def unsubscribe(self, channel: str) -> bool:
        """Unsubscribe from ``channel`` and stop resubscribing to it."""
        return self._do(self.session.unsubscribe(channel, self.clock.monotonic()))

    # ------------------------------------------------------------ lifecycle

    def start(self) -> ReconnectingClient:
        """Start connecting on the running event loop; returns self. Calling it again does nothing."""
        if self.session.state == "closed":
            raise ClientClosedError(f"the client stopped; create a new one to connect again ({self.url})")
        if self._task is not None:
            return self
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "ReconnectingClient.start() needs a running event loop: call it in a notebook cell "
                "or inside 'async def main()' run with asyncio.run(main())"
            ) from None
        self._task = self._loop.create_task(self._run(), name=f"wslab ReconnectingClient {self.url}")
        return self

    def close(self, code: int = p.CLOSE_NORMAL, reason: str = "client closed") -> None:
        """Close the connection and stop reconnecting for good. Safe to call twice.

        Queued and unacknowledged messages stay visible in :attr:`queued`,
        :attr:`unacked` and the ``closed`` event's ``unsent`` count.
        """
        self._do(self.session.close(code, reason, self.clock.monotonic()))
        self._wake.set()
        if self._conn is None and self._connect_task is not None and not self._connect_task.done():
            self._connect_task.cancel()

    async def aclose(self, timeout: float = 5.0) -> None:
        """:meth:`close`, then wait (at most ``timeout`` s) until the client has stopped."""
        self.close()
        if self._task is not None and not self._task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                self._task.cancel()
                raise TimeoutError(f"the client did not stop within {timeout:g} s") from None

    async def __aenter__(self) -> ReconnectingClient:
        return self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------ performing the session's actions

    def _do(self, actions: list[SessionAction]) -> bool:
        """Perform ``actions`` in order; False if one said the outbox overflowed."""
        accepted = True
        for action in actions:
            if isinstance(action, Send):
                self._writes.append(action)
                self._writes_changed.set()
            elif isinstance(action, Emit):
                accepted = accepted and action.event != "overflow"
                self._emit_session_event(action)
            elif isinstance(action, Retry):
                self._retry_delay = action.delay
            elif isinstance(action, Disconnect):
                conn = self._conn
                if conn is not None:
                    self._dead_reason = action.reason
                    self._spawn(_quietly(conn.close(action.code, action.reason)), "close")
        self._arm_timer()
        return accepted

    def _emit_session_event(self, action: Emit) -> None:
        event, data = action.event, action.data
        if event == "connect":
            data = {**data, "url": self.url}
        elif event == "disconnect":
            data = {**data, "was_clean": self._was_clean}
        elif event == "ack" or event == "closed":
            self._progress.set()
        if event in _RECORDED:
            self._record(event, data if event != "overflow" else {k: v for k, v in data.items() if k != "message"})
        elif event == "error":
            self._record("error", {"code": data.get("code"), "message": data.get("message")})
        self._emit(event, data)

    def _closed(self) -> bool:
        """Whether the session stopped for good (read afresh: any handler may close it)."""
        return self.session.state == "closed"

    def _close_args(self) -> tuple[int, str]:
        closed = [d for _, e, d in reversed(self.history) if e == "closed"]
        code = closed[0].get("code") if closed else None
        return (code if isinstance(code, int) else p.CLOSE_NORMAL), "client closed"

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.session.next_deadline()
        if deadline is None or self._loop is None or self._loop.is_closed():
            return
        delay = max(0.0, deadline - self.clock.monotonic())
        self._timer = self._loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._do(self.session.tick(self.clock.monotonic()))

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=f"wslab ReconnectingClient {name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self) -> None:
        try:
            while self.session.state != "closed":
                self._record("connecting", {"attempt": self.attempt})
                self._do(self.session.connecting(self.clock.monotonic()))
                self._connect_task = self._spawn(self._open(), "connect")
                try:
                    conn = await self._connect_task
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if self._closed() and not (task is not None and task.cancelling()):
                        break  # close() gave up this attempt
                    if task is not None and task.cancelling():
                        raise
                    self._do(self.session.connect_failed("cancelled", self.clock.monotonic()))
                except Exception as exc:
                    failure = {"attempt": self.attempt, "error": _describe(exc)}
                    self._record("failed", failure)
                    self._emit("failed", failure)
                    self._do(self.session.connect_failed(_describe(exc), self.clock.monotonic()))
                else:
                    await self._connection(conn)
                if self._closed():
                    break
                delay, self._retry_delay = self._retry_delay, None
                if delay is not None:
                    self._wake.clear()
                    try:  # asyncio.timeout: on 3.11 wait_for may turn a cancel into TimeoutError
                        async with asyncio.timeout(delay):
                            await self._wake.wait()
                    except TimeoutError:
                        pass
        finally:
            self._conn = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self.session.state != "closed":  # cancelled from outside
                self._do(self.session.close(p.CLOSE_GOING_AWAY, "client task cancelled", self.clock.monotonic()))
                self._do(self.session.disconnected(None, "client task cancelled", self.clock.monotonic()))

    async def _open(self) -> ClientConnection:
        tls: dict[str, Any] = {} if self.ssl is None else {"ssl": self.ssl}  # ssl=None would mean no TLS for wss
        return await connect(
            self.url,
            open_timeout=self.open_timeout,
            close_timeout=self.close_timeout,
            ping_interval=None,  # our own heartbeat, with a stated bound
            proxy=None if (urlsplit(self.url).hostname or "") in _LOOPBACK else True,
            **tls,
        )

    async def _connection(self, conn: ClientConnection) -> None:
        """Run one connection from open to close, feeding the session."""
        self._conn = conn
        self._dead_reason = None
        self._writes.clear()
        helpers = [self._spawn(self._writer(conn), "writer")]
        if self.heartbeat_interval is not None:
            helpers.append(self._spawn(self._heartbeat(conn), "heartbeat"))
        self._do(self.session.connected(self.clock.monotonic()))
        if self.session.state == "closed":  # close() ran while the handshake did: the session wants no connection
            await _quietly(conn.close(*self._close_args()))
        try:
            async for frame in conn:
                self._do(self.session.on_frame(frame, self.clock.monotonic()))
        except ConnectionClosed:
            pass
        finally:
            for task in helpers:
                task.cancel()
            self._conn = None
        try:
            await asyncio.wait_for(asyncio.shield(conn.wait_closed()), self.close_timeout + 1.0)
        except TimeoutError:
            if conn.transport is not None:
                conn.transport.abort()
        proto = conn.protocol
        self._was_clean = proto.close_rcvd is not None and proto.close_sent is not None
        code: int | None = proto.close_rcvd.code if proto.close_rcvd is not None else None
        reason = proto.close_rcvd.reason if proto.close_rcvd is not None else (self._dead_reason or "connection lost")
        unsent = list(self._writes)
        self._writes.clear()
        if self.session.state != "open":
            self._record(
                "failed", {"attempt": self.attempt, "error": f"closed before ready: {code or 1006} {reason}".strip()}
            )
        self._do(self.session.disconnected(code, reason, self.clock.monotonic(), unsent))

    async def _writer(self, conn: ClientConnection) -> None:
        """Write the session's frames in order, paced, for as long as the connection lives."""
        try:
            while True:
                while not self._writes:
                    self._writes_changed.clear()
                    await self._writes_changed.wait()
                if self._pacer is not None:
                    assert self._loop is not None
                    # Pacing, not synchronisation: each wait is at most 1 / send_rate seconds.
                    while (wait := self._pacer.reserve(self._loop.time())) > 0:
                        await asyncio.sleep(wait)
                item = self._writes[0]
                await conn.send(item.frame)  # raises ConnectionClosed before writing: the item stays for the session
                if self._writes and self._writes[0] is item:
                    self._writes.popleft()
                self._progress.set()
        except ConnectionClosed:
            return

    async def _heartbeat(self, conn: ClientConnection) -> None:
        assert self.heartbeat_interval is not None
        try:
            while True:
                await asyncio.sleep(self.heartbeat_interval)
                try:
                    async with asyncio.timeout(self.heartbeat_timeout):
                        pong = await conn.ping()
                        self.latency = await pong
                except TimeoutError:
                    self._dead_reason = f"no pong within {self.heartbeat_timeout:g} s: connection presumed dead"
                    self._record("heartbeat-timeout", {"timeout": self.heartbeat_timeout})
                    if conn.transport is not None:
                        conn.transport.abort()
                    return
        except ConnectionClosed:
            return

    def __repr__(self) -> str:
        return f"<ReconnectingClient {self.url} {self.state} attempt={self.attempt} queued={self.queued}>"


def _takes_argument(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params)


async def _guard(awaitable: Any, report: Callable[[BaseException, str], None], event: str) -> None:
    try:
        await awaitable
    except Exception as exc:
        report(exc, event)


async def _quietly(awaitable: Any) -> None:
    try:
        await awaitable
    except (ConnectionClosed, OSError):
        pass


def _describe(exc: BaseException) -> str:
    tls = describe_failure(exc)
    if tls is not None:
        return tls
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "timed out during the opening handshake"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"{type(exc).__name__}: {exc}"
