"""wslab: learn WebSockets and real-time communication hands-on, in Python, inside JupyterLab.

Start the course's local server from a notebook cell::

    import wslab
    server = wslab.start_server()
    server.echo_url, server.chat_url

The package is layered, each folder a layer (``docs/architecture.md``); a layer
imports only from those before it (``tests/test_layers.py`` holds them to it):

* :mod:`wslab.core`: the sans-I/O core (protocol, room, hub, client session,
  backoff, rate limits, typing, clock, errors), standard library only;
* :mod:`wslab.server` and :mod:`wslab.client`: asyncio shells around it, which
  never import each other;
* :mod:`wslab.cluster`: rooms in Redis or Valkey, worker processes;
* :mod:`wslab.kernel`: servers in a notebook's kernel, in daemon threads;
* :mod:`wslab.ui`: view models and ipywidgets;
* :mod:`wslab.classroom` and :mod:`wslab.grading`: the instructor's tools.

Every name below is imported on first use, so ``import wslab`` is cheap. Paths
from earlier releases still import, with a warning (:mod:`wslab._moved`).
"""

from __future__ import annotations

from wslab._lazy import lazy_exports
from wslab._moved import install as _install_moved
from wslab._moved import renamed_attribute as _renamed

__version__ = "0.2.0"

_EXPORTS = {
    # core
    "WslabError": "wslab.core.errors",
    "ProtocolError": "wslab.core.errors",
    "QueueFullError": "wslab.core.errors",
    "ClientClosedError": "wslab.core.errors",
    "Clock": "wslab.core.clock",
    "FakeClock": "wslab.core.clock",
    "SystemClock": "wslab.core.clock",
    "SYSTEM_CLOCK": "wslab.core.clock",
    "Hub": "wslab.core.hub",
    "ClientSession": "wslab.core.session",
    "Backoff": "wslab.core.backoff",
    "BackoffPolicy": "wslab.core.backoff",
    "seed_backoff": "wslab.core.backoff",
    "should_reconnect": "wslab.core.backoff",
    "typing_text": "wslab.core.typing_status",
    "TypingNotifier": "wslab.core.typing_status",
    # server, client, kernel
    "ChatServer": "wslab.server.chat_server",
    "PortInUseError": "wslab.server.chat_server",
    "ServerConfig": "wslab.server.config",
    "ServerHandle": "wslab.kernel.course_server",
    "running_servers": "wslab.kernel.course_server",
    "start_server": "wslab.kernel.course_server",
    "stop_all": "wslab.kernel.course_server",
    "WebSocket": "wslab.client.websocket",
    "Event": "wslab.client.websocket",
    "MessageEvent": "wslab.client.websocket",
    "CloseEvent": "wslab.client.websocket",
    "DOMException": "wslab.client.websocket",
    "InvalidStateError": "wslab.client.websocket",
    "InvalidAccessError": "wslab.client.websocket",
    "DOMSyntaxError": "wslab.client.websocket",
    "ReconnectingClient": "wslab.client.reconnecting",
    "SeedClient": "wslab.client.seed",
    "serve_handler": "wslab.kernel.learner_server",
    "stop_handlers": "wslab.kernel.learner_server",
    "LearnerServer": "wslab.kernel.learner_server",
    "HandlerError": "wslab.kernel.learner_server",
    "ChatBot": "wslab.server.bots",
    "add_bot": "wslab.server.bots",
    "aio": "wslab.client.aio:",
    # ui
    "ChatModel": "wslab.ui.models",
    "ChatUI": "wslab.ui.chat",
    "LiveDashboard": "wslab.ui.live_dashboard",
    "ReadyStateLight": "wslab.ui.readystate",
    "TimelinePlot": "wslab.ui.timeline",
    "FrameInspector": "wslab.ui.inspector",
    "snapshot": "wslab.ui.snapshots",
    "herd_histogram": "wslab.ui.figures",
    "flapping_timeline": "wslab.ui.figures",
    # tools
    "InstructorDashboard": "wslab.classroom.instructor_dashboard",
    "check": "wslab.grading.self_check",
}

__all__ = [*_EXPORTS, "__version__"]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, _renamed)

_install_moved()
