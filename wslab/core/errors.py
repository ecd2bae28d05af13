"""wslab's exceptions: one base, :class:`WslabError`, so ``except wslab.WslabError`` catches them all.

Each also derives from the built-in exception a caller would expect
(``OSError`` for a port in use, ``RuntimeError`` for a closed client, ``ValueError``
for a bad value), so code written against the built-ins keeps working.

==========================  ==========================================================
exception                   raised when
==========================  ==========================================================
:class:`ProtocolError`      a frame or a value breaks the chat protocol (also ``ValueError``)
:class:`QueueFullError`     a client's outbox is full while offline
:class:`ClientClosedError`  a client was closed for good and is used again (also ``RuntimeError``)
``PortInUseError``          the server's port is taken (``wslab.net.server``, also ``OSError``)
``DOMException`` and kin    the browser-style ``WebSocket`` is misused (``wslab.net.websocket``)
``ReleaseError``            ``wslab release`` finds broken solution markers (``wslab.grading.release``)
==========================  ==========================================================
"""

from __future__ import annotations

__all__ = ["WslabError", "ProtocolError", "QueueFullError", "ClientClosedError"]


class WslabError(Exception):
    """The base of every exception wslab raises on purpose."""


class ProtocolError(WslabError, ValueError):
    """A frame or value the chat protocol does not accept; becomes an ``error`` frame.

    ``code`` is one of :class:`wslab.core.protocol.ErrorCode`; ``message`` is a
    sentence for a person; ``field`` names the offending field when there is one;
    ``id`` is the client message id of the ``chat`` it refuses for good, when that
    id could be read; ``channel`` is the channel an ``unknown-channel`` error is
    about. :meth:`to_message` leaves out the ones that are None.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        field: str | None = None,
        id: str | None = None,
        channel: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.id = id
        self.channel = channel

    def to_message(self) -> dict[str, object]:
        """The ``error`` frame for this problem, as a dict (``type``, ``code``, ``message``, then the optional keys)."""
        frame: dict[str, object] = {"type": "error", "code": self.code, "message": self.message}
        if self.field is not None:
            frame["field"] = self.field
        if self.id is not None:
            frame["id"] = self.id
        if self.channel is not None:
            frame["channel"] = self.channel
        return frame


class QueueFullError(WslabError):
    """A client's outbox already holds ``queue_limit`` messages; this one was not queued."""


class ClientClosedError(WslabError, RuntimeError):
    """The client was closed for good; it sends nothing more. Create a new one to connect again."""
