"""Several chat servers in one kernel sharing their rooms through a Redis/Valkey (lesson 08).

    engine = EmbeddedValkey().start()          # wslab.cluster.engine: a real Valkey on 127.0.0.1
    one = start_node(engine.url)                # a ServerHandle, rooms in the engine
    two = start_node(engine.url)
    ...
    two.stop(); one.stop(); engine.stop()

Each node is an ordinary :class:`~wslab.kernel.course_server.ServerHandle` (a daemon
thread, its own loop, 127.0.0.1, every cross-thread call bounded) whose
:class:`~wslab.server.chat_server.ChatServer` has a
:class:`~wslab.cluster.redis_backplane.RedisBackplane`. Unlike
:func:`~wslab.kernel.course_server.start_server`, each call starts a new node: two
nodes are the point. :func:`stop_nodes` stops every node still running.
"""

from __future__ import annotations

import builtins
import collections
import logging
import threading
from typing import Any

from wslab.cluster.engine import EmbeddedValkey, EngineUnavailable
from wslab.cluster.redis_backplane import RedisBackplane
from wslab.kernel.course_server import ServerHandle
from wslab.kernel.link import stop_links
from wslab.server.chat_server import ChatServer
from wslab.server.config import ServerConfig

__all__ = ["NodeHandle", "start_node", "stop_nodes", "lesson_engine", "backplane_log"]

_nodes: list[NodeHandle] = []
_lock = threading.Lock()
_engine: EmbeddedValkey | None = None


def lesson_engine() -> EmbeddedValkey | None:
    """A fresh embedded Valkey for a lesson, stopping the nodes, links and engine of a previous run first.

    Where no Valkey can run here, it prints one line saying so, and (in IPython)
    every later cell of the notebook is skipped; it returns None.
    """
    global _engine
    stop_nodes()
    stop_links()
    if _engine is not None:
        _engine.stop()
        _engine = None
    try:
        _engine = EmbeddedValkey().start()
    except EngineUnavailable as exc:
        print(f"Skipped: this lesson needs a Valkey server, which cannot run here ({exc}).")
        shell = getattr(builtins, "get_ipython", lambda: None)()
        if shell is not None:  # the rest of the notebook becomes `pass`
            shell.input_transformers_post.append(lambda lines: ["pass\n"])
        return None
    return _engine


class _Keep(logging.Handler):
    """Keeps the backplane's log lines of this kernel (its nodes run in threads; see :func:`backplane_log`)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: collections.deque[str] = collections.deque(maxlen=200)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname.lower()}: {record.getMessage()}")


_kept = _Keep()


def _keep_backplane_log() -> None:
    """Route the backplane's log of the nodes in this kernel to :func:`backplane_log`, once.

    A node logs from its own thread ("lost the link to ...", when its engine goes away); in a
    notebook, what goes to stderr from another thread lands in whichever cell runs at that moment.
    """
    logger = logging.getLogger("wslab.cluster.redis_backplane")
    if _kept not in logger.handlers:
        logger.addHandler(_kept)
        logger.propagate = False


def backplane_log() -> list[str]:
    """What the nodes of this kernel logged about their engine (the last 200 lines, oldest first)."""
    return list(_kept.lines)


class NodeHandle(ServerHandle):
    """A :class:`~wslab.kernel.course_server.ServerHandle` whose rooms live in the engine at ``redis_url``."""

    def __init__(self, config: ServerConfig, redis_url: str, **backplane: Any) -> None:
        super().__init__(config)
        self.backplane = RedisBackplane(redis_url, **backplane)
        self.server = ChatServer(config, backplane=self.backplane)

    @property
    def node(self) -> str:
        """This node's id in the engine (it names its presence keys)."""
        return self.backplane.node

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<wslab node {state}, rooms in {self.backplane.engine}>"


def start_node(redis_url: str, *, presence_ttl: float | None = None, **options: Any) -> NodeHandle:
    """Start one more node on a free port of 127.0.0.1, its rooms in the engine at ``redis_url``.

    ``options`` are fields of :class:`~wslab.server.config.ServerConfig` (the demo
    publisher is off unless ``update_interval`` is given); ``presence_ttl``: see
    :data:`~wslab.cluster.redis_backplane.PRESENCE_TTL` (a node refreshes its presence
    every fifth of it). What the node logs about its engine goes to :func:`backplane_log`,
    not to a cell's output. Raises
    :class:`~wslab.server.backplane.BackplaneError` (one line) when the engine
    cannot be reached.
    """
    options.setdefault("update_interval", None)
    _keep_backplane_log()
    extra: dict[str, Any] = {}
    if presence_ttl is not None:
        extra = {"presence_ttl": presence_ttl, "presence_refresh": presence_ttl / 5}
    handle = NodeHandle(ServerConfig(**options), redis_url, **extra)
    handle._start()
    with _lock:
        _nodes.append(handle)
    return handle


def stop_nodes(timeout: float = 5.0) -> None:
    """Stop every node :func:`start_node` started that still runs."""
    with _lock:
        nodes, _nodes[:] = list(_nodes), []
    for handle in nodes:
        handle.stop(timeout)
