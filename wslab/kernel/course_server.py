"""The course's server in the kernel: :func:`start_server` and the :class:`ServerHandle` it returns.

The :class:`~wslab.server.chat_server.ChatServer` runs in a
:class:`~wslab.kernel.loop_thread.LoopThread` (a daemon thread with its own
event loop), so it keeps serving while a cell blocks. The handle reaches into
it from any thread: its URLs, the server's API (``publish``, ``kick``...), and
the faults the reconnect lessons inject (``drop_all``, ``outage``,
``refuse_new``, ``close_on_open``, ``stall``).

:func:`start_server` is idempotent within a process: calling it again returns
the running server instead of failing with "address in use" or leaking a
second one. Every call that crosses threads waits with a timeout.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Coroutine
from dataclasses import asdict, replace
from typing import Any, TypeVar

from wslab.core import protocol as p
from wslab.core.clock import SYSTEM_CLOCK, Clock
from wslab.core.hub import RoomSnapshot
from wslab.kernel.jupyter_links import proxied_url
from wslab.kernel.loop_thread import LoopThread
from wslab.server.chat_server import ChatServer, ServerEvent
from wslab.server.config import ServerConfig

__all__ = [
    "ServerHandle",
    "start_server",
    "running_servers",
    "stop_all",
    "START_TIMEOUT",
    "CALL_TIMEOUT",
    "EXIT_TIMEOUT",
]

T = TypeVar("T")

START_TIMEOUT = 10.0
"""Seconds :func:`start_server` waits for the server to listen."""

CALL_TIMEOUT = 10.0
"""Seconds a call from another thread into the server's loop may take."""

_registry: dict[tuple[str, int], ServerHandle] = {}
_registry_lock = threading.Lock()


class ServerHandle:
    """A running server and its thread; what :func:`start_server` returns.

    Attributes: ``host``, ``port``, and the URLs ``url`` (``ws://host:port``,
    ``wss://`` with TLS), ``echo_url``, ``chat_url``, ``http_url``, ``healthz_url``,
    and ``browser_url`` (the page for a browser, proxied under JupyterHub).
    Use it as a context manager to stop it at the end of a block.
    """

    def __init__(self, config: ServerConfig, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self.server = ChatServer(config, clock=clock)
        self._host = LoopThread(
            "the wslab server", "wslab-server",
            not_running="the wslab server is not running; start it with wslab.start_server()",
        )

    # ------------------------------------------------------------ lifecycle

    def _start(self) -> None:
        self._host.start(self.server.start, START_TIMEOUT)

    @property
    def running(self) -> bool:
        """True until :meth:`stop` has finished."""
        return self._host.running

    def stop(self, timeout: float = 5.0) -> None:
        """Close every client with 1001, stop listening and end the thread (at most ``timeout`` s).

        Safe to call twice.
        """
        with _registry_lock:
            if _registry.get((self.host, self.port)) is self:
                del _registry[(self.host, self.port)]
        self._host.stop(self.server.stop() if self._host.running else None, timeout)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------ crossing threads

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT) -> T:
        """Run ``coro`` on the server's loop and wait for it, at most ``timeout`` s.

        Raises :class:`RuntimeError` when the server does not run and
        :class:`TimeoutError` when ``coro`` takes longer.
        """
        return self._host.call(coro, timeout)

    def _call_soon(self, fn: Any, *args: Any) -> None:
        async def run() -> Any:
            return fn(*args)

        self.call(run())

    # ------------------------------------------------------------ addresses

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'wss' if self.config.certfile else 'ws'}://{host}:{self.port}"

    @property
    def echo_url(self) -> str:
        return f"{self.url}/echo"

    @property
    def chat_url(self) -> str:
        return f"{self.url}/chat"

    @property
    def http_url(self) -> str:
        return "http" + self.url[2:] + "/"

    @property
    def healthz_url(self) -> str:
        return self.http_url + "healthz"

    @property
    def browser_url(self) -> str:
        """The page at ``/`` for a browser: through jupyter-server-proxy under such a Jupyter server, else ``http_url``.

        See :mod:`wslab.kernel.jupyter_links`. From the kernel itself, use ``http_url``.
        """
        return proxied_url(self.port, "", direct=self.http_url)

    # ------------------------------------------------------------ faults, for the reconnect lessons

    def drop_all(self, code: int = p.CLOSE_SERVICE_RESTART, reason: str = "dropped on purpose") -> int:
        """Close every open connection with ``code``; returns how many were closed."""

        async def run() -> int:
            return self.server.drop_all(code, reason)

        return self.call(run())

    def outage(self, seconds: float, *, wait: bool = False) -> None:
        """Go down for ``seconds`` and come back on the same port.

        Returns at once (the outage runs in the server's thread) unless ``wait``
        is true, in which case it returns once the server is back.
        """
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        went_down = threading.Event()

        async def run() -> None:
            self.server.listeners.append(lambda e: went_down.set() if "going down" in e.text else None)
            await self.server.outage(seconds)

        future = self._host.submit(run())
        if wait:
            future.result(seconds + CALL_TIMEOUT)
        else:
            went_down.wait(CALL_TIMEOUT)

    def wait_up(self, timeout: float = CALL_TIMEOUT) -> None:
        """Block until the server listens again (after :meth:`outage`)."""
        self.call(self.server.wait_up(timeout), timeout + 1.0)

    def refuse_new(self, refuse: bool = True) -> None:
        """Answer new WebSocket handshakes with HTTP 503 (or stop doing so)."""
        self.server.refusing = refuse

    def stall(self) -> int:
        """Make every open connection half-open (see :meth:`ChatServer.stall`); returns how many.

        TCP stays open, but the server stops reading them and stops answering
        their pings: only a client heartbeat notices. New connections are served.
        """

        async def run() -> int:
            return self.server.stall()

        return self.call(run())

    def close_on_open(self, code: int | None = p.CLOSE_SERVICE_RESTART) -> None:
        """Accept each new connection, then close it at once with ``code`` (None stops this)."""
        self.server.close_on_open = code

    # ------------------------------------------------------------ the server's API, from any thread

    def publish(self, channel: str, data: Any) -> None:
        """Send an ``update`` to the subscribers of ``channel``, opening the channel if needed.

        Raises :class:`ValueError` (and publishes nothing) for an invalid channel
        name or ``data`` that cannot be sent as JSON.
        """
        self._call_soon(self.server.publish, channel, data)

    def open_channel(self, channel: str) -> None:
        """Open ``channel``, so that clients may subscribe to it before its first update.

        Clients that subscribe to a channel that is not open get an
        ``unknown-channel`` error. Opening a channel twice is harmless; raises
        :class:`ValueError` for an invalid name.
        """
        self._call_soon(self.server.open_channel, channel)

    def kick(self, room: str, name: str) -> None:
        """Close ``name``'s connection in ``room`` with 4003 (no-op if absent); :class:`ValueError` for a bad name."""
        self._call_soon(self.server.kick, room, name)

    def mute(self, room: str, name: str, muted: bool = True) -> None:
        """Mute (or unmute) ``name`` in ``room``; :class:`ValueError` for a bad name."""
        self._call_soon(self.server.mute, room, name, muted)

    def ban(self, room: str, name: str, banned: bool = True) -> None:
        """Ban ``name`` from ``room`` (closed with 4004, joins refused), or lift the ban; :class:`ValueError`
        for a bad name."""
        self._call_soon(self.server.ban, room, name, banned)

    def snapshot(self, room: str = p.DEFAULT_ROOM) -> RoomSnapshot:
        async def run() -> RoomSnapshot:
            return self.server.hub.snapshot(room)

        return self.call(run())

    def events(self) -> list[ServerEvent]:
        """The server's recent log lines, oldest first."""
        return list(self.server.events)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<wslab server {state} at {self.url}>"


def start_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    replace_running: bool = False,
    clock: Clock = SYSTEM_CLOCK,
    **options: Any,
) -> ServerHandle:
    """Start the wslab server in a background thread, or return the one already running.

    Args:
        host: interface to bind; loopback by default, so nothing outside this
            machine can connect.
        port: 0 lets the system choose a free port. A fixed port that another
            program holds raises :class:`~wslab.server.PortInUseError`.
        replace_running: stop a running server with other options and start anew.
        options: any field of :class:`~wslab.server.ServerConfig`, for example
            ``typing_timeout=1.0``.

    A second call with the same host (and the same or no port) returns the
    running server. Asking for different options while one runs raises
    :class:`ValueError` naming them, unless ``replace_running`` is true.
    """
    config = ServerConfig(host=host, port=port, **options)
    with _registry_lock:
        for (run_host, run_port), handle in list(_registry.items()):
            if not handle.running:
                del _registry[(run_host, run_port)]
                continue
            if run_host != host or port not in (0, run_port):
                continue
            wanted = asdict(replace(config, port=handle.config.port))
            differing = sorted(k for k, v in wanted.items() if asdict(handle.config)[k] != v)
            if not differing:
                return handle
            if not replace_running:
                raise ValueError(
                    f"a wslab server is already running at {handle.url} with other options "
                    f"({', '.join(differing)}). Call server.stop() first, or pass replace_running=True."
                )
            break
        else:
            handle = None
    if handle is not None:
        handle.stop()
    new = ServerHandle(config, clock)
    new._start()
    with _registry_lock:
        _registry[(host, new.port)] = new
    return new


def running_servers() -> list[ServerHandle]:
    """The servers :func:`start_server` started in this process and that still run."""
    with _registry_lock:
        return [h for h in _registry.values() if h.running]


def stop_all(timeout: float = 1.0) -> None:
    """Stop every running server, each within ``timeout`` seconds."""
    for handle in running_servers():
        handle.stop(timeout)


EXIT_TIMEOUT = 0.5
"""At interpreter exit (a kernel shutting down), the most time spent saying goodbye to clients.

Clients in other processes get 1001 if their close handshake is quick; clients in
this process cannot answer any more (their loop has stopped), so the wait is short
and kernel shutdown is not held up.
"""


def _stop_at_exit() -> None:
    stop_all(EXIT_TIMEOUT)


atexit.register(_stop_at_exit)
