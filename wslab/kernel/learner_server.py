"""Run a learner's own WebSocket handler in the background, re-runnably, from a notebook cell.

Lesson 6 has learners write handlers for :func:`websockets.asyncio.server.serve`. In a
notebook that raises three problems this module solves:

* **the cell must not block**: the server runs in a daemon thread with its own event
  loop (like :mod:`wslab.kernel.course_server`), so the kernel's loop stays free for clients;
* **the cell must be re-runnable**: running it again (with a fixed or an edited
  handler) stops the server it started before, within ``stop_timeout`` seconds, and
  serves the new handler **on the same port**, so clients and URLs stay valid;
* **errors must not vanish in a thread**: an exception in the handler is caught,
  the connection is closed with 1011, and the error is kept in
  :attr:`LearnerServer.errors` (with a traceback of the learner's frames, without
  file paths), logged to ``"wslab.kernel.learner_server"``, and raised in the notebook by
  :meth:`LearnerServer.raise_errors` or shown by :meth:`LearnerServer.report`.

Usage::

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    server = wslab.serve_handler(echo)       # ws://127.0.0.1:PORT
    ws = wslab.WebSocket(server.url)

Servers are remembered by ``name`` (the handler's ``__name__`` unless given).
"""

from __future__ import annotations

import asyncio
import atexit
import inspect
import logging
import sysconfig
import threading
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, cast

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from wslab.kernel.loop_thread import LoopThread
from wslab.server.pages import html_response

__all__ = [
    "Handler",
    "HandlerError",
    "LearnerServer",
    "serve_handler",
    "stop_handlers",
    "STOP_TIMEOUT",
    "TINY_CHAT_PAGE",
]

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())  # never Python's last-resort stderr: that would land in whichever cell runs

STOP_TIMEOUT = 2.0
"""Seconds a learner's server may take to stop (clients closed with 1001) before it is abandoned."""

Handler = Callable[[ServerConnection], Awaitable[None]]

_servers: dict[str, LearnerServer] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class HandlerError:
    """An exception raised by the learner's handler on one connection."""

    handler: str
    error: BaseException
    where: tuple[str, ...]
    """The learner's frames, innermost last, as ``"function, line N"`` (no file paths)."""

    @property
    def text(self) -> str:
        """One line for the learner: the error, and where in their code it was raised."""
        where = f" (in {self.where[-1]})" if self.where else ""
        return f"{type(self.error).__name__}: {self.error}{where}"

    def __str__(self) -> str:
        return f"handler {self.handler!r} raised {self.text}"


_LIBRARY_DIRS = tuple({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"]})


def _learner_frames(exc: BaseException) -> tuple[str, ...]:
    frames = []
    for frame in traceback.extract_tb(exc.__traceback__):
        # the learner's code lives in a notebook cell or a file of their own, never in a library
        if frame.filename == __file__ or frame.filename.startswith(_LIBRARY_DIRS) or "site-packages" in frame.filename:
            continue
        frames.append(f"{frame.name}, line {frame.lineno}")
    return tuple(frames)


class LearnerServer:
    """A learner's handler, served in a daemon thread with its own event loop.

    Attributes: ``name``, ``host``, ``port``, ``url`` (``ws://host:port``),
    ``errors`` (every :class:`HandlerError`, oldest first), ``connections``
    (how many connections the handler has served).
    """

    def __init__(
        self, handler: Handler, *, name: str, host: str, port: int, page: bool | str = False, **serve_options: Any
    ) -> None:
        if not callable(handler):
            raise TypeError(f"the handler must be an async function taking one connection, got {handler!r}")
        self.handler = handler
        self.name = name
        self.host = host
        self.port = port
        self.errors: list[HandlerError] = []
        self.connections = 0
        self.page = _page_html(page)
        if self.page is not None:
            serve_options["process_request"] = _serving_page(self.page, serve_options.get("process_request"))
        self._options = serve_options
        self._reported = 0
        self._server: Server | None = None
        self._host = LoopThread(f"the server for {name!r}", f"wslab-learner-{name}")
        self._stopping = False
        self._open: set[ServerConnection] = set()

    # ------------------------------------------------------------ lifecycle

    def _start(self, timeout: float) -> None:
        async def listen() -> Server:
            return await serve(self._wrapped, self.host, self.port, logger=log, **self._options)

        self._server = self._host.start(listen, timeout)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _wrapped(self, ws: ServerConnection) -> None:
        self.connections += 1
        self._open.add(ws)
        try:
            await self.handler(ws)
        except ConnectionClosed:
            pass  # the client went away: not the handler's fault
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            # stopping, and the handler ignored the close: end quietly (no traceback from this thread)
        except Exception as exc:
            error = HandlerError(self.name, exc, _learner_frames(exc))
            self.errors.append(error)
            log.warning("%s", error)
            try:
                await asyncio.wait_for(ws.close(1011, f"handler error: {type(exc).__name__}"[:120]), STOP_TIMEOUT)
            except Exception:
                pass
        finally:
            self._open.discard(ws)

    @property
    def running(self) -> bool:
        """True until :meth:`stop` has finished."""
        return self._host.running

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Close every client with 1001, stop listening and end the thread, all within ``timeout`` s.

        Safe to call twice. The port is free when this returns.
        """
        with _lock:
            if _servers.get(self.name) is self:
                del _servers[self.name]
        server = self._server
        if server is None or not self._host.running:
            return
        self._stopping = True

        async def close() -> None:
            server.close(close_connections=True)
            try:
                await asyncio.wait_for(server.wait_closed(), max(0.05, timeout * 0.6))
            except TimeoutError:
                # Clients that did not finish the close handshake in time (one whose event loop is
                # the very thread blocked in this call, for instance) are cut off: they still got
                # the close frame, so they see 1001.
                for conn in list(self._open):
                    conn.transport.abort()

        self._host.stop(close(), timeout)

    def __enter__(self) -> LearnerServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------ errors, in the notebook

    def raise_errors(self) -> None:
        """Raise the first error not raised yet, in the calling cell (chained to the original)."""
        if self._reported < len(self.errors):
            error = self.errors[self._reported]
            self._reported = len(self.errors)
            raise RuntimeError(str(error)) from error.error

    def report(self) -> str:
        """A summary for a cell's output: how many connections, and every error in one line each."""
        lines = [f"{self.name}: {self.connections} connection(s), {len(self.errors)} handler error(s)"]
        lines += [f"  {e.text}" for e in self.errors]
        return "\n".join(lines)

    # ------------------------------------------------------------ addresses

    @property
    def url(self) -> str:
        """``ws://host:port``, or ``wss://`` when served with ``ssl=``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "wss" if self._options.get("ssl") is not None else "ws"
        return f"{scheme}://{host}:{self.port}"

    @property
    def http_url(self) -> str:
        """The page's address (``http://host:port/``, ``https://`` over TLS), when started with ``page=``."""
        return "http" + self.url[2:] + "/"

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        errors = f", {len(self.errors)} handler error(s)" if self.errors else ""
        return f"<{self.name} server {state} at {self.url}{errors}>"


TINY_CHAT_PAGE = Path(__file__).resolve().parent.parent / "static" / "tiny-chat.html"
"""The page ``page=True`` serves: the seed's ``WebSocketClient``, verbatim, in a tiny chat UI
that speaks lesson 6's protocol (``join`` → ``welcome``, ``chat``, ``error``)."""


def _page_html(page: bool | str) -> str | None:
    if page is True:
        return TINY_CHAT_PAGE.read_text(encoding="utf-8")
    if page is False:
        return None
    if not isinstance(page, str):
        raise TypeError(f"page must be True, False or the HTML to serve, got {type(page).__name__}")
    return page


def _serving_page(page: str, then: Any) -> Any:
    """A ``process_request`` that answers plain HTTP GETs with ``page``, and hands the rest to ``then``."""
    async def process_request(connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return html_response(HTTPStatus.OK, page, csp=None)  # the seed's page runs inline script
        if then is None:
            return None
        result = then(connection, request)
        if inspect.isawaitable(result):
            result = await result
        return cast("Response | None", result)

    return process_request


def serve_handler(
    handler: Handler,
    *,
    name: str | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    page: bool | str = False,
    stop_timeout: float = STOP_TIMEOUT,
    start_timeout: float = 5.0,
    **serve_options: Any,
) -> LearnerServer:
    """Serve ``handler`` in a background thread; re-running stops the previous one first.

    Args:
        handler: ``async def handler(ws)``, as for :func:`websockets.asyncio.server.serve`.
        name: what the server is remembered by (default: the handler's ``__name__``).
            Calling again with the same name stops the running server within
            ``stop_timeout`` and serves the new handler on the same port.
        host: loopback by default: nothing outside this machine can connect.
        port: ``None`` reuses the port of the server of that name, or lets the
            system choose a free one the first time.
        page: ``True`` serves :data:`TINY_CHAT_PAGE` to browsers at ``http_url``
            (plain HTTP GETs); a string serves that HTML instead.
        serve_options: passed to :func:`~websockets.asyncio.server.serve`
            (``ping_interval=...``, ``process_request=...``, ``ssl=...``).

    Raises :class:`OSError` if the port cannot be bound, :class:`TimeoutError` if
    the server does not listen within ``start_timeout``.
    """
    name = name or getattr(handler, "__name__", None) or "handler"
    with _lock:
        old = _servers.get(name)
    if old is not None:
        if port is None:
            port = old.port
        old.stop(stop_timeout)
    new = LearnerServer(handler, name=name, host=host, port=port or 0, page=page, **serve_options)
    new._start(start_timeout)
    with _lock:
        _servers[name] = new
    return new


def stop_handlers(timeout: float = STOP_TIMEOUT) -> None:
    """Stop every server :func:`serve_handler` started, each within ``timeout`` s."""
    with _lock:
        servers = list(_servers.values())
    for server in servers:
        server.stop(timeout)


atexit.register(stop_handlers, 0.5)
