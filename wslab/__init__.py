"""wslab: learn WebSockets and real-time communication hands-on, in Python, inside JupyterLab.

Start the course's local server from a notebook cell::

    import wslab
    server = wslab.start_server()
    server.echo_url, server.chat_url

The package is layered; each folder may import only from those before it:

* :mod:`wslab.core`: the sans-I/O core (protocol, hub, client session, backoff,
  rate limits, typing, clock), standard library only;
* :mod:`wslab.net`: asyncio shells around it (server, in-kernel runtime, clients);
* :mod:`wslab.ui`: view models and ipywidgets;
* :mod:`wslab.classroom` and :mod:`wslab.grading`: the instructor's tools.

Every name below is imported on first use, so ``import wslab`` is cheap.
"""

from __future__ import annotations

from wslab._lazy import lazy_exports

__version__ = "0.1.0"

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
    # net
    "ChatServer": "wslab.net.server",
    "PortInUseError": "wslab.net.server",
    "ServerConfig": "wslab.net.server",
    "ServerHandle": "wslab.net.runtime",
    "running_servers": "wslab.net.runtime",
    "start_server": "wslab.net.runtime",
    "stop_all": "wslab.net.runtime",
    "WebSocket": "wslab.net.websocket",
    "Event": "wslab.net.websocket",
    "MessageEvent": "wslab.net.websocket",
    "CloseEvent": "wslab.net.websocket",
    "DOMException": "wslab.net.websocket",
    "InvalidStateError": "wslab.net.websocket",
    "InvalidAccessError": "wslab.net.websocket",
    "DOMSyntaxError": "wslab.net.websocket",
    "ReconnectingClient": "wslab.net.reconnect",
    "SeedClient": "wslab.net.seed_client",
    "serve_handler": "wslab.net.learner_server",
    "stop_handlers": "wslab.net.learner_server",
    "LearnerServer": "wslab.net.learner_server",
    "HandlerError": "wslab.net.learner_server",
    "ChatBot": "wslab.net.bots",
    "add_bot": "wslab.net.bots",
    "aio": "wslab.net.aio:",
    # ui
    "ChatModel": "wslab.ui.models",
    "ChatUI": "wslab.ui.chat",
    "LiveDashboard": "wslab.ui.live",
    "ReadyStateLight": "wslab.ui.readystate",
    "TimelinePlot": "wslab.ui.timeline",
    "snapshot": "wslab.ui.snapshot",
    "herd_histogram": "wslab.ui.figures",
    "flapping_timeline": "wslab.ui.figures",
    # tools
    "InstructorDashboard": "wslab.classroom.instructor",
    "check": "wslab.grading.check",
}

__all__ = [*_EXPORTS, "__version__"]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
