"""The client side: asyncio (and one blocking) clients of a wslab or any WebSocket server.

* :mod:`~wslab.client.websocket`: :class:`WebSocket`, the browser's API in Python;
* :mod:`~wslab.client.reconnecting`: :class:`ReconnectingClient`, the shell of
  :class:`~wslab.core.session.ClientSession`;
* :mod:`~wslab.client.seed`: :class:`SeedClient`, the seed lesson's client, flaws included;
* :mod:`~wslab.client.admin_client`: :class:`AdminClient`, a blocking client of ``/admin``;
* :mod:`~wslab.client.aio`: ``run()``, an ``asyncio.run`` that also works in a notebook;
* :mod:`~wslab.client.tls`: trusting a private CA.

Nothing here imports the server, the cluster or the widgets. The names below
are imported on first use.
"""

from __future__ import annotations

from wslab._lazy import lazy_exports

_EXPORTS = {
    "WebSocket": "wslab.client.websocket",
    "Event": "wslab.client.websocket",
    "MessageEvent": "wslab.client.websocket",
    "CloseEvent": "wslab.client.websocket",
    "ErrorEvent": "wslab.client.websocket",
    "DOMException": "wslab.client.websocket",
    "InvalidStateError": "wslab.client.websocket",
    "InvalidAccessError": "wslab.client.websocket",
    "DOMSyntaxError": "wslab.client.websocket",
    "CONNECTING": "wslab.client.websocket",
    "OPEN": "wslab.client.websocket",
    "CLOSING": "wslab.client.websocket",
    "CLOSED": "wslab.client.websocket",
    "ReconnectingClient": "wslab.client.reconnecting",
    "SeedClient": "wslab.client.seed",
    "AdminClient": "wslab.client.admin_client",
    "client_context": "wslab.client.tls",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
