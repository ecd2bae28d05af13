"""The dashboard's list of people, sans widgets: read from a report, sorted and filtered for a room of 40."""

from __future__ import annotations

import pytest

from wslab.classroom.roster import SHOWS, SORTS, Person, arrange, people
from wslab.core.admin_protocol import MemberInfo
from wslab.core.hub import RoomSnapshot

ROOM = RoomSnapshot("lobby", ("zoe", "Ada", "bob", "Cy", "dee"), ("bob",), ("cy",), 0, 0)
MEMBERS = [
    MemberInfo("zoe", False, False, 0, 0, False),
    MemberInfo("Ada", False, False, 2, 0, False),
    MemberInfo("bob", False, True, 0, 0, False),
    MemberInfo("Cy", True, False, 0, 0, False),
    MemberInfo("dee", False, False, 7, 300_000, True),
]


def names(listed: list[Person]) -> list[str]:
    return [person.name for person in listed]


def test_people_are_read_from_the_report_in_join_order_with_their_details() -> None:
    listed = people(ROOM, MEMBERS)
    assert names(listed) == ["zoe", "Ada", "bob", "Cy", "dee"]
    cy, dee = listed[3], listed[4]
    assert cy.muted and not cy.typing and listed[2].typing  # muted names are casefolded in a snapshot
    assert dee.flooding and dee.slow and dee.strikes == 7
    assert names(people(ROOM)) == names(listed) and not people(ROOM)[4].flooding  # a source without details


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("joined", ["zoe", "Ada", "bob", "Cy", "dee"]),
        ("name", ["Ada", "bob", "Cy", "dee", "zoe"]),  # ignoring case
        ("state", ["Ada", "dee", "Cy", "bob", "zoe"]),  # flooding or slow, muted, typing, the rest; stable
        ("flooding", ["dee", "Ada", "zoe", "bob", "Cy"]),  # most dropped first; the rest as they joined
    ],
)
def test_each_sort(sort: str, expected: list[str]) -> None:
    assert names(arrange(people(ROOM, MEMBERS), sort=sort)) == expected


@pytest.mark.parametrize(
    ("show", "expected"),
    [("everyone", ["zoe", "Ada", "bob", "Cy", "dee"]), ("muted", ["Cy"]), ("typing", ["bob"]),
     ("flooding", ["Ada", "dee"]), ("slow", ["dee"])],
)
def test_each_filter(show: str, expected: list[str]) -> None:
    assert names(arrange(people(ROOM, MEMBERS), show=show)) == expected


def test_find_a_piece_of_a_name_any_case_with_a_sort_and_a_filter() -> None:
    listed = people(ROOM, MEMBERS)
    assert names(arrange(listed, find=" D ")) == ["Ada", "dee"]
    assert names(arrange(listed, sort="name", show="flooding", find="e")) == ["dee"]
    assert arrange(listed, find="nobody") == []


def test_an_unknown_sort_or_filter_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="joined, name, state, flooding"):
        arrange([], sort="age")
    with pytest.raises(ValueError, match="everyone, muted, typing, flooding, slow"):
        arrange([], show="asleep")
    assert set(SORTS) == {"joined", "name", "state", "flooding"} and "everyone" in SHOWS
