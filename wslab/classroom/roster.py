"""The dashboard's list of people, sans widgets: who is in the room, sorted and filtered for a room of 40.

:func:`people` reads a report (a :class:`~wslab.core.hub.RoomSnapshot` and, when
the server gives them, each member's :class:`~wslab.core.admin_protocol.MemberInfo`);
:func:`arrange` sorts and filters the result. The instructor's dashboard
(:mod:`wslab.classroom.instructor_dashboard`) shows what :func:`arrange` returns
and keeps no rule of its own, so these are tested with plain values.

Sorts (:data:`SORTS`): in the order people joined, by name (ignoring case), by
state (who needs attention first: flooding or slow, then muted, then typing,
then the others), by flooding (most frames dropped first). Filters
(:data:`SHOWS`): everyone, or only the muted, the typing, the flooding or the
slow; and a piece of a name (ignoring case). Every sort is stable: people with
the same key keep the order they joined in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from wslab.core.admin_protocol import MemberInfo
from wslab.core.hub import RoomSnapshot

__all__ = ["Person", "SHOWS", "SORTS", "arrange", "people"]

SORTS = {
    "joined": "Joined",
    "name": "Name",
    "state": "Needs attention",
    "flooding": "Flooding",
}
"""The sorts: key -> what the dashboard's menu says."""

SHOWS = {
    "everyone": "Everyone",
    "muted": "Muted",
    "typing": "Typing",
    "flooding": "Flooding",
    "slow": "Slow",
}
"""The filters: key -> what the dashboard's menu says."""


@dataclass(frozen=True)
class Person:
    """One person in the room, as the dashboard lists them."""

    name: str
    joined: int
    """Their place in the order people joined (0 first)."""
    muted: bool = False
    typing: bool = False
    strikes: int = 0
    """Frames the rate limit dropped (flooding when > 0)."""
    queued_bytes: int = 0
    slow: bool = False

    @property
    def flooding(self) -> bool:
        return self.strikes > 0

    @property
    def attention(self) -> int:
        """0 for flooding or slow, 1 muted, 2 typing, 3 the others: the "Needs attention" order."""
        if self.flooding or self.slow:
            return 0
        return 1 if self.muted else 2 if self.typing else 3


def people(snapshot: RoomSnapshot, members: Iterable[MemberInfo] = ()) -> list[Person]:
    """Everyone in ``snapshot``, in the order they joined, with their details from ``members`` when known."""
    details = {m.name: m for m in members}
    muted, typing = set(snapshot.muted), set(snapshot.typing)
    listed = []
    for index, name in enumerate(snapshot.online):
        info = details.get(name)
        listed.append(
            Person(
                name, index, muted=name.casefold() in muted, typing=name in typing,
                strikes=info.strikes if info else 0, queued_bytes=info.queued_bytes if info else 0,
                slow=info.slow if info else False,
            )
        )
    return listed


def arrange(listed: Sequence[Person], sort: str = "joined", show: str = "everyone", find: str = "") -> list[Person]:
    """``listed`` filtered by ``show`` and ``find`` (a piece of a name, any case), sorted by ``sort``.

    Raises :class:`ValueError` for an unknown sort or filter, naming the known ones.
    """
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}; one of: {', '.join(SORTS)}")
    if show not in SHOWS:
        raise ValueError(f"unknown filter {show!r}; one of: {', '.join(SHOWS)}")
    wanted = find.strip().casefold()
    chosen = [
        person for person in listed
        if (show == "everyone" or getattr(person, show)) and wanted in person.name.casefold()
    ]
    keys: dict[str, Callable[[Person], int | str]] = {
        "joined": lambda person: person.joined,
        "name": lambda person: person.name.casefold(),
        "state": lambda person: person.attention,
        "flooding": lambda person: -person.strikes,
    }
    return sorted(sorted(chosen, key=lambda person: person.joined), key=keys[sort])
