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
    client.send({"type": "chat", "content": "hi"})   # queued while offline
    await client.wait_for("connect", timeout=5)
    ...
    client.close()                        # stops reconnecting for good

Contracts:

* **Nothing is dropped silently.** :meth:`ReconnectingClient.send` while
  offline queues the message (at most ``queue_limit``); one more raises
  :class:`QueueFullError` or, with ``overflow="event"``, emits ``overflow``
  and returns False.
* **Order after a reconnect:** channels are resubscribed, then the room is
  re-joined (``since`` = the highest chat ``seq`` seen) and its ``welcome``
  awaited, then unacknowledged chats are resent, then the queue goes out, in
  the order :meth:`send` was called. Only then does ``connect`` fire and
  :attr:`state` become ``"open"``.
* **Chats arrive exactly once.** Each ``chat`` gets an ``id`` if it has
  none and is kept until the server's ``ack``; after a reconnect unacked
  chats are resent and the server (which drops a repeated ``id`` from the
  same sender) delivers each once. Other message types are resent only if
  the send failed before reaching the socket: a message written into a
  connection that then dies is lost with it (the protocol has no ack for
  them).
* **Pacing:** outgoing frames go through a token bucket (``send_rate``,
  ``send_burst``) a little under the server's rate limit, so flushing a
  long queue is not taken for flooding; a chat answered with
  ``rate-limited`` is sent again a second later.
* **Backoff** follows :class:`~wslab.backoff.BackoffPolicy` (full jitter,
  counter reset only after ``stay_up`` seconds open); every wait is announced
  by a ``reconnecting`` event first.
* **Stop codes:** no reconnect after :meth:`close`, nor after a close code
  for which ``should_reconnect(code)`` is False (default
  :func:`~wslab.backoff.should_reconnect`: 1000, 1008, 4001, 4003).
* **Dead connections:** a ping goes out every ``heartbeat_interval``
  seconds; if its pong (or the ping itself) takes longer than
  ``heartbeat_timeout``, the connection is dropped. So a connection that goes
  silent is noticed within ``heartbeat_interval + heartbeat_timeout`` seconds
  (plus the event loop's scheduling latency, milliseconds when it is not blocked).
* **Bad input from the server** (not JSON, not an object, a binary frame, or
  a protocol ``error`` frame) becomes an ``error`` event carrying the raw
  text; the connection stays up.
* An exception raised by an event handler is reported through the event
  loop's exception handler and never stops the client or the other handlers.
* Every wait (:meth:`wait_for`, :meth:`flush`, :meth:`aclose`) has a timeout.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import random
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from wslab.core import protocol as p
from wslab.core.errors import ClientClosedError, QueueFullError
from wslab.core.ratelimit import TokenBucket
from wslab.core.backoff import Backoff, BackoffPolicy, ReconnectPredicate
from wslab.core.backoff import should_reconnect as default_should_reconnect
from wslab.core.clock import SYSTEM_CLOCK, Clock

__all__ = [
    "ReconnectingClient",
    "QueueFullError",
    "ClientClosedError",
    "LIFECYCLE_EVENTS",
    "HistoryEntry",
]

log = logging.getLogger("wslab.reconnect")

LIFECYCLE_EVENTS = frozenset({"connect", "disconnect", "reconnecting", "message", "error", "overflow", "closed"})
"""Events the client emits itself; a server message of one of these types is not dispatched by type."""

State = Literal["connecting", "open", "offline", "closed"]

HistoryEntry = tuple[float, str, dict[str, Any]]
"""(wall time, event name, details) - one line of :attr:`ReconnectingClient.history`."""

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_RETRY_JOIN_CODE = 4000
"""Close code the client uses to drop a connection whose re-join failed, then reconnects."""


@dataclass
class _Outgoing:
    message: dict[str, Any]
    text: str


class ReconnectingClient:
    """A JSON WebSocket client that reconnects with backoff and loses nothing.

    Args:
        url: ``ws://`` or ``wss://`` URL, e.g. ``server.chat_url``.
        policy: the backoff numbers; :class:`~wslab.backoff.BackoffPolicy`
            defaults (1 s doubling to 30 s, full jitter, reset after 5 s up).
        queue_limit: most messages waiting to be sent; > 0.
        overflow: ``"raise"`` (:class:`QueueFullError`) or ``"event"``
            (emit ``overflow``, :meth:`send` returns False).
        should_reconnect: ``predicate(code)`` deciding whether a close code
            allows reconnecting (``None`` when there was no close frame).
        heartbeat_interval, heartbeat_timeout: seconds between pings, and
            how long a pong may take (None disables the heartbeat). A dead
            connection is noticed within their sum.
        clock: timestamps in :attr:`history` and ``stay_up`` measurements.
        seed: seeds the backoff jitter (overrides ``policy.seed``).
        open_timeout: bound on each opening handshake and on the re-join.
        close_timeout: bound on each closing handshake.
        history_limit: how many :attr:`history` entries are kept.
        send_rate, send_burst: pace outgoing frames with a token bucket
            (frames per second, frames at once) a little under the server's
            limits, so flushing a long queue after a reconnect is not taken
            for flooding (which closes with 1008, a stop code). None: no pacing.

    Events and the data their handlers receive (a dict; a handler may also
    take no argument):

    * ``connect``: ``{"url", "attempt", "reconnect", "resent", "flushed"}``;
    * ``disconnect``: ``{"code", "reason", "was_clean", "uptime"}``;
    * ``reconnecting``: ``{"attempt", "delay"}`` just before waiting ``delay``;
    * ``message``: every JSON object the server sends; then the same object
      again under its ``type`` (``on("update", fn)``), unless that type is
      one of :data:`LIFECYCLE_EVENTS`;
    * ``error``: ``{"type": "error", "code", "message", "raw", "source"}``,
      ``source`` being ``"server"`` for the server's ``error`` frames and
      ``"client"`` for frames the client could not read, and for a
      ``history-gap`` (a re-join found that more was missed than the server
      keeps);
    * ``overflow``: ``{"message", "queued", "limit"}``;
    * ``closed``: ``{"code", "reason", "unsent"}`` once the client stops for good.
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
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
            raise ValueError(f"url must start with ws:// or wss://, got {url!r}")
        if isinstance(queue_limit, bool) or not isinstance(queue_limit, int) or queue_limit < 1:
            raise ValueError(f"queue_limit must be an int >= 1, got {queue_limit!r}")
        if overflow not in ("raise", "event"):
            raise ValueError(f"overflow must be 'raise' or 'event', got {overflow!r}")
        if heartbeat_interval is not None and (heartbeat_interval <= 0 or heartbeat_timeout <= 0):
            raise ValueError("heartbeat_interval and heartbeat_timeout must be > 0 (or heartbeat_interval=None)")
        if open_timeout <= 0 or close_timeout <= 0:
            raise ValueError("open_timeout and close_timeout must be > 0")
        self.url = url
        self.policy = policy if policy is not None else BackoffPolicy()
        self.queue_limit = queue_limit
        self.overflow = overflow
        self.should_reconnect: ReconnectPredicate = should_reconnect or default_should_reconnect
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.clock = clock
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.history_limit = history_limit
        if send_rate is not None and (send_rate <= 0 or send_burst < 1):
            raise ValueError("send_rate must be > 0 (or None) and send_burst >= 1")
        self._pacer = TokenBucket(send_rate, send_burst) if send_rate is not None else None
        self._resend_pending = False
        rng = random.Random(seed if seed is not None else self.policy.seed)
        self._backoff = Backoff(self.policy, rng)
        self._state: State = "offline"
        self._handlers: dict[str, list[tuple[Callable[..., Any], bool]]] = {}
        self._waiters: list[tuple[str, Callable[[Any], bool] | None, asyncio.Future[Any]]] = []
        self._queue: deque[_Outgoing] = deque()
        self._queue_changed = asyncio.Event()
        self._progress = asyncio.Event()  # set when a message leaves the queue, an ack comes, or the client stops
        self._unacked: dict[str, str] = {}
        self._channels: dict[str, None] = {}
        self._join: dict[str, Any] | None = None
        self._last_seq: int | None = None
        self._welcome: asyncio.Future[dict[str, Any]] | None = None
        self._subscribed: dict[str, asyncio.Future[None]] = {}
        self._conn: ClientConnection | None = None
        self._closing = False
        self._close_code = p.CLOSE_NORMAL
        self._close_reason = ""
        self._wake = asyncio.Event()
        self._ready = False  # the current connection finished restoring
        self._task: asyncio.Task[None] | None = None
        self._connect_task: asyncio.Task[ClientConnection] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connections = 0
        self._dead_reason: str | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.latency: float | None = None
        """Round trip of the last heartbeat, in seconds (None before the first)."""
        self.history: list[HistoryEntry] = []
        """(wall time, event, details), oldest first: connecting, failed, connect,
        disconnect, reconnecting, heartbeat-timeout, overflow, error, closed."""

    # ------------------------------------------------------------ read-only state

    @property
    def state(self) -> State:
        """``"connecting"``, ``"open"`` (restored and flushed), ``"offline"`` (waiting, or not started) or ``"closed"``."""
        return self._state

    @property
    def attempt(self) -> int:
        """Reconnect attempts since the backoff last reset."""
        return self._backoff.attempt

    @property
    def queued(self) -> int:
        """Messages waiting to be sent."""
        return len(self._queue)

    @property
    def unacked(self) -> int:
        """Chats sent but not yet acknowledged by the server (resent after a reconnect)."""
        return len(self._unacked)

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels this client subscribed to, resent on every reconnect."""
        return tuple(self._channels)

    @property
    def last_seq(self) -> int | None:
        """The highest chat ``seq`` seen in the joined room."""
        return self._last_seq

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
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"no {event!r} event within {timeout:g} s (client is {self._state}, "
                f"attempt {self.attempt}, {self.queued} queued, url {self.url})"
            ) from None
        finally:
            self._waiters.remove(entry)

    async def wait_open(self, timeout: float = 5.0) -> None:
        """Return once :attr:`state` is ``"open"`` (at once if it is); :class:`TimeoutError` otherwise."""
        if self._state == "open":
            return
        if self._state == "closed":
            raise ClientClosedError(f"the client is closed; it will not open again ({self.url})")
        await self.wait_for("connect", timeout)

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until nothing is queued and every chat is acknowledged, at most ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._queue or self._unacked:
            if self._state == "closed":
                raise ClientClosedError(
                    f"the client closed with {self.queued} queued and {self.unacked} unacknowledged message(s)"
                )
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(
                    f"still {self.queued} queued and {self.unacked} unacknowledged message(s) after "
                    f"{timeout:g} s (client is {self._state}, url {self.url})"
                )
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), left)
            except asyncio.TimeoutError:
                continue

    # ------------------------------------------------------------ what to send

    def send(self, message: dict[str, Any]) -> bool:
        """Send ``message`` as JSON now if open, else queue it; returns True if sent or queued.

        ``join``, ``subscribe`` and ``unsubscribe`` messages are routed to
        :meth:`join`, :meth:`subscribe` and :meth:`unsubscribe`, so they are
        remembered. A ``chat`` without ``id`` gets one. Messages of the chat
        protocol's types are checked first: an invalid one raises
        :class:`~wslab.protocol.ProtocolError` here instead of coming back as
        an ``error`` frame. Raises :class:`QueueFullError` when
        ``queue_limit`` messages wait (with ``overflow="raise"``), and
        :class:`ClientClosedError` after :meth:`close`.
        """
        if not isinstance(message, dict):
            raise TypeError(f"send() takes a dict (sent as JSON), got {type(message).__name__}")
        type_ = message.get("type")
        if type_ == "join":
            return self.join(message.get("name"), message.get("room", p.DEFAULT_ROOM))  # type: ignore[arg-type]
        if type_ == "subscribe":
            return self.subscribe(message.get("channel"))  # type: ignore[arg-type]
        if type_ == "unsubscribe":
            return self.unsubscribe(message.get("channel"))  # type: ignore[arg-type]
        message = dict(message)
        if type_ == "chat" and message.get("id") is None:
            message["id"] = uuid.uuid4().hex
        return self._submit(message)

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
        p.validate_name(name)
        p.validate_room(room)
        self._check_not_closed()
        if self._join == {"name": name, "room": room}:
            return True  # already joined (or joining) there: nothing to do
        self._join = {"name": name, "room": room}
        self._last_seq = None
        return self._submit({"type": "join", "name": name, "room": room}, control=True)

    def subscribe(self, channel: str) -> bool:
        """Subscribe to ``channel``, now and again after every reconnect."""
        p.validate_channel(channel)
        self._check_not_closed()
        self._channels[channel] = None
        return self._submit({"type": "subscribe", "channel": channel}, control=True)

    def unsubscribe(self, channel: str) -> bool:
        """Unsubscribe from ``channel`` and stop resubscribing to it."""
        p.validate_channel(channel)
        self._check_not_closed()
        self._channels.pop(channel, None)
        return self._submit({"type": "unsubscribe", "channel": channel}, control=True)

    def _check_not_closed(self) -> None:
        if self._closing:
            why = self._close_reason or "closed"
            raise ClientClosedError(f"the client stopped ({why}); create a new one to connect again ({self.url})")

    def _submit(self, message: dict[str, Any], control: bool = False) -> bool:
        self._check_not_closed()
        text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
        if message.get("type") in ("chat", "typing"):
            p.parse_client_frame(text)  # raises ProtocolError with the server's own words
        if control and (self._conn is None or not self._ready):
            # Remembered by the caller; the restore step sends it (now, or on the next connection).
            return True
        if len(self._queue) >= self.queue_limit:
            details = {"message": message, "queued": len(self._queue), "limit": self.queue_limit}
            self._record("overflow", {"queued": len(self._queue), "limit": self.queue_limit})
            if self.overflow == "raise":
                raise QueueFullError(
                    f"{len(self._queue)} messages already wait to be sent (queue_limit={self.queue_limit}) "
                    f"while the client is {self._state}; this one was not queued"
                )
            self._emit("overflow", details)
            return False
        self._queue.append(_Outgoing(message, text))
        self._queue_changed.set()
        return True

    # ------------------------------------------------------------ lifecycle

    def start(self) -> ReconnectingClient:
        """Start connecting on the running event loop; returns self. Calling it again does nothing."""
        self._check_not_closed()
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
        if self._closing:
            return
        self._closing = True
        self._close_code, self._close_reason = code, reason
        self._wake.set()
        conn = self._conn
        if conn is not None:
            self._spawn(_quietly(conn.close(code, reason)), "close")
        elif self._connect_task is not None and not self._connect_task.done():
            self._connect_task.cancel()
        if self._task is None:
            self._finish(code, reason)

    async def aclose(self, timeout: float = 5.0) -> None:
        """:meth:`close`, then wait (at most ``timeout`` s) until the client has stopped."""
        self.close()
        if self._task is not None and not self._task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except asyncio.TimeoutError:
                self._task.cancel()
                raise TimeoutError(f"the client did not stop within {timeout:g} s") from None

    async def __aenter__(self) -> ReconnectingClient:
        return self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _finish(self, code: int | None, reason: str) -> None:
        if self._state == "closed":
            return
        self._state = "closed"
        details = {"code": code, "reason": reason, "unsent": len(self._queue) + len(self._unacked)}
        self._record("closed", details)
        self._progress.set()
        self._emit("closed", details)

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=f"wslab ReconnectingClient {name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self) -> None:
        stop: tuple[int | None, str] | None = None
        try:
            while not self._closing:
                self._state = "connecting"
                self._record("connecting", {"attempt": self.attempt})
                self._connect_task = self._spawn(self._open(), "connect")
                try:
                    conn = await self._connect_task
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if self._closing and not (task is not None and task.cancelling()):
                        break  # close() gave up this attempt
                    raise
                except Exception as exc:
                    self._record("failed", {"attempt": self.attempt, "error": _describe(exc)})
                    self._backoff.on_close(self.clock.monotonic())
                else:
                    code, reason = await self._session(conn)
                    if not self._closing and not self.should_reconnect(code):
                        stop = (code, reason)
                        break
                if self._closing:
                    break
                self._state = "offline"
                delay = self._backoff.next_delay()
                details = {"attempt": self._backoff.attempt, "delay": delay}
                self._record("reconnecting", details)
                self._emit("reconnecting", details)
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                except asyncio.TimeoutError:
                    pass
        finally:
            self._conn = None
            if stop is not None:
                self._closing = True
                self._close_code = stop[0] if stop[0] is not None else 1006
                self._close_reason = f"not reconnecting after close code {stop[0]}: {stop[1]}".rstrip(": ")
                self._finish(stop[0], self._close_reason)
            else:
                self._finish(self._close_code, self._close_reason)

    async def _open(self) -> ClientConnection:
        return await connect(
            self.url,
            open_timeout=self.open_timeout,
            close_timeout=self.close_timeout,
            ping_interval=None,  # our own heartbeat, with a stated bound
            proxy=None if _host(self.url) in _LOOPBACK else True,
        )

    async def _session(self, conn: ClientConnection) -> tuple[int | None, str]:
        """Run one connection from open to close; returns its close code and reason."""
        self._conn = conn
        self._connections += 1
        opened = self.clock.monotonic()
        self._backoff.on_open(opened)
        self._dead_reason = None
        self._ready = False
        helpers = [self._spawn(self._restore_then_write(conn), "writer")]
        if self.heartbeat_interval is not None:
            helpers.append(self._spawn(self._heartbeat(conn), "heartbeat"))
        if self._closing:  # closed while the handshake ran
            self._spawn(_quietly(conn.close(self._close_code, self._close_reason)), "close")
        try:
            async for frame in conn:
                self._on_frame(frame)
        except ConnectionClosed:
            pass
        finally:
            for task in helpers:
                task.cancel()
            self._conn = None
            if self._welcome is not None and not self._welcome.done():
                self._welcome.cancel()
            for waiter in self._subscribed.values():
                waiter.cancel()
            self._subscribed = {}
        try:
            await asyncio.wait_for(asyncio.shield(conn.wait_closed()), self.close_timeout + 1.0)
        except asyncio.TimeoutError:
            if conn.transport is not None:
                conn.transport.abort()
        proto = conn.protocol
        was_clean = proto.close_rcvd is not None and proto.close_sent is not None
        code: int | None = proto.close_rcvd.code if proto.close_rcvd is not None else None
        reason = proto.close_rcvd.reason if proto.close_rcvd is not None else (self._dead_reason or "connection lost")
        now = self.clock.monotonic()
        self._backoff.on_close(now)
        self._state = "offline"
        details = {"code": code if code is not None else 1006, "reason": reason, "was_clean": was_clean, "uptime": now - opened}
        if self._ready:
            self._ready = False
            self._record("disconnect", details)
            self._emit("disconnect", details)
        else:
            self._record("failed", {"attempt": self.attempt, "error": f"closed before ready: {details['code']} {reason}".strip()})
        return code, reason

    async def _restore_then_write(self, conn: ClientConnection) -> None:
        """Resubscribe, re-join, resend unacked chats, then send the queue for as long as the connection lives."""
        assert self._loop is not None
        try:
            self._subscribed = {channel: self._loop.create_future() for channel in self._channels}
            sent_channels = set(self._subscribed)
            sent_join = dict(self._join) if self._join is not None else None
            for channel in list(self._subscribed):
                await self._paced_send(conn, json.dumps({"type": "subscribe", "channel": channel}))
            if self._join is not None and not await self._rejoin(conn):
                return
            if self._subscribed:
                # "connect" means the channels flow again: wait for the server's "subscribed".
                try:
                    await asyncio.wait_for(asyncio.gather(*self._subscribed.values()), self.open_timeout)
                except asyncio.TimeoutError:
                    self._record("error", {"code": "resubscribe-timeout", "message": "no 'subscribed' reply; going on"})
                self._subscribed = {}
            resent = 0
            for text in list(self._unacked.values()):
                await self._paced_send(conn, text)
                resent += 1
            flushed = 0
            # Send what queued up while offline, then go "open": from then on send()
            # only appends, and this loop keeps draining in order.
            while True:
                while self._queue:
                    await self._send_next(conn)
                    flushed += 1
                # join/subscribe/unsubscribe called while this restore ran: catch up.
                late: list[dict[str, Any]] = []
                late += [{"type": "subscribe", "channel": c} for c in self._channels if c not in sent_channels]
                late += [{"type": "unsubscribe", "channel": c} for c in sent_channels if c not in self._channels]
                if self._join is not None and self._join != sent_join:
                    late.append(dict(self._join, type="join"))
                if not late:
                    break
                sent_channels, sent_join = set(self._channels), self._join
                for message in late:
                    await self._paced_send(conn, json.dumps(message))
            self._state = "open"
            self._ready = True
            details = {"url": self.url, "attempt": self.attempt, "reconnect": self._connections > 1, "resent": resent, "flushed": flushed}
            self._record("connect", details)
            self._emit("connect", details)
            while True:
                while not self._queue:
                    self._queue_changed.clear()
                    await self._queue_changed.wait()
                await self._send_next(conn)
        except ConnectionClosed:
            return

    async def _paced_send(self, conn: ClientConnection, text: str) -> None:
        if self._pacer is not None:
            assert self._loop is not None
            # Pacing, not synchronisation: each wait is at most 1 / send_rate seconds.
            while (wait := self._pacer.reserve(self._loop.time())) > 0:
                await asyncio.sleep(wait)
        await conn.send(text)

    def _resend_unacked_soon(self) -> None:
        """The server rate-limited a frame (it says: send it again later); resend unacked chats in a second."""
        if self._resend_pending or not self._unacked:
            return
        self._resend_pending = True

        async def later(conn: ClientConnection | None) -> None:
            try:
                await asyncio.sleep(1.0)
            finally:
                self._resend_pending = False
            if conn is None or self._conn is not conn:
                return  # a reconnect resends them anyway
            queued = {item.text for item in self._queue}
            for text in reversed(list(self._unacked.values())):
                if text not in queued:
                    self._queue.appendleft(_Outgoing(json.loads(text), text))
            self._queue_changed.set()

        self._spawn(later(self._conn), "resend")

    async def _send_next(self, conn: ClientConnection) -> None:
        item = self._queue[0]
        await self._paced_send(conn, item.text)  # raises ConnectionClosed before writing: the item stays queued
        if self._queue and self._queue[0] is item:
            self._queue.popleft()
        self._progress.set()
        if item.message.get("type") == "chat" and self._join is not None:
            self._unacked[str(item.message["id"])] = item.text

    async def _rejoin(self, conn: ClientConnection) -> bool:
        assert self._join is not None and self._loop is not None
        join = dict(self._join, type="join")
        if self._last_seq is not None:
            join["since"] = self._last_seq
        self._welcome = self._loop.create_future()
        await self._paced_send(conn, json.dumps(join))
        try:
            answer = await asyncio.wait_for(self._welcome, self.open_timeout)
        except asyncio.TimeoutError:
            self._dead_reason = f"no answer to join within {self.open_timeout:g} s"
            await _quietly(conn.close(_RETRY_JOIN_CODE, "re-join timed out"))
            return False
        if answer.get("type") == "welcome":
            if "since" in join and answer.get("history_complete") is False:
                # More was said while we were away than the server keeps: say so, loudly.
                oldest = min((m.get("seq", 0) for m in answer.get("history", [])), default=answer.get("seq"))
                self._client_error(
                    "history-gap",
                    f"messages {join['since'] + 1} to {oldest - 1 if isinstance(oldest, int) else '?'} of room "
                    f"{self._join['room']!r} were sent while offline and are no longer kept by the server",
                    "",
                )
            return True
        if answer.get("code") == p.ErrorCode.NAME_TAKEN and self._connections > 1:
            # The server still holds our previous connection: drop this one and retry later.
            self._dead_reason = "re-join refused: name still taken by the previous connection"
            await _quietly(conn.close(_RETRY_JOIN_CODE, "re-join refused, retrying"))
            return False
        # A first join that failed (bad or taken name): forget it; the error event told the user.
        self._join = None
        return True

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

    # ------------------------------------------------------------ incoming

    def _on_frame(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            self._client_error("binary-frame", "the server sent a binary frame; this client reads JSON text", frame.hex()[:200])
            return
        try:
            message = json.loads(frame)
        except ValueError as exc:
            self._client_error("invalid-json", f"the server sent text that is not JSON: {exc}", frame)
            return
        if not isinstance(message, dict):
            self._client_error("not-an-object", f"the server sent JSON that is not an object: {type(message).__name__}", frame)
            return
        type_ = message.get("type")
        self._bookkeep(type_, message)
        self._emit("message", message)
        if type_ == "error":
            if message.get("code") == p.ErrorCode.RATE_LIMITED:
                self._resend_unacked_soon()
            details = {**message, "source": "server", "raw": frame}
            self._record("error", {"code": message.get("code"), "message": message.get("message")})
            self._emit("error", details)
        elif isinstance(type_, str) and type_ not in LIFECYCLE_EVENTS:
            self._emit(type_, message)

    def _bookkeep(self, type_: Any, message: dict[str, Any]) -> None:
        if type_ == "ack":
            self._unacked.pop(str(message.get("id")), None)
            self._progress.set()
        elif type_ == "chat":
            seq = message.get("seq")
            if self._join is not None and message.get("room") == self._join["room"] and isinstance(seq, int):
                self._last_seq = seq if self._last_seq is None else max(self._last_seq, seq)
        elif type_ == "welcome":
            seq = message.get("seq")
            if isinstance(seq, int):
                self._last_seq = seq if self._last_seq is None else max(self._last_seq, seq)
            if self._welcome is not None and not self._welcome.done():
                self._welcome.set_result(message)
        elif type_ == "subscribed":
            waiter = self._subscribed.get(str(message.get("channel")))
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        elif type_ == "error":
            if self._welcome is not None and not self._welcome.done():
                self._welcome.set_result(message)

    def _client_error(self, code: str, text: str, raw: str) -> None:
        details = {"type": "error", "code": code, "message": text, "raw": raw, "source": "client"}
        self._record("error", {"code": code, "message": text})
        self._emit("error", details)

    def __repr__(self) -> str:
        return f"<ReconnectingClient {self.url} {self._state} attempt={self.attempt} queued={self.queued}>"


def _takes_argument(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params
    )


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


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or ""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "timed out during the opening handshake"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"{type(exc).__name__}: {exc}"
