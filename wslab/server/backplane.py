"""The backplane behind the hub: where a room lives when more than one process serves it.

A :class:`~wslab.core.hub.Hub` decides everything; a backplane stores and
carries what the hub hands it. Two implementations of one interface:

* :class:`MemoryBackplane` (the default, and the only one inside a kernel):
  the hub keeps every room in this process, exactly as it always did;
* :class:`~wslab.cluster.redis_backplane.RedisBackplane`: rooms live in Redis 7+ or
  Valkey 8+, shared by every node that points at the same engine.

The shell (:class:`~wslab.server.chat_server.ChatServer`) calls :meth:`Backplane.start`
before it listens and :meth:`Backplane.stop` after it stops, performs the
hub's :class:`~wslab.core.hub.NeedRoom`, :class:`~wslab.core.hub.Commit` and
:class:`~wslab.core.hub.Share` actions through it (each await bounded by
:data:`BACKPLANE_TIMEOUT`), and lets it feed the hub what other nodes did
(``hub.apply``, ``hub.remote_members``, ``hub.remote_typing``) through the
``perform`` callback it was started with, on the server's loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from wslab.core.errors import BackplaneError
from wslab.core.hub import Commit, Hub, HubAction, Share

__all__ = ["Backplane", "BackplaneError", "MemoryBackplane", "Perform", "BACKPLANE_TIMEOUT"]

BACKPLANE_TIMEOUT = 5.0
"""Seconds any one backplane operation (load a room, commit a message) may take."""

Perform = Callable[[Iterable[HubAction]], None]
"""How a backplane hands the hub's actions back to the shell to perform."""



class Backplane:
    """One interface, two implementations (see the module's docstring).

    ``shared`` says whether the hub must run with ``shared=True``; ``engine``
    and ``where`` say, in words, what serves the rooms and where their data
    lives (``wslab serve`` prints them).
    """

    shared: bool = False
    engine: str = "this process's memory"
    where: str = "not kept: lost when the server stops"

    async def start(self, hub: Hub, perform: Perform) -> None:
        """Connect; raise :class:`BackplaneError` (one line, no traceback needed) when that is impossible."""

    async def stop(self) -> None:
        """Leave: this node's members vanish from the other nodes at once; bounded."""

    async def load(self, room: str) -> None:
        """Bring ``room`` into the hub (``hub.restore_room``) and start following it."""
        raise NotImplementedError("the memory backplane has no rooms of its own: the hub holds them")

    async def commit(self, commit: Commit) -> tuple[int, bool]:
        """Append ``commit.chat`` (its text: ``commit.text``) to its room's log: ``(seq, duplicate)``.

        Raises :class:`BackplaneError`.
        """
        raise NotImplementedError("the memory backplane has no log of its own: the hub holds it")

    def share(self, share: Share) -> None:
        """Tell the other nodes (best effort now, and again at the next refresh)."""


class MemoryBackplane(Backplane):
    """Today's behaviour: the hub keeps every room in this process; nothing is shared."""
