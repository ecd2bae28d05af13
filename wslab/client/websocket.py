"""The browser's ``WebSocket`` API, in Python, following the WHATWG WebSockets standard.

What the seed writes in JavaScript reads the same here, in snake_case::

    ws = WebSocket(server.echo_url)                  # const ws = new WebSocket(url)
    ws.onopen = lambda event: ws.send("Hello")       # ws.onopen = () => ws.send("Hello")
    ws.add_event_listener("message", show)           # ws.addEventListener("message", show)
    ws.ready_state == WebSocket.OPEN                 # ws.readyState === WebSocket.OPEN
    ws.close(1000, "Normal closure")                 # ws.close(1000, "Normal closure")

Contracts:

* constructing a :class:`WebSocket` never blocks: it checks the URL (raising
  :class:`DOMSyntaxError` at once, as the browser does) and starts connecting
  in a task on the *caller's* running event loop (a notebook cell's loop, or
  the loop of ``asyncio.run(main())``);
* every event (``open``, ``message``, ``error``, ``close``) is dispatched on
  that loop, never from inside :meth:`WebSocket.send` or
  :meth:`WebSocket.close`, so callbacks may touch widgets;
* ``open`` fires at most once, ``close`` exactly once, and always last; an
  ``error`` event comes just before a ``close`` whose ``was_clean`` is false;
* frames go out in the order :meth:`WebSocket.send` was called, and before
  the close frame of a later :meth:`WebSocket.close`;
* every Python-only wait (:meth:`WebSocket.wait_for`,
  :meth:`WebSocket.next_message`, ``async with``) has a timeout and raises
  :class:`TimeoutError` saying what it waited for.

``docs/browser-api.md`` maps each browser feature to this class, names the
test behind each row, and lists the deliberate differences.

Longer than 500 lines because it is one interface of the standard, whole: the
states, the events and their order, ``send``/``close`` and their exceptions,
``bufferedAmount`` and the Python-only waits share one connection task; split,
each half would have to reach into the other's state.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import LoggerLike, Subprotocol

from wslab.core.errors import DOMException, DOMSyntaxError, InvalidAccessError, InvalidStateError

__all__ = [
    "WebSocket",
    "Event",
    "MessageEvent",
    "CloseEvent",
    "ErrorEvent",
    "DOMException",
    "InvalidStateError",
    "InvalidAccessError",
    "DOMSyntaxError",
    "CONNECTING",
    "OPEN",
    "CLOSING",
    "CLOSED",
    "MAX_REASON_BYTES",
    "Listener",
]

CONNECTING = 0
OPEN = 1
CLOSING = 2
CLOSED = 3
_STATE_NAMES = ("CONNECTING", "OPEN", "CLOSING", "CLOSED")

MAX_REASON_BYTES = 123
"""A close reason may take at most this many bytes in UTF-8 (125 minus the 2-byte code)."""

_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_LIVE: set[asyncio.Task[Any]] = set()  # keeps running sockets alive, as a browser does


# --------------------------------------------------------------------------
# Events.
# --------------------------------------------------------------------------


class Event:
    """A plain event, as dispatched for ``open`` (and ``error`` in browsers).

    ``target`` is the :class:`WebSocket` that dispatched it (None before dispatch).
    """

    def __init__(self, type: str) -> None:
        self.type = type
        self.target: WebSocket | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.type!r})"


class MessageEvent(Event):
    """A message arrived: ``data`` is :class:`str` for a text frame, :class:`bytes` for a binary one."""

    def __init__(self, data: str | bytes, *, type: str = "message", origin: str = "") -> None:
        super().__init__(type)
        self.data = data
        self.origin = origin

    def __repr__(self) -> str:
        shown: str | bytes = self.data
        if len(shown) > 60:
            shown = shown[:57] + "..." if isinstance(shown, str) else shown[:57] + b"..."
        return f"MessageEvent(data={shown!r})"


class CloseEvent(Event):
    """The connection closed: ``code`` (1006 when no close frame came), ``reason``, ``was_clean``."""

    def __init__(self, code: int = 0, reason: str = "", was_clean: bool = False, *, type: str = "close") -> None:
        super().__init__(type)
        self.code = code
        self.reason = reason
        self.was_clean = was_clean

    def __repr__(self) -> str:
        return f"CloseEvent(code={self.code}, reason={self.reason!r}, was_clean={self.was_clean})"


class ErrorEvent(Event):
    """An ``error`` event. Browsers give no details (on purpose); wslab adds ``message`` and ``error``."""

    def __init__(self, message: str = "", error: BaseException | None = None, *, type: str = "error") -> None:
        super().__init__(type)
        self.message = message
        self.error = error

    def __repr__(self) -> str:
        return f"ErrorEvent(message={self.message!r})"


Listener = Callable[[Any], None | Awaitable[Any]]


class _Entry:
    __slots__ = ("callback", "once", "removed", "handler")

    def __init__(self, callback: Listener | None, once: bool, handler: bool) -> None:
        self.callback = callback
        self.once = once
        self.removed = False
        self.handler = handler


class _HandlerAttribute:
    """``onopen`` and friends: an event handler attribute, registered like a listener (DOM rules)."""

    def __init__(self, type_: str) -> None:
        self.type = type_

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: WebSocket | None, owner: type) -> Any:
        if obj is None:
            return self
        return obj._handlers.get(self.type)

    def __set__(self, obj: WebSocket, fn: Listener | None) -> None:
        obj._set_handler(self.type, fn)


# --------------------------------------------------------------------------
# Parsing, as the browser does before connecting.
# --------------------------------------------------------------------------


def _parse_url(url: object) -> tuple[str, str]:
    """Return (serialised URL, host) or raise :class:`DOMSyntaxError` like ``new WebSocket(url)``."""
    if not isinstance(url, str):
        raise TypeError(f"WebSocket url must be a str, got {type(url).__name__}")
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise DOMSyntaxError(f"The URL {url!r} is invalid: {exc}.") from None
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme.lower(), parts.scheme.lower())
    if scheme not in ("ws", "wss"):
        raise DOMSyntaxError(
            "The URL's scheme must be 'ws' or 'wss' (or http/https). "
            f"{parts.scheme or 'no scheme'!r} is not allowed: {url!r}."
        )
    if "#" in text:
        raise DOMSyntaxError(f"The URL contains a fragment identifier ('#...'); WebSocket URLs cannot: {url!r}.")
    if not parts.hostname:
        raise DOMSyntaxError(f"The URL has no host: {url!r}.")
    netloc = parts.netloc
    if port is not None and port == (443 if scheme == "wss" else 80):
        netloc = netloc.rsplit(":", 1)[0]
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, "")), parts.hostname


def _parse_protocols(protocols: str | Iterable[str] | None) -> list[str]:
    if protocols is None:
        return []
    items = [protocols] if isinstance(protocols, str) else list(protocols)
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, str) or not item or not set(item) <= _TOKEN_CHARS:
            raise DOMSyntaxError(
                f"The subprotocol {item!r} is invalid: it must be a non-empty token (letters, digits, !#$%&'*+-.^_`|~)."
            )
        if item in seen:
            raise DOMSyntaxError(f"The subprotocol {item!r} is duplicated.")
        seen.add(item)
    return items


def _check_close(code: int | None, reason: str) -> tuple[int | None, str]:
    if code is not None:
        if isinstance(code, bool) or not isinstance(code, int):
            raise TypeError(f"close code must be an int, got {type(code).__name__}")
        if code != 1000 and not 3000 <= code <= 4999:
            raise InvalidAccessError(
                f"The close code must be either 1000, or between 3000 and 4999. {code} is neither."
            )
    if not isinstance(reason, str):
        raise TypeError(f"close reason must be a str, got {type(reason).__name__}")
    # A USVString: lone surrogates become U+FFFD, as in the browser.
    reason = reason.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    size = len(reason.encode("utf-8"))
    if size > MAX_REASON_BYTES:
        raise DOMSyntaxError(
            f"The close reason must not be greater than {MAX_REASON_BYTES} UTF-8 bytes; it has {size}."
        )
    return code, reason


# --------------------------------------------------------------------------
# The WebSocket.
# --------------------------------------------------------------------------


class WebSocket:
    """A WebSocket client with the browser's API.

    Args:
        url: ``ws://`` or ``wss://`` URL (``http(s)://`` is accepted and
            converted, as current browsers do). A bad one raises
            :class:`DOMSyntaxError` here.
        protocols: one subprotocol name or a list of them; the server's choice
            ends up in :attr:`protocol`.
        open_timeout: Python only: give up connecting after this many seconds
            (``error`` then ``close`` with 1006). Browsers wait for the OS.
        close_timeout: Python only: bound on the closing handshake.
        ping_interval, ping_timeout: Python only: keepalive pings; a peer that
            does not answer within ``ping_timeout`` is closed with 1011.
        inbox_limit: how many unread messages :meth:`next_message` keeps
            (the oldest go first); events see every message regardless.
        logger: Python only: the connection's logger, handed to websockets'
            ``connect``; websockets logs every frame to it at DEBUG (a
            :class:`wslab.FrameInspector`'s ``logger`` shows them).

    Must be created while an event loop runs (in a notebook cell, or inside
    ``async def main()`` run by :func:`asyncio.run`); raises
    :class:`RuntimeError` otherwise.
    """

    CONNECTING: ClassVar[int] = CONNECTING
    OPEN: ClassVar[int] = OPEN
    CLOSING: ClassVar[int] = CLOSING
    CLOSED: ClassVar[int] = CLOSED

    onopen = _HandlerAttribute("open")
    onmessage = _HandlerAttribute("message")
    onerror = _HandlerAttribute("error")
    onclose = _HandlerAttribute("close")

    def __init__(
        self,
        url: str,
        protocols: str | Iterable[str] | None = None,
        *,
        open_timeout: float = 10.0,
        close_timeout: float = 5.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        max_size: int | None = 2**20,
        inbox_limit: int = 10_000,
        logger: LoggerLike | None = None,
    ) -> None:
        self._url, self._host = _parse_url(url)
        self._protocols = _parse_protocols(protocols)
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "wslab.WebSocket needs a running event loop: create it in a notebook cell, "
                "or inside 'async def main()' run with asyncio.run(main())"
            ) from None
        if open_timeout <= 0 or close_timeout <= 0:
            raise ValueError("open_timeout and close_timeout must be > 0 seconds")
        self._thread = threading.get_ident()
        self._open_timeout = open_timeout
        self._close_timeout = close_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._max_size = max_size
        self._logger = logger
        self._ready_state = CONNECTING
        self._buffered = 0
        self._protocol = ""
        self._extensions = ""
        self._listeners: dict[str, list[_Entry]] = {}
        self._handlers: dict[str, Listener] = {}
        self._outbox: deque[str | bytes | tuple[int | None, str]] = deque()
        self._outbox_ready = asyncio.Event()
        self._inbox: deque[str | bytes] = deque(maxlen=inbox_limit)
        self._waiters: list[tuple[str, asyncio.Future[Event]]] = []
        self._inbox_waiters: list[asyncio.Future[None]] = []
        self._fired: dict[str, Event] = {}  # the last open/error/close event
        self._conn: ClientConnection | None = None
        self._connect_task: asyncio.Task[ClientConnection] | None = None
        self._abort_connecting = False
        self._callback_tasks: set[asyncio.Task[Any]] = set()
        self._task = self._loop.create_task(self._run(), name=f"wslab WebSocket {self._url}")
        _LIVE.add(self._task)
        self._task.add_done_callback(_LIVE.discard)

    # ------------------------------------------------------------ attributes

    @property
    def url(self) -> str:
        """The URL, serialised (``http`` becomes ``ws``, an empty path becomes ``/``)."""
        return self._url

    @property
    def ready_state(self) -> int:
        """:attr:`CONNECTING` (0), :attr:`OPEN` (1), :attr:`CLOSING` (2) or :attr:`CLOSED` (3)."""
        return self._ready_state

    @property
    def buffered_amount(self) -> int:
        """Bytes passed to :meth:`send` not yet handed to the network (discarded ones stay counted)."""
        return self._buffered

    @property
    def protocol(self) -> str:
        """The subprotocol the server chose; ``""`` before open or when none."""
        return self._protocol

    @property
    def extensions(self) -> str:
        """The extensions the server accepted (``Sec-WebSocket-Extensions``); ``""`` before open or none."""
        return self._extensions

    @property
    def binary_type(self) -> str:
        """Always ``"bytes"``: binary messages arrive as :class:`bytes` (browsers: Blob or ArrayBuffer)."""
        return "bytes"

    # ------------------------------------------------------------ listeners

    def add_event_listener(self, type: str, callback: Listener, *, once: bool = False) -> None:
        """Call ``callback(event)`` for each ``type`` event; adding the same callback twice does nothing.

        A callback may be ``async def``: its coroutine is run as a task on the loop.
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        entries = self._listeners.setdefault(type, [])
        if any(not e.handler and e.callback == callback and e.once == once for e in entries):
            return
        entries.append(_Entry(callback, once, handler=False))

    def remove_event_listener(self, type: str, callback: Listener) -> None:
        """Stop calling ``callback`` for ``type`` events; no error if it was not added."""
        entries = self._listeners.get(type, [])
        for entry in entries:
            if not entry.handler and entry.callback == callback:
                entry.removed = True
        self._listeners[type] = [e for e in entries if not e.removed]

    def _set_handler(self, type_: str, fn: Listener | None) -> None:
        if fn is not None and not callable(fn):
            raise TypeError(f"on{type_} must be callable or None, got {fn!r}")
        entries = self._listeners.setdefault(type_, [])
        if fn is None:
            self._handlers.pop(type_, None)
            for entry in entries:
                if entry.handler:
                    entry.removed = True
            self._listeners[type_] = [e for e in entries if not e.removed]
            return
        if type_ not in self._handlers:
            # First set: takes its place among the listeners now (DOM rule).
            entries.append(_Entry(None, False, handler=True))
        self._handlers[type_] = fn

    def _dispatch(self, event: Event) -> None:
        event.target = self
        if event.type in ("open", "error", "close"):
            self._fired[event.type] = event
        for entry in list(self._listeners.get(event.type, ())):
            if entry.removed:
                continue
            fn = self._handlers.get(event.type) if entry.handler else entry.callback
            if entry.once:
                self.remove_event_listener(event.type, entry.callback)  # type: ignore[arg-type]
            if fn is not None:
                self._invoke(fn, event)
        for waiter_type, future in list(self._waiters):
            if waiter_type == event.type and not future.done():
                future.set_result(event)

    def _invoke(self, fn: Listener, event: Event) -> None:
        try:
            result = fn(event)
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._callback_tasks.add(task)
                task.add_done_callback(self._callback_done)
        except Exception as exc:
            self._report(exc, event.type)

    def _callback_done(self, task: asyncio.Task[Any]) -> None:
        self._callback_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._report(task.exception(), "async")  # type: ignore[arg-type]

    def _report(self, exc: BaseException, where: str) -> None:
        # Like a browser: report the exception, keep dispatching to the other listeners.
        self._loop.call_exception_handler(
            {"message": f"exception in a WebSocket {where!r} listener ({self._url})", "exception": exc}
        )

    # ------------------------------------------------------------ sending and closing

    def send(self, data: str | bytes | bytearray | memoryview) -> None:
        """Send a text (``str``) or binary (bytes-like) message.

        Raises :class:`InvalidStateError` while CONNECTING. While CLOSING or
        CLOSED the data is discarded but still counted in
        :attr:`buffered_amount`, as browsers do.
        """
        if self._ready_state == CONNECTING:
            raise InvalidStateError("Still in CONNECTING state: wait for the 'open' event before send().")
        if isinstance(data, str):
            size = len(data.encode("utf-8", "surrogatepass"))
        elif isinstance(data, (bytes, bytearray, memoryview)):
            data = bytes(data)
            size = len(data)
        else:
            raise TypeError(f"send() takes str or bytes, got {type(data).__name__}; use json.dumps() for objects")
        self._buffered += size
        if self._ready_state != OPEN:
            return
        self._enqueue(data)

    def close(self, code: int | None = 1000, reason: str = "") -> None:
        """Start the closing handshake (browser rules).

        Raises :class:`InvalidAccessError` for a code other than 1000 or 3000
        to 4999, :class:`DOMSyntaxError` for a reason over 123 UTF-8 bytes.
        Does nothing when already CLOSING or CLOSED. While CONNECTING, gives
        up connecting: ``error`` then ``close`` with code 1006.
        ``code=None`` sends a close frame without a code (the peer sees 1005),
        as the browser's ``close()`` without arguments does.
        """
        code, reason = _check_close(code, reason)
        if code is None and reason:
            code = 1000  # WHATWG: a reason without a code goes with 1000
        if self._ready_state in (CLOSING, CLOSED):
            return
        if self._ready_state == CONNECTING:
            self._ready_state = CLOSING
            self._abort_connecting = True
            if self._connect_task is not None:
                self._call(self._connect_task.cancel)
            return
        self._ready_state = CLOSING
        self._enqueue((code, reason))

    def _enqueue(self, item: str | bytes | tuple[int | None, str]) -> None:
        if threading.get_ident() == self._thread:
            self._outbox.append(item)
            self._outbox_ready.set()
        else:
            self._loop.call_soon_threadsafe(self._enqueue, item)

    def _call(self, fn: Callable[[], Any]) -> None:
        if threading.get_ident() == self._thread:
            fn()
        else:
            self._loop.call_soon_threadsafe(fn)

    # ------------------------------------------------------------ the connection task

    async def _run(self) -> None:
        try:
            await self._session()
        except asyncio.CancelledError:
            # The loop is shutting down (end of asyncio.run): drop the socket quietly.
            if self._conn is not None and self._conn.transport is not None:
                self._conn.transport.abort()
            self._ready_state = CLOSED
            raise
        except Exception as exc:  # a bug or an unexpected library error: never leave waiters hanging
            if self._conn is not None and self._conn.transport is not None:
                self._conn.transport.abort()
            if "close" not in self._fired:
                self._fail(f"unexpected error: {_describe(exc)}", exc)

    async def _open(self) -> ClientConnection:
        return await connect(
            self._url,
            subprotocols=[Subprotocol(p) for p in self._protocols] or None,
            open_timeout=self._open_timeout,
            close_timeout=self._close_timeout,
            ping_interval=self._ping_interval,
            ping_timeout=self._ping_timeout,
            max_size=self._max_size,
            proxy=None if self._host in _LOOPBACK else True,
            logger=self._logger,
        )

    async def _session(self) -> None:
        self._connect_task = self._loop.create_task(self._open())
        try:
            conn = await self._connect_task
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if (task is not None and task.cancelling()) or not self._abort_connecting:
                raise
            self._fail("WebSocket is closed before the connection is established.", None)
            return
        except Exception as exc:
            self._fail(f"could not connect to {self._url}: {_describe(exc)}", exc)
            return
        if self._abort_connecting:
            conn.transport.abort()
            self._fail("WebSocket is closed before the connection is established.", None)
            return
        self._conn = conn
        self._protocol = conn.subprotocol or ""
        self._extensions = conn.response.headers.get("Sec-WebSocket-Extensions", "") if conn.response else ""
        self._ready_state = OPEN
        self._dispatch(Event("open"))
        writer = self._loop.create_task(self._writer(conn))
        try:
            async for message in conn:
                self._inbox.append(message)
                self._wake_inbox()
                self._dispatch(MessageEvent(message, origin=_origin(self._url)))
        except ConnectionClosed:
            pass
        finally:
            writer.cancel()
        if self._ready_state == OPEN:
            self._ready_state = CLOSING  # the closing handshake has started (the server's side)
        # Let the closing handshake finish (websockets bounds it by close_timeout; this is a backstop).
        try:
            await asyncio.wait_for(asyncio.shield(conn.wait_closed()), self._close_timeout + 1.0)
        except TimeoutError:
            if conn.transport is not None:
                conn.transport.abort()
        proto = conn.protocol
        clean = proto.close_rcvd is not None and proto.close_sent is not None
        code = conn.close_code if conn.close_code is not None else 1006
        reason = conn.close_reason or ""
        self._ready_state = CLOSED
        if not clean:
            self._dispatch(ErrorEvent(f"the connection to {self._url} closed abnormally (code {code})"))
        self._dispatch(CloseEvent(code, reason, clean))
        self._wake_inbox()

    def _fail(self, message: str, exc: BaseException | None) -> None:
        self._ready_state = CLOSED
        self._dispatch(ErrorEvent(message, exc))
        self._dispatch(CloseEvent(1006, "", False))
        self._wake_inbox()

    async def _writer(self, conn: ClientConnection) -> None:
        try:
            while True:
                while not self._outbox:
                    self._outbox_ready.clear()
                    await self._outbox_ready.wait()
                item = self._outbox.popleft()
                if isinstance(item, tuple):
                    code, reason = item
                    # code None: a close frame without a body; the peer sees 1005.
                    await conn.close(code, reason)  # type: ignore[arg-type]
                    return
                await conn.send(item)
                self._buffered -= len(item.encode("utf-8", "surrogatepass")) if isinstance(item, str) else len(item)
        except ConnectionClosed:
            return

    def _wake_inbox(self) -> None:
        for inbox_waiter in self._inbox_waiters:
            if not inbox_waiter.done():
                inbox_waiter.set_result(None)
        self._inbox_waiters.clear()
        for waiter_type, future in list(self._waiters):
            if self._ready_state == CLOSED and not future.done() and waiter_type != "close":
                future.set_exception(self._closed_error(f"waiting for {waiter_type!r}"))

    def _closed_error(self, doing: str) -> ConnectionError:
        close = self._fired.get("close")
        error = self._fired.get("error")
        detail = f"code {close.code}" if isinstance(close, CloseEvent) else "no close code"
        if isinstance(close, CloseEvent) and close.reason:
            detail += f", reason {close.reason!r}"
        if isinstance(error, ErrorEvent) and error.message:
            detail += f"; {error.message}"
        return ConnectionError(f"the WebSocket to {self._url} is closed ({detail}) while {doing}")

    # ------------------------------------------------------------ Python conveniences (bounded waits)

    async def wait_for(self, type: str, timeout: float = 5.0) -> Event:
        """Wait for the next ``type`` event and return it; at most ``timeout`` seconds.

        ``open``, ``error`` and ``close`` happen at most once, so if one
        already happened it is returned at once (handy when the socket opened
        while you were typing the next cell). If the socket closes first,
        raises :class:`ConnectionError` (except when waiting for ``close``).
        Raises :class:`TimeoutError` naming the event and the state.
        """
        if type in self._fired:
            return self._fired[type]
        if self._ready_state == CLOSED:
            raise self._closed_error(f"waiting for {type!r}")
        future: asyncio.Future[Event] = self._loop.create_future()
        entry = (type, future)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"no {type!r} event within {timeout:g} s (ready_state is "
                f"{_STATE_NAMES[self._ready_state]}, url {self._url})"
            ) from None
        finally:
            self._waiters.remove(entry)

    async def next_message(self, timeout: float = 5.0) -> str | bytes:
        """Return the oldest unread message's data, waiting at most ``timeout`` seconds.

        Raises :class:`TimeoutError` if none comes, and :class:`ConnectionError`
        once the socket is closed and every message was read.
        """
        loop = self._loop
        deadline = loop.time() + timeout
        while not self._inbox:
            if self._ready_state == CLOSED:
                raise self._closed_error("waiting for a message")
            future: asyncio.Future[None] = loop.create_future()
            self._inbox_waiters.append(future)
            left = deadline - loop.time()
            try:
                if left <= 0:
                    raise TimeoutError
                await asyncio.wait_for(future, left)
            except TimeoutError:
                raise TimeoutError(
                    f"no message within {timeout:g} s "
                    f"(ready_state is {_STATE_NAMES[self._ready_state]}, url {self._url})"
                ) from None
        return self._inbox.popleft()

    async def __aenter__(self) -> WebSocket:
        await self.wait_for("open", self._open_timeout + 1.0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_for("close", self._close_timeout + 2.0)

    def __repr__(self) -> str:
        return f"<wslab.WebSocket {self._url} {_STATE_NAMES[self._ready_state]}>"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "timed out during the opening handshake"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running? start it with wslab.start_server())"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"
