"""wslab: learn WebSockets and real-time communication hands-on, in Python, inside JupyterLab.

Start the course's local server from a notebook cell::

    import wslab
    server = wslab.start_server()
    server.echo_url, server.chat_url
"""

from __future__ import annotations

from .clock import FakeClock, SystemClock
from .hub import Hub
from .protocol import ProtocolError
from .runtime import ServerHandle, running_servers, start_server, stop_all
from .server import ChatServer, PortInUseError, ServerConfig
from .typing_text import typing_text
from .backoff import Backoff, BackoffPolicy, seed_backoff, should_reconnect
from .client import CloseEvent, DOMSyntaxError, Event, InvalidAccessError, InvalidStateError, MessageEvent, WebSocket
from .reconnect import ClientClosedError, QueueFullError, ReconnectingClient
from .seed_client import SeedClient
from .bots import ChatBot, add_bot
from .models import ChatModel, TypingNotifier
from . import aio

__version__ = "0.1.0"

__all__ = [
    "ChatServer",
    "FakeClock",
    "Hub",
    "PortInUseError",
    "ProtocolError",
    "ServerConfig",
    "ServerHandle",
    "SystemClock",
    "running_servers",
    "start_server",
    "stop_all",
    "typing_text",
    "Backoff",
    "BackoffPolicy",
    "seed_backoff",
    "should_reconnect",
    "WebSocket",
    "Event",
    "MessageEvent",
    "CloseEvent",
    "InvalidStateError",
    "InvalidAccessError",
    "DOMSyntaxError",
    "ReconnectingClient",
    "QueueFullError",
    "ClientClosedError",
    "SeedClient",
    "ChatBot",
    "add_bot",
    "ChatModel",
    "TypingNotifier",
    "ChatUI",
    "Dashboard",
    "ReadyStateLight",
    "TimelinePlot",
    "aio",
    "__version__",
]

_WIDGETS = frozenset({"ChatUI", "Dashboard", "ReadyStateLight", "TimelinePlot"})


def __getattr__(name: str) -> object:
    # The widgets import ipywidgets: only when a lesson asks for them, not for `wslab serve`.
    if name in _WIDGETS:
        from . import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module 'wslab' has no attribute {name!r}")
