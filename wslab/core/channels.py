"""Channels, sans I/O: :class:`Channels`, the open channels, their subscribers and their ``seq``.

A channel is a stream of ``update`` frames the server publishes (a live
dashboard's ticker, say). Only the server opens channels, by
:meth:`Channels.open` or by publishing; clients ``subscribe`` and
``unsubscribe``, and need not have joined a room.

Contracts:

* a ``subscribe`` or an ``unsubscribe`` naming a channel that is not open is
  refused alike, with one ``unknown-channel``
  :class:`~wslab.core.errors.ProtocolError` that lists (at most
  :data:`LISTED_CHANNELS` of) the open channels; an ``unsubscribe`` from an
  open channel one is not subscribed to is answered ``unsubscribed``;
* each channel's ``seq`` counts its updates from 1, with no gaps: an update
  that cannot be encoded raises :class:`ValueError` before anything changes
  (no channel opened, no ``seq`` used);
* every update is encoded once, whatever the number of subscribers.

Subscribers are connections as the shell names them: any hashable object.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from wslab.core import protocol as p
from wslab.core.clock import iso_utc

__all__ = ["Channels", "LISTED_CHANNELS"]

LISTED_CHANNELS = 20
"""How many channel names an ``unknown-channel`` error lists at most."""


@dataclass
class _Channel:
    seq: int = 0
    subscribers: dict[Hashable, None] = field(default_factory=dict)  # in subscription order


class Channels:
    """The open channels of one server, their subscribers and each one's ``seq``."""

    def __init__(self) -> None:
        self._open: dict[str, _Channel] = {}  # in the order they were opened
        self._of: dict[Hashable, set[str]] = {}  # connection -> the channels it is subscribed to

    def open(self, channel: str) -> str:
        """Open ``channel`` (opening it twice is harmless); returns its name.

        Raises :class:`~wslab.core.errors.ProtocolError` (a :class:`ValueError`)
        for a name that is not a valid channel name.
        """
        channel = p.validate_channel(channel)
        self._open.setdefault(channel, _Channel())
        return channel

    def names(self) -> list[str]:
        """The open channels, in the order they were opened."""
        return list(self._open)

    def subscribers(self, channel: str) -> tuple[Hashable, ...]:
        """The connections subscribed to ``channel``, in subscription order (none if it is not open)."""
        found = self._open.get(channel)
        return tuple(found.subscribers) if found else ()

    def subscribe(self, conn: Hashable, channel: str) -> str:
        """Subscribe ``conn`` to ``channel``; returns the encoded ``subscribed`` reply.

        Raises :class:`~wslab.core.errors.ProtocolError` (``unknown-channel``)
        if the channel is not open, and changes nothing.
        """
        found = self._find(channel)
        reply = p.encode({"type": "subscribed", "channel": channel})
        found.subscribers[conn] = None
        self._of.setdefault(conn, set()).add(channel)
        return reply

    def unsubscribe(self, conn: Hashable, channel: str) -> str:
        """Unsubscribe ``conn`` from ``channel`` (subscribed or not); returns the encoded ``unsubscribed`` reply.

        Raises :class:`~wslab.core.errors.ProtocolError` (``unknown-channel``)
        if the channel is not open, as :meth:`subscribe` does.
        """
        found = self._find(channel)
        reply = p.encode({"type": "unsubscribed", "channel": channel})
        found.subscribers.pop(conn, None)
        mine = self._of.get(conn)
        if mine is not None:
            mine.discard(channel)
            if not mine:
                del self._of[conn]
        return reply

    def forget(self, conn: Hashable) -> None:
        """``conn`` is gone: off every channel it was subscribed to."""
        for channel in self._of.pop(conn, ()):
            found = self._open.get(channel)
            if found is not None:
                found.subscribers.pop(conn, None)

    def publish(self, channel: str, data: Any, wall: float) -> tuple[tuple[Hashable, ...], str]:
        """An ``update`` with ``data``, stamped with ``wall`` (Unix seconds): ``(subscribers, frame)``.

        Opens the channel if needed and uses its next ``seq``. Raises
        :class:`ValueError` (and changes nothing) for an invalid channel name or
        ``data`` that cannot be sent as JSON text (see
        :func:`wslab.core.protocol.encode`).
        """
        channel = p.validate_channel(channel)
        found = self._open.get(channel)
        seq = (found.seq if found else 0) + 1
        frame = p.encode({"type": "update", "channel": channel, "seq": seq, "timestamp": iso_utc(wall), "data": data})
        # Encoded: now change the state.
        if found is None:
            found = self._open[channel] = _Channel()
        found.seq = seq
        return tuple(found.subscribers), frame

    def __repr__(self) -> str:
        return f"<Channels {self.names()!r}>"

    def _find(self, channel: str) -> _Channel:
        found = self._open.get(channel)
        if found is not None:
            return found
        names = list(self._open)
        if not names:
            there = "the server has not opened any channel yet"
        else:
            listed = ", ".join(repr(n) for n in names[:LISTED_CHANNELS])
            more = f" and {len(names) - LISTED_CHANNELS} more" if len(names) > LISTED_CHANNELS else ""
            there = f"the channels are: {listed}{more}"
        raise p.ProtocolError(
            p.ErrorCode.UNKNOWN_CHANNEL,
            f"there is no channel {channel!r}; {there}",
            field="channel",
            channel=channel,
        )
