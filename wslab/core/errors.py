"""wslab's exceptions, all in one place, all under :class:`WslabError`.

``except wslab.WslabError`` catches every exception wslab raises on purpose.
Each class also derives from the built-in exception a caller would expect
(``OSError`` for a port in use, ``RuntimeError`` for a closed client,
``ValueError`` for a bad value), so code written against the built-ins keeps
working. The tree (indentation is inheritance)::

    WslabError                      (Exception)
     +-- ProtocolError               a frame or a value breaks the chat protocol   (ValueError)
     |    +-- AdminRequestError      ... in an admin request whose id could be read
     +-- QueueFullError              a client's outbox is full while offline
     +-- ClientClosedError           a client closed for good is used again        (RuntimeError)
     +-- DOMException                the browser-style WebSocket is misused
     |    +-- InvalidStateError      a call not allowed in this readyState          (RuntimeError)
     |    +-- InvalidAccessError     close() with a code the browser refuses        (ValueError)
     |    +-- DOMSyntaxError         a bad URL, protocol list or close reason       (ValueError)
     +-- AdminError                  the server refused an admin request           (RuntimeError)
     +-- PortInUseError              the fixed port asked for is taken              (OSError)
     +-- BackplaneError              the rooms' backplane cannot be reached         (ConnectionError)
     +-- EngineUnavailable           no Valkey or Redis binary can run here         (RuntimeError)
     +-- ReleaseError                broken solution markers, or a release that cannot be used (ValueError)
     +-- GradingRefused              ``wslab grade`` cannot grade fairly here          (RuntimeError)
     +-- NotebookFailed              a cell raised while ``wslab execute`` ran a notebook

Where they are raised: :mod:`wslab.core` (protocol, session),
:mod:`wslab.client.websocket` (the ``DOMException`` family, which it also
exports), :mod:`wslab.client.admin_client`, :mod:`wslab.server.chat_server`,
:mod:`wslab.server.backplane`, :mod:`wslab.cluster.engine` and
:mod:`wslab.grading`. Each module that raises one re-exports it, so
``from wslab.server.chat_server import PortInUseError`` names this same class.

Not in the tree, on purpose: the grader's worker stops a cell that ran past its
time limit with ``CellTimeout``, a :class:`BaseException` so that learner code's
``except Exception`` cannot swallow it (:mod:`wslab.grading.worker`).
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "WslabError",
    "ProtocolError",
    "AdminRequestError",
    "QueueFullError",
    "ClientClosedError",
    "DOMException",
    "InvalidStateError",
    "InvalidAccessError",
    "DOMSyntaxError",
    "AdminError",
    "PortInUseError",
    "BackplaneError",
    "EngineUnavailable",
    "ReleaseError",
    "GradingRefused",
    "NotebookFailed",
]


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


class AdminRequestError(ProtocolError):
    """A refused admin request whose ``id`` could be read: the ``error`` answer repeats it as ``request_id``."""

    def __init__(self, exc: ProtocolError, request_id: int | str | None) -> None:
        super().__init__(exc.code, exc.message, field=exc.field)
        self.request_id = request_id


class QueueFullError(WslabError):
    """A client's outbox already holds ``queue_limit`` messages; this one was not queued."""


class ClientClosedError(WslabError, RuntimeError):
    """The client was closed for good; it sends nothing more. Create a new one to connect again."""


class DOMException(WslabError):
    """Base of the errors the browser's API throws; ``name`` is the DOMException name."""

    name: ClassVar[str] = "DOMException"


class InvalidStateError(DOMException, RuntimeError):
    """The call is not allowed in the current ``ready_state`` (``send()`` while CONNECTING)."""

    name = "InvalidStateError"


class InvalidAccessError(DOMException, ValueError):
    """``close()`` with a code other than 1000 or 3000 to 4999."""

    name = "InvalidAccessError"


class DOMSyntaxError(DOMException, ValueError):
    """The browser's ``SyntaxError`` DOMException: a bad URL, protocol list or close reason."""

    name = "SyntaxError"


class AdminError(WslabError, RuntimeError):
    """The server refused an admin request; ``code`` says why (an ``error`` frame's code)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class PortInUseError(WslabError, OSError):
    """The fixed port asked for is taken by another program."""


class BackplaneError(WslabError, ConnectionError):
    """The backplane cannot be reached, or answered something it should not have."""


class EngineUnavailable(WslabError, RuntimeError):
    """No Valkey or Redis server binary can run on this machine."""


class ReleaseError(WslabError, ValueError):
    """A solution notebook whose markers do not pair up, or that names no exercise; or a release
    (``exercises/``, a learner's edition) that cannot be found, read or written."""


class GradingRefused(WslabError, RuntimeError):
    """``wslab grade`` will not grade here: no hidden checks, or no sandbox (the message says what to do)."""


class NotebookFailed(WslabError):
    """A cell raised (or timed out) while a notebook ran; the message names the notebook and the cell."""
