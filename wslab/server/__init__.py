"""The server side: asyncio shells that serve the chat protocol of :mod:`wslab.core`.

* :mod:`~wslab.server.chat_server`: :class:`ChatServer` on one port (``/echo``,
  ``/chat``, pages), its :class:`ServerConfig`, token and Origin checks, limits,
  the slow-consumer watchdog and fault injection;
* :mod:`~wslab.server.pages`: what it answers to a plain HTTP GET;
* :mod:`~wslab.server.admin_route`: the instructor's ``/admin`` channel;
* :mod:`~wslab.server.bots`: in-process chat participants;
* :mod:`~wslab.server.tls`: ``wss://`` and ``https://`` on the same port;
* :mod:`~wslab.server.backplane`: where the hub's rooms live (this process by
  default; Redis or Valkey in :mod:`wslab.cluster`).

Nothing here imports a client, the kernel's runtime or the widgets. The names
below are imported on first use.
"""

from __future__ import annotations

from wslab._lazy import lazy_exports

_EXPORTS = {
    "ChatServer": "wslab.server.chat_server",
    "ServerConfig": "wslab.server.config",
    "ServerEvent": "wslab.server.chat_server",
    "LocalPeer": "wslab.server.chat_server",
    "PortInUseError": "wslab.server.chat_server",
    "generate_token": "wslab.server.config",
    "is_loopback": "wslab.server.config",
    "chat_page": "wslab.server.pages",
    "STATIC_DIR": "wslab.server.pages",
    "ChatBot": "wslab.server.bots",
    "Backplane": "wslab.server.backplane",
    "MemoryBackplane": "wslab.server.backplane",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
