"""The asyncio shell around :class:`~wslab.core.hub.Hub`: one port, HTTP and WebSocket routes.

Routes on one port:

* ``/echo``: echoes every text and binary frame back;
* ``/chat``: the chat protocol (``docs/protocol.md``), driven by a :class:`Hub`;
* ``GET /healthz``: ``200 ok``;
* any other plain HTTP GET: a short page naming the endpoints (``/`` may be
  replaced by a page of your own, see ``index_html``);
* a WebSocket handshake on any other path: rejected with HTTP 404.

This module is thin on purpose: it reads frames, hands them to the hub and
performs the actions the hub returns. It runs on whatever event loop awaits
:meth:`ChatServer.start`; :mod:`wslab.kernel.course_server` gives it a thread of its own.
Output goes to :mod:`logging` (logger ``"wslab.server.chat_server"``) and to
:attr:`ChatServer.events`, never to ``print``.

Contracts:

* a failure to deliver to one connection (a write error, a bot that raises)
  is logged and skipped: it never closes another connection, never stops the
  other actions of the same event, and never changes the hub's state;
* the hub's timers (typing expiry, presence frames) run on one loop timer set
  for :meth:`Hub.next_deadline`, re-armed after every event; when the hub has
  nothing due there is no timer at all.

Longer than 500 lines because one object owns the port's connections: the
routes, the performing of the hub's actions, the one timer, the slow-consumer
watchdog, in-process peers and the faults the lessons inject all read and change
that one table of connections. What it is told is :mod:`wslab.server.config`,
what it says to plain HTTP is :mod:`wslab.server.pages`.
"""

from __future__ import annotations

import asyncio
import errno
import html
import logging
import random
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import OPEN

from wslab.core import protocol as p
from wslab.core.admission import Admission, Admitted
from wslab.core.clock import SYSTEM_CLOCK, Clock
from wslab.core.errors import PortInUseError
from wslab.core.hub import Close, Commit, Deliver, Hub, HubAction, NeedRoom, Share
from wslab.server.backplane import BACKPLANE_TIMEOUT, Backplane, BackplaneError, MemoryBackplane
from wslab.server.config import ServerConfig
from wslab.server.fanout import fanout
from wslab.server.pages import INDEX_HTML, html_document, html_response, not_found_page, static_response
from wslab.server.tls import HandshakeLog, describe_tls_error, server_context, tls_connections

__all__ = [
    "ChatServer",
    "LocalPeer",
    "PortInUseError",
    "ServerConfig",
    "ServerEvent",
    "UPDATES_CHANNEL",
    "IDLE_CLOCK_POLL",
    "given_token",
    "peer_label",
]

log = logging.getLogger(__name__)

UPDATES_CHANNEL = "updates"
"""The demo publisher's channel, open from the start when ``update_interval`` is set."""

_WATCHDOG_INTERVAL = 0.5
"""Seconds between the slow-consumer watchdog's looks."""

_WRITE_LIMIT = 2**15
"""websockets' default high-water mark of a write buffer (lowered to ``slow_consumer_bytes`` if that is less)."""

IDLE_CLOCK_POLL = 0.25
"""Seconds between looks at a clock that did not move while a hub timer waited (a FakeClock)."""

@dataclass(frozen=True)
class ServerEvent:
    """One line of the server's own log, as shown in widgets."""

    wall: float
    kind: str
    text: str


class LocalPeer:
    """A chat participant living inside the server process (a bot).

    The hub sees it as one more connection. Frames for it are passed to
    ``deliver`` on the server's loop; :meth:`send` hands a frame to the hub as
    if it came over a socket.
    """

    def __init__(self, server: ChatServer, deliver: Callable[[str], None], label: str = "bot") -> None:
        self._server = server
        self.deliver = deliver
        self.label = label

    def send(self, frame: str) -> None:
        """Send one frame to the hub (call on the server's loop)."""
        self._server._perform(self._server.hub.receive(self, frame))

    def close(self) -> None:
        """Leave: as if the connection closed."""
        self._server._detach_local(self)

    def __repr__(self) -> str:
        return f"LocalPeer({self.label!r})"


class ChatServer:
    """One wslab server: routes, the hub, the demo publisher and fault injection.

    Use on a running event loop::

        server = ChatServer(ServerConfig())
        await server.start()
        ...
        await server.stop()
    """

    def __init__(
        self, config: ServerConfig = ServerConfig(), *, clock: Clock = SYSTEM_CLOCK, backplane: Backplane | None = None
    ) -> None:
        self.config = config
        self.clock = clock
        self.backplane = backplane or MemoryBackplane()
        """Where the rooms live (:mod:`wslab.server.backplane`); the memory one unless told otherwise."""
        self.hub = Hub(
            clock=clock,
            history_size=config.history_size,
            typing_timeout=config.typing_timeout,
            rate=config.rate,
            burst=config.burst,
            flood_strikes=config.flood_strikes,
            epoch=config.epoch,
            shared=self.backplane.shared,
        )
        if config.update_interval is not None:
            self.hub.open_channel(UPDATES_CHANNEL)
        self.admission = Admission(config.token, config.join_code)
        """Who may open a chat connection: the token, or the join code with guessing rate-limited."""
        self.pages: dict[str, tuple[str, str]] = {}
        """More plain-HTTP paths: path -> (content type, body), served only to a request that carries
        the learners' token or join code (``?token=``), as they may show it (the join QR code)."""
        self.events: deque[ServerEvent] = deque(maxlen=500)
        self.listeners: list[Callable[[ServerEvent], None]] = []
        self.port: int = config.port
        self.refusing = False
        self.close_on_open: int | None = None
        self.routes: dict[str, Callable[[ServerConnection], Awaitable[None]]] = {}
        """More WebSocket paths (e.g. ``/admin``): path -> handler, which checks its own credentials."""
        self.started_at: float | None = None
        """The clock's monotonic reading when :meth:`start` bound the port."""
        self._stalled: weakref.WeakSet[ServerConnection] = weakref.WeakSet()
        self._close_logged: weakref.WeakSet[ServerConnection] = weakref.WeakSet()  # closes already in the log
        # Connections whose write buffer went over the high-water mark and may not have drained: the watchdog's.
        self._backed_up: weakref.WeakSet[ServerConnection] = weakref.WeakSet()
        self._tls_failures = HandshakeLog()
        self._handshakes: set[asyncio.Task[Any]] = set()
        self._server: Server | None = None
        self._locals: dict[LocalPeer, None] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._up = asyncio.Event()
        self._random = random.Random(config.update_seed)
        self._price = 100.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_for: float | None = None  # the hub deadline self._timer is set for
        self._armed_at: float | None = None  # the clock's reading when it was set

    # ------------------------------------------------------------ lifecycle

    @property
    def up(self) -> bool:
        """True while the listening socket accepts connections."""
        return self._server is not None

    @property
    def timer_deadline(self) -> float | None:
        """The hub deadline the server's one timer is set for; None when no timer is set."""
        return self._timer_for if self._timer is not None else None

    async def start(self) -> None:
        """Connect the backplane, bind and start serving.

        Raises :class:`~wslab.server.backplane.BackplaneError` when the backplane
        cannot be reached, :class:`PortInUseError` for a taken port.
        """
        await self.backplane.start(self.hub, self._perform)
        try:
            await self._bind(self.config.port)
        except BaseException:
            await self.backplane.stop()
            raise
        self.started_at = self.clock.monotonic()
        self._loop = asyncio.get_running_loop()
        self._arm_timer()
        self._spawn(self._watchdog(), "slow-consumer watchdog")
        if self.config.update_interval is not None:
            self._spawn(self._publisher(), "updates publisher")
        self._event("start", f"listening on {self.config.host}:{self.port}")

    async def stop(self, code: int = p.CLOSE_GOING_AWAY, reason: str = "server shutting down") -> None:
        """Close every client with ``code`` and stop listening; bounded by ``close_timeout``."""
        self._loop = None  # no more timers
        self._cancel_timer()
        for task in list(self._tasks):
            task.cancel()
        for peer in list(self._locals):
            self._detach_local(peer)
        await self._unbind(code, reason)
        await self.backplane.stop()
        self._event("stop", "stopped")

    async def _bind(self, port: int) -> None:
        cfg = self.config
        tls: dict[str, Any] = {}
        if cfg.certfile:
            # The handshake runs in the connection (server/tls.py), so a failed one is logged, once per peer.
            handshake_timeout = 10.0
            tls["create_connection"] = tls_connections(
                server_context(cfg.certfile, cfg.keyfile), handshake_timeout, self._tls_failed, self._handshakes
            )
        # The watchdog hears of a connection when its write buffer first goes over the
        # high-water mark (no higher than the slow-consumer limit): it looks at no other.
        connection = _watched(tls.pop("create_connection", ServerConnection), self._backed_up.add)
        try:
            self._server = await serve(
                self._handler,
                cfg.host,
                port,
                process_request=self._process_request,
                compression=cfg.compression,
                max_size=cfg.max_frame_bytes,
                ping_interval=cfg.ping_interval,
                ping_timeout=cfg.ping_timeout,
                close_timeout=cfg.close_timeout,
                open_timeout=10,
                logger=log,
                reuse_port=cfg.reuse_port,
                create_connection=connection,
                write_limit=min(_WRITE_LIMIT, cfg.slow_consumer_bytes),
                **tls,
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    exc.errno,
                    f"port {port} on {cfg.host} is already taken by another program. "
                    "Leave the port out to let the system choose a free one, "
                    "or stop the program that holds it.",
                ) from None
            raise
        sockets = self._server.sockets
        self.port = sockets[0].getsockname()[1]
        self._up.set()

    async def _unbind(self, code: int, reason: str) -> None:
        server, self._server = self._server, None
        self._up.clear()
        for handshake in list(self._handshakes):
            handshake.cancel()
        if server is None:
            return
        server.close(close_connections=True, code=code, reason=reason)
        try:
            await asyncio.wait_for(server.wait_closed(), self.config.close_timeout + 1.0)
        except TimeoutError:
            log.warning("some connections did not close in time")

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=f"wslab {name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------ faults

    def drop_all(self, code: int = p.CLOSE_SERVICE_RESTART, reason: str = "dropped on purpose") -> int:
        """Close every open connection with ``code``; returns how many."""
        conns = list(self._server.connections) if self._server else []
        for conn in conns:
            self._spawn(conn.close(code, reason), "close")
        self._event("fault", f"dropped {len(conns)} connection(s) with code {code}")
        return len(conns)

    async def outage(self, seconds: float) -> None:
        """Go down (close clients with 1012, stop listening) for ``seconds``, then come back on the same port."""
        port = self.port
        self._event("fault", f"going down for {seconds:g} s")
        await self._unbind(p.CLOSE_SERVICE_RESTART, "server restarting")
        await asyncio.sleep(seconds)
        await self._bind(port)
        self._event("fault", f"back up on port {port}")

    def stall(self) -> int:
        """Make every open connection half-open: TCP stays up, the server stops reading and writing.

        The server stops reading from those connections, so it answers neither
        their frames nor their pings, and sends them nothing more (no chat, no
        updates, no pings of its own). The client sees no close frame and no TCP
        reset: only a heartbeat (a ping that gets no pong) notices. Connections
        opened afterwards are served as usual. A stalled connection ends when the
        server stops, or when the client gives up and closes it. Returns how many
        connections were stalled.
        """
        conns = [c for c in (self._server.connections if self._server else ()) if c not in self._stalled]
        for conn in conns:
            self._stalled.add(conn)
            if conn.transport is not None:
                conn.transport.pause_reading()
            if conn.keepalive_task is not None:
                conn.keepalive_task.cancel()  # a stalled server sends no pings either
        self._event("fault", f"stalled {len(conns)} connection(s): not reading, not answering pings")
        return len(conns)

    @property
    def stalled(self) -> int:
        """How many stalled connections (see :meth:`stall`) are still open."""
        return len(self._stalled)

    async def wait_up(self, timeout: float) -> None:
        """Wait until the server listens, at most ``timeout`` seconds."""
        await asyncio.wait_for(self._up.wait(), timeout)

    # ------------------------------------------------------------ server API

    def publish(self, channel: str, data: Any) -> None:
        """Publish ``data`` to the subscribers of ``channel``, opening it if needed (call on the server's loop).

        Raises :class:`ValueError` for an invalid channel name or data that cannot
        be sent as JSON; nothing is published then.
        """
        self._perform(self.hub.publish(channel, data))

    def open_channel(self, channel: str) -> None:
        """Open ``channel`` so that clients may subscribe before its first update (call on the server's loop).

        Raises :class:`ValueError` for an invalid channel name.
        """
        self.hub.open_channel(channel)

    def kick(self, room: str, name: str, by: str = "the server") -> None:
        """Close ``name``'s connection in ``room`` with 4003 (they may join again); one log line saying ``by`` whom.

        Raises :class:`ValueError` for an invalid name.
        """
        actions = self.hub.kick(room, name)
        self._event("admin", f"{by} kicks {name} from {room}" + ("" if actions else f" ({name} is not there)"))
        self._perform(actions)

    def ban(self, room: str, name: str, banned: bool = True, by: str = "the server") -> None:
        """Ban ``name`` from ``room`` (closed with 4004, their joins refused), or lift the ban; one log line.

        Raises :class:`ValueError` for an invalid name.
        """
        actions = self.hub.ban(room, name, banned)
        self._event("admin", f"{by} bans {name} from {room}" if banned else f"{by} lifts the ban on {name} in {room}")
        self._perform(actions)

    def mute(self, room: str, name: str, muted: bool = True, by: str = "the server") -> None:
        """Mute (or unmute) ``name`` in ``room``; one log line saying ``by`` whom.

        Raises :class:`ValueError` for an invalid name.
        """
        actions = self.hub.mute(room, name, muted)
        self._event("admin", f"{by} {'mutes' if muted else 'unmutes'} {name} in {room}")
        self._perform(actions)

    def attach_local(self, deliver: Callable[[str], None], label: str = "bot") -> LocalPeer:
        """Add an in-process participant (see :class:`LocalPeer`)."""
        peer = LocalPeer(self, deliver, label)
        self._locals[peer] = None
        self._perform(self.hub.connect(peer))
        return peer

    def _detach_local(self, peer: LocalPeer) -> None:
        if self._locals.pop(peer, 0) is None:
            self._perform(self.hub.disconnect(peer))

    # ------------------------------------------------------------ HTTP

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path, _, _query = request.path.partition("?")
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        if not upgrade:
            if path == "/healthz":
                return connection.respond(HTTPStatus.OK, "ok\n")
            if path == "/":
                return html_response(HTTPStatus.OK, self.config.index_html or INDEX_HTML)
            if path.startswith("/static/"):
                return static_response(path[len("/static/") :])
            if path in self.pages:
                return self._extra_page(connection, request, path)
            return html_response(HTTPStatus.NOT_FOUND, not_found_page(path))
        if path not in ("/echo", "/chat") and path not in self.routes:
            return connection.respond(
                HTTPStatus.NOT_FOUND, f"unknown WebSocket path {path[:200]!r}; use /echo or /chat\n"
            )
        origin = request.headers.get("Origin")
        if origin is not None and not self._origin_allowed(origin, request.headers):
            self._event("refused", f"origin {origin[:100]!r} is not allowed")
            return connection.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")
        if self.refusing:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "refusing new connections on purpose\n")
        return None

    def _origin_allowed(self, origin: str, headers: Headers) -> bool:
        if origin in self.config.allowed_origins or "*" in self.config.allowed_origins:
            return True
        # Same origin: the page was served by this very server.
        netloc = urlsplit(origin).netloc
        return bool(netloc) and netloc == headers.get("Host")

    def _extra_page(self, connection: ServerConnection, request: Request, path: str) -> Response:
        verdict = self.admission.check(_peer_host(connection), given_token(request), self.clock.monotonic())
        if not isinstance(verdict, Admitted):
            page = html_document("Forbidden", f"<h1>Forbidden</h1>\n<p>{html.escape(verdict.message)}</p>\n")
            return html_response(HTTPStatus.FORBIDDEN, page)
        content_type, body = self.pages[path]
        return html_response(HTTPStatus.OK, body, content_type)

    def _admit(self, ws: ServerConnection) -> str | None:
        """None if ``ws`` may use ``/chat`` or ``/echo``; else the close reason (logged as the verdict says)."""
        if self.admission.open:  # no token: nothing to read from the request (a join's cost, per connection)
            return None
        verdict = self.admission.check(_peer_host(ws), given_token(ws.request), self.clock.monotonic())
        if isinstance(verdict, Admitted):
            return None
        if verdict.log:
            what = {
                "missing": "no token",
                "wrong": "a wrong token or join code",
                "throttled": "too many wrong join codes; refusing its guesses for a while",
            }[verdict.reason]
            self._event("refused", f"{what} from {peer_label(ws)}")
        return verdict.message

    # ------------------------------------------------------------ WebSocket

    def _handler(self, ws: ServerConnection) -> Awaitable[None]:
        """The coroutine that serves ``ws``: its route's, the chat's or the echo's, or a refusal.

        A plain function returning the route's own coroutine, so that each connection
        holds one coroutine for its lifetime, not one awaiting another (memory per
        idle connection). Whatever is refused is closed, as before.
        """
        if self.close_on_open is not None:
            return ws.close(self.close_on_open, "closing at once on purpose")
        path = ws.request.path.partition("?")[0] if ws.request else ""
        route = self.routes.get(path)
        if route is not None:
            return route(ws)
        refused = self._admit(ws)
        if refused is not None:
            return ws.close(p.CLOSE_UNAUTHORIZED, refused)
        return self._echo(ws) if path == "/echo" else self._chat(ws)

    async def _echo(self, ws: ServerConnection) -> None:
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass

    async def _chat(self, ws: ServerConnection) -> None:
        self._perform(self.hub.connect(ws))
        try:
            # Nothing of a frame is kept while the next is awaited: an idle member's
            # coroutine would otherwise hold its last actions (its welcome, the whole room's list).
            async for frame in ws:
                if self.backplane.shared:
                    await self._perform_shared(self.hub.receive(ws, frame))
                else:
                    self._perform(self.hub.receive(ws, frame))
                del frame
        except ConnectionClosed:
            pass
        finally:
            self._perform(self.hub.disconnect(ws))
            code = ws.close_code
            if code not in (None, p.CLOSE_NORMAL, p.CLOSE_GOING_AWAY) and ws not in self._close_logged:
                self._event("closed", f"{peer_label(ws)} closed with {code} {ws.close_reason or ''}".rstrip())

    def _perform(self, actions: Iterable[HubAction]) -> None:
        """Perform the hub's actions in order, then re-arm the timer.

        Each action is performed on its own: one that fails is logged and the
        others still happen. A delivery is framed once and written to each connection
        separately (:func:`~wslab.server.fanout.fanout`), which skips (and logs) a
        connection it cannot write to.
        """
        for action in actions:
            try:
                if isinstance(action, Deliver):
                    self._send(action)
                elif isinstance(action, Close):
                    self._close(action)
                elif isinstance(action, Share):
                    self.backplane.share(action)
                elif isinstance(action, NeedRoom | Commit):  # from a local peer: no reader loop to wait in
                    self._spawn(self._perform_shared([action]), "backplane")
            except Exception:
                log.exception("could not perform a %s action; the other actions go on", type(action).__name__)
        self._arm_timer()

    async def _perform_shared(self, actions: Iterable[HubAction]) -> None:
        """Shared rooms: perform ``actions``, awaiting the backplane (bounded) for loads and commits, in order."""
        for action in actions:
            if isinstance(action, NeedRoom):
                try:  # asyncio.timeout, not wait_for: no task of its own for each load and commit
                    async with asyncio.timeout(BACKPLANE_TIMEOUT):
                        await self.backplane.load(action.message.room)
                except (BackplaneError, TimeoutError) as exc:
                    self._event("backplane", f"cannot load room {action.message.room!r}: {exc}")
                    self._perform([Close(action.conn, p.CLOSE_TRY_AGAIN_LATER, "the rooms are unreachable; try again")])
                    continue
                await self._perform_shared(self.hub.handle(action.conn, action.message))
            elif isinstance(action, Commit):
                try:
                    async with asyncio.timeout(BACKPLANE_TIMEOUT):
                        seq, duplicate = await self.backplane.commit(action)
                except (BackplaneError, TimeoutError) as exc:
                    self._event("backplane", f"a message was not logged ({exc}); its sender will resend it")
                    self._perform(self.hub.commit_failed(action))
                    continue
                self._perform(self.hub.committed(action, seq, duplicate))
            else:
                self._perform([action])

    def _send(self, action: Deliver) -> None:
        if self._stalled:
            action = Deliver(tuple(c for c in action.to if c not in self._stalled), action.frame)
        if self._locals:
            sockets = [cast(ServerConnection, c) for c in action.to if not isinstance(c, LocalPeer)]
            for conn in action.to:
                if isinstance(conn, LocalPeer):
                    self._deliver_local(conn, action.frame)
            fanout(sockets, action.frame)
        else:
            fanout(cast("tuple[ServerConnection, ...]", action.to), action.frame)

    def _close(self, action: Close) -> None:
        conn = action.conn
        if action.code not in (p.CLOSE_KICKED, p.CLOSE_BANNED):  # a kick or a ban has its own line already
            name = self.hub.name_of(conn)
            who = conn.label if isinstance(conn, LocalPeer) else peer_label(cast(ServerConnection, conn))
            self._event("close", f"closing {who}{f' ({name})' if name else ''} with {action.code}: {action.reason}")
        if isinstance(conn, LocalPeer):
            self._detach_local(conn)
        else:
            self._close_logged.add(cast(ServerConnection, conn))
            self._spawn(cast(ServerConnection, conn).close(action.code, action.reason), "close")

    def _deliver_local(self, peer: LocalPeer, frame: str) -> None:
        try:
            peer.deliver(frame)
        except Exception:
            log.exception("local peer %r failed on a frame", peer)

    def _tls_failed(self, host: str, exc: BaseException) -> None:
        if self._tls_failures.first(host):
            self._event(
                "tls", f"TLS handshake from {host} failed: {describe_tls_error(exc)} (further failures from {host} "
                "are not logged)"
            )

    # ------------------------------------------------------------ background tasks

    def _arm_timer(self) -> None:
        """Keep one loop timer set for the hub's next deadline, and none when it has nothing due."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        deadline = self.hub.next_deadline()
        if deadline == self._timer_for and (self._timer is not None or deadline is None):
            return  # already set for it
        self._cancel_timer()
        self._timer_for = deadline
        if deadline is None:
            return
        now = self.clock.monotonic()
        self._armed_at = now
        self._timer = loop.call_later(max(0.0, deadline - now), self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_for = None

    def _on_timer(self) -> None:
        self._timer = None
        deadline = self.hub.next_deadline()
        now = self.clock.monotonic()
        if deadline is not None and deadline <= now:
            self._perform(self.hub.tick())  # which re-arms
            return
        if deadline is not None and now == self._armed_at and self._loop is not None:
            # The clock did not move while we waited (a FakeClock): look again now and then.
            self._timer = self._loop.call_later(IDLE_CLOCK_POLL, self._on_timer)
            return
        self._timer_for = None  # woken a little early: set the timer again
        self._arm_timer()

    async def _watchdog(self) -> None:
        """Close clients that stopped reading before they slow the room down.

        Every 0.5 s, each connection whose write buffer holds more than
        ``slow_consumer_bytes`` is closed with 4008. Only connections whose buffer
        went over the high-water mark (asyncio's ``pause_writing``, at most that
        limit) and has not drained below the low-water mark since can hold that
        much, so only those are looked at: while everyone reads, a look costs nothing
        per connection.
        """
        limit = self.config.slow_consumer_bytes
        while True:
            await asyncio.sleep(_WATCHDOG_INTERVAL)
            for conn in list(self._backed_up):
                transport = conn.transport
                if transport is None or conn.protocol.state is not OPEN or not conn.paused:
                    self._backed_up.discard(conn)  # drained or closing: it comes back if it backs up again
                    continue
                if transport.get_write_buffer_size() > limit and conn not in self._close_logged:
                    self._close_logged.add(conn)
                    self._event("slow", f"{peer_label(conn)} stopped reading; closing with {p.CLOSE_SLOW_CONSUMER}")
                    self._spawn(
                        conn.close(p.CLOSE_SLOW_CONSUMER, "too slow: stopped reading messages"), "close"
                    )

    async def _publisher(self) -> None:
        """The demo publisher: a made-up ticker on the ``"updates"`` channel."""
        interval = self.config.update_interval
        assert interval is not None
        while True:
            await asyncio.sleep(interval)
            self.publish(UPDATES_CHANNEL, self.next_tick())

    def next_tick(self) -> dict[str, Any]:
        """The next value of the demo ticker (seeded, so runs repeat)."""
        change = round(self._random.uniform(-1.5, 1.5), 2)
        self._price = round(max(1.0, self._price + change), 2)
        return {"symbol": "WSLB", "price": self._price, "change": change}

    # ------------------------------------------------------------ log

    def record(self, kind: str, text: str) -> None:
        """Add one line to the server's log (:attr:`events`, listeners, :mod:`logging`), e.g. an admin action."""
        self._event(kind, text)

    def _event(self, kind: str, text: str) -> None:
        event = ServerEvent(self.clock.wall(), kind, text)
        self.events.append(event)
        log.info("%s: %s", kind, text)
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:
                log.exception("server event listener failed")


def _watched(
    base: type[ServerConnection], backed_up: Callable[[ServerConnection], None]
) -> type[ServerConnection]:
    """``base``, telling ``backed_up`` each time its transport pauses writing (buffer over the high-water mark)."""

    class WatchedConnection(base):  # type: ignore[valid-type,misc]
        def pause_writing(self) -> None:
            super().pause_writing()
            backed_up(self)

    return WatchedConnection


def _peer_host(ws: ServerConnection) -> str:
    try:
        return str(ws.remote_address[0])
    except Exception:
        return "unknown"


def given_token(request: Request | None) -> str:
    """The credential a request carries: ``?token=``, else ``Authorization: Bearer``; "" for none."""
    if request is None:
        return ""
    given = (parse_qs(urlsplit(request.path).query).get("token") or [""])[0]
    auth = request.headers.get("Authorization", "")
    if not given and auth.startswith("Bearer "):
        given = auth[len("Bearer ") :]
    return given


def peer_label(ws: ServerConnection) -> str:
    """``host:port`` of a connection's peer, for log lines (never its object repr); "a client" when unknown."""
    try:
        host, port = ws.remote_address[:2]
        return f"{host}:{port}"
    except Exception:
        return "a client"
