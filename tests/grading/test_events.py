"""The checker's events to the grader: every kind dumped on one line and parsed back; anything else a ValueError."""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Callable

import pytest

from wslab.grading import events
from wslab.grading.events import MAX_TEXT, CellResult, CheckResult, CheckStart, Done, Note, Progress, dump, parse

SAMPLES: list[events.Event] = [
    CellResult(3, "ok"),
    CellResult(7, "crashed", "this cell ended the grading process (it ran out of memory)"),
    CheckStart("state_names", 5),
    CheckStart("transitions", 2.5),
    CheckResult("state_names", "pass"),
    CheckResult("transitions", "not-run", "not run: grading of this submission was stopped first"),
    Note("a warning from Python:\nDeprecationWarning: élan — ünïcode ✓"),
    Progress("cell 4"),
    Done(),
    Done(2),
]

AWKWARD = "one\ntwo\r\nthree\u2028four\u2029five\x85six\x1cseven\x0beight\x00nine"
"""Everything :meth:`str.splitlines` splits on, and a NUL: a message may hold any of them."""


def test_the_samples_cover_every_kind_of_event() -> None:
    assert {type(e) for e in SAMPLES} == set(typing.get_args(events.Event))


@pytest.mark.parametrize("event", SAMPLES, ids=repr)
@pytest.mark.parametrize("wire", [str, str.encode, lambda line: line + "\n", lambda line: (line + "\n").encode()],
                         ids=["str", "bytes", "str-newline", "bytes-newline"])
def test_every_event_comes_back_as_it_was_dumped(event: events.Event, wire: Callable[[str], str | bytes]) -> None:
    """The grader reads the checker's stdout as bytes, newline included; both forms parse."""
    back = parse(wire(dump(event)))
    assert back == event and type(back) is type(event)


def test_the_wire_form_names_the_kind_beside_the_fields() -> None:
    assert json.loads(dump(CheckResult("a", "fail", "m"))) == {
        "event": "check", "name": "a", "status": "fail", "message": "m"
    }
    assert json.loads(dump(Done(1))) == {"event": "done", "restarts": 1}
    assert json.loads(dump(CheckStart("a", 1.5))) == {"event": "check-start", "name": "a", "limit": 1.5}


@pytest.mark.parametrize(
    "event",
    [CellResult(1, "error", AWKWARD), CheckStart(AWKWARD, 1.0), CheckResult(AWKWARD, "fail", AWKWARD), Note(AWKWARD),
     Progress(AWKWARD)],
    ids=lambda e: type(e).__name__,
)
def test_a_text_with_line_breaks_is_still_dumped_on_one_ascii_line(event: events.Event) -> None:
    line = dump(event)
    assert line.splitlines() == [line] and "\n" not in line and line.isascii()
    assert parse(line) == event


@pytest.mark.parametrize(
    ("line", "event"),
    [
        ('{"event": "done"}', Done(0)),
        ('{"event": "cell", "index": 2, "status": "ok"}', CellResult(2, "ok", "")),
        ('{"event": "check", "name": "a", "status": "pass"}', CheckResult("a", "pass", "")),
        ('  {"limit": 3, "name": "a", "event": "check-start"}  ', CheckStart("a", 3)),
    ],
)
def test_fields_with_a_default_may_be_left_out_and_order_does_not_matter(line: str, event: events.Event) -> None:
    assert parse(line) == event


def test_a_text_of_exactly_max_text_characters_is_accepted() -> None:
    assert parse(dump(Note("é" * MAX_TEXT))) == Note("é" * MAX_TEXT)  # characters, not bytes on the wire


@pytest.mark.parametrize(
    ("line", "error"),
    [
        # not JSON
        ("", "not JSON"),
        ("not json", "not JSON"),
        ('{"event": "done"', "not JSON"),
        ('{"event": "done"} {"event": "done"}', "not JSON"),  # two events on one line
        (b"\xff\xfe\xfa", "not JSON"),  # not text in any encoding JSON allows
        ("[" * 100_000, "not JSON"),  # nested past the parser's recursion limit
        # JSON, but not an object
        ("null", "not an object"),
        ("[1, 2]", "not an object"),
        ('"done"', "not an object"),
        ("3", "not an object"),
        # an object, but not a known kind
        ("{}", "not a known event"),
        ('{"index": 1, "status": "ok"}', "not a known event"),
        ('{"event": "explode"}', "not a known event"),
        ('{"event": "Done"}', "not a known event"),
        ('{"event": 1}', "not a known event"),
        ('{"event": null}', "not a known event"),
        ('{"event": ["done"]}', "not a known event"),
        ('{"event": {"kind": "done"}}', "not a known event"),
        # a field missing
        ('{"event": "cell", "status": "ok"}', "no index"),
        ('{"event": "cell", "index": 1}', "no status"),
        ('{"event": "check-start", "name": "a"}', "no limit"),
        ('{"event": "check", "status": "pass"}', "no name"),
        ('{"event": "note"}', "no text"),
        ('{"event": "progress"}', "no what"),
        # a field too many
        ('{"event": "done", "restarts": 0, "points": 9}', "unknown fields: ['points']"),
        ('{"event": "check", "name": "a", "status": "pass", "score": 9, "bonus": 1}',
         "unknown fields: ['bonus', 'score']"),
        # a field of the wrong type
        ('{"event": "cell", "index": "1", "status": "ok"}', "index has the wrong type"),
        ('{"event": "cell", "index": 1.0, "status": "ok"}', "index has the wrong type"),
        ('{"event": "cell", "index": true, "status": "ok"}', "index has the wrong type"),
        ('{"event": "cell", "index": 1, "status": 0}', "status has the wrong type"),
        ('{"event": "cell", "index": 1, "status": "ok", "detail": null}', "detail has the wrong type"),
        ('{"event": "check-start", "name": "a", "limit": "5"}', "limit has the wrong type"),
        ('{"event": "check-start", "name": "a", "limit": false}', "limit has the wrong type"),
        ('{"event": "check-start", "name": ["a"], "limit": 5}', "name has the wrong type"),
        ('{"event": "check", "name": "a", "status": {"pass": true}}', "status has the wrong type"),
        ('{"event": "note", "text": 42}', "text has the wrong type"),
        ('{"event": "done", "restarts": 1.5}', "restarts has the wrong type"),
        ('{"event": "done", "restarts": "0"}', "restarts has the wrong type"),
        # a text too long
        (dump(Note("x" * (MAX_TEXT + 1))), "text is too long"),
        (dump(CheckResult("a", "fail", "m" * (MAX_TEXT + 1))), "message is too long"),
        (dump(CellResult(1, "error", "d" * 10 * MAX_TEXT)), "detail is too long"),
        (dump(CheckStart("n" * (MAX_TEXT + 1), 1.0)), "name is too long"),
    ],
    ids=lambda v: None if isinstance(v, str) and len(v) < 60 else "long",
)
def test_a_line_that_is_not_an_event_is_a_value_error_saying_why(line: str | bytes, error: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(error)}$"):
        parse(line)
