"""A TCP link that can be cut for real: a proxy on loopback, in its own thread (lesson 8).

::

    link = cuttable_link(engine.url)            # redis://127.0.0.1:PORT/0 -> the same, through the proxy
    node = start_node(link.url)                 # this node reaches Valkey through the link
    link.cut()                                  # every connection through it is reset; new ones are refused
    link.restore()                              # new connections go through again

Between a node and its engine (or any client and server on 127.0.0.1), the link
forwards bytes both ways. :meth:`CuttableLink.cut` aborts every connection through
it (each side gets a reset, as when a cable is pulled or a NAT forgets the
connection) and refuses new ones until :meth:`CuttableLink.restore`: a real cut,
which the client's own code must notice and recover from. It runs in a
:class:`~wslab.kernel.loop_thread.LoopThread`, so a notebook cell can cut and
restore it while the kernel's own loop waits on something else; every call is
bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from urllib.parse import urlsplit, urlunsplit

from wslab.kernel.loop_thread import LoopThread

__all__ = ["CuttableLink", "cuttable_link", "relay", "stop_links", "CALL_TIMEOUT"]

CALL_TIMEOUT = 5.0
"""Seconds a call from the notebook (start, cut, restore, stop) may take."""

_links: list[CuttableLink] = []
_lock = threading.Lock()


async def relay(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    """Copy ``src`` to ``dst`` until ``src`` ends or either side fails, then close ``dst`` (one direction of a
    proxied connection: run one each way). Waits as long as the connection lives; a link bounds it by
    aborting the transports (:meth:`CuttableLink.cut`)."""
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    except (OSError, ConnectionError):
        pass
    finally:
        dst.close()


class CuttableLink:
    """A proxy on 127.0.0.1 that forwards to ``target_port`` and can be cut (see the module's docstring).

    ``url`` is ``target_url`` with the proxy's port: hand it to the client instead.
    """

    def __init__(self, target_url: str) -> None:
        parts = urlsplit(target_url)
        if parts.hostname not in ("127.0.0.1", "localhost") or parts.port is None:
            raise ValueError(f"a link goes to a port on 127.0.0.1, got {target_url!r}")
        self.target_url = target_url
        self.target_port = parts.port
        self.port = 0
        self.cuts = 0
        """How many times the link was cut."""
        self._is_cut = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = LoopThread("the link", "wslab-link", not_running="the link is stopped")

    @property
    def url(self) -> str:
        """``target_url`` through the link: the same URL, the link's port."""
        parts = urlsplit(self.target_url)
        netloc = f"{parts.hostname}:{self.port}"
        if parts.username or parts.password:
            netloc = f"{parts.username or ''}:{parts.password or ''}@{netloc}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    @property
    def is_cut(self) -> bool:
        return self._is_cut

    @property
    def running(self) -> bool:
        return self._thread.running

    @property
    def connections(self) -> int:
        """How many connections go through the link now."""
        return len(self._writers) // 2

    def start(self) -> CuttableLink:
        async def listen() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]

        self._thread.start(listen, CALL_TIMEOUT)
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._is_cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.target_port), CALL_TIMEOUT
            )
        except (OSError, TimeoutError):
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(relay(reader, up_writer), relay(up_reader, writer))
        finally:
            self._writers -= {writer, up_writer}

    def cut(self) -> int:
        """Reset every connection through the link and refuse new ones; returns how many were cut."""

        async def run() -> int:
            self._is_cut = True
            self.cuts += 1
            writers, self._writers = list(self._writers), set()
            for writer in writers:
                writer.transport.abort()
            return len(writers) // 2

        return self._thread.call(run(), CALL_TIMEOUT)

    def restore(self) -> None:
        """Let new connections through again (the cut ones stay cut: their clients must reconnect)."""

        async def run() -> None:
            self._is_cut = False

        self._thread.call(run(), CALL_TIMEOUT)

    def stop(self) -> None:
        """Cut the link and stop listening, within :data:`CALL_TIMEOUT` seconds."""

        async def shutdown() -> None:
            self._is_cut = True
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()
            if self._server is not None:
                self._server.close()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._server.wait_closed(), 1)

        self._thread.stop(shutdown(), CALL_TIMEOUT)

    def __enter__(self) -> CuttableLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if not self.running else ("cut" if self._is_cut else "up")
        return f"<wslab link {state}: 127.0.0.1:{self.port} -> 127.0.0.1:{self.target_port}>"


def cuttable_link(target_url: str) -> CuttableLink:
    """Start a :class:`CuttableLink` to ``target_url`` (a URL on 127.0.0.1); :func:`stop_links` stops them all."""
    link = CuttableLink(target_url).start()
    with _lock:
        _links.append(link)
    return link


def stop_links() -> None:
    """Stop every link :func:`cuttable_link` started that still runs."""
    with _lock:
        links, _links[:] = list(_links), []
    for link in links:
        link.stop()
