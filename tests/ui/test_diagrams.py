"""The lessons' pictures: deterministic SVG whose accessible name says what it shows."""

from __future__ import annotations

import re

import pytest

from wslab.ui.diagrams import (
    broadcast_room,
    heartbeat_budget,
    sequence_diagram,
    simulate_slow_reader,
    slow_reader,
    stream_after_cut,
)
from wslab.ui.figures import Figure
from wslab.ui.frame_log import FrameRow

CLOSE_HANDSHAKE = [
    FrameRow(0.0, "", "STATE", "connection is OPEN"),
    FrameRow(0.1, "sent", "TEXT", "'hello'", length=5, masked=True),
    FrameRow(0.2, "received", "TEXT", "'hello'", length=5, masked=False),
    FrameRow(0.3, "sent", "CLOSE", "1000 'bye'", length=5, masked=True, close_code=1000, close_reason="bye"),
    FrameRow(0.3, "", "STATE", "connection is CLOSING"),
    FrameRow(0.4, "received", "CLOSE", "1000 'bye'", length=5, masked=False, close_code=1000, close_reason="bye"),
    FrameRow(0.4, "", "STATE", "connection is CLOSED"),
]


def named(figure: Figure) -> str:
    """The accessible name in the SVG, checked to be the summary."""
    name = re.search(r'aria-label="([^"]*)"', figure.svg)
    assert name is not None and f"<title>{name.group(1)}</title>" in figure.svg
    return repr(figure)


@pytest.mark.parametrize("make", [
    lambda: sequence_diagram(CLOSE_HANDSHAKE, ready_state=True),
    lambda: broadcast_room(["Ada", "Bob", "Cy"], "Ada", stalled=["Cy"]),
    lambda: heartbeat_budget({"fast": (0.25, 0.25, 0.25)}),
    lambda: slow_reader(),
    lambda: stream_after_cut(),
])
def test_each_picture_is_the_same_on_every_run_and_has_a_name(make: object) -> None:
    first, second = make(), make()  # type: ignore[operator]
    assert first.svg == second.svg and first._repr_html_() == second._repr_html_()
    assert named(first) and 'alt="' in first._repr_html_()


def test_the_sequence_of_a_close_handshake_in_order_with_ready_states() -> None:
    name = named(sequence_diagram(CLOSE_HANDSHAKE, title="close", ready_state=True))
    assert name == (
        "close, in order: state OPEN (1); client sends TEXT 'hello', masked; server sends TEXT 'hello'; "
        "client sends CLOSE 1000 'bye', masked; state CLOSING (2); server sends CLOSE 1000 'bye'; state CLOSED (3)"
    )
    assert named(sequence_diagram([])) == "one connection: no frames"


def test_a_server_side_log_puts_the_server_on_the_right_still() -> None:
    rows = [FrameRow(0.0, "received", "TEXT", "'hi'", length=2, masked=True)]
    assert named(sequence_diagram(rows, side="server")).endswith("client sends TEXT 'hi', masked")


def test_broadcast_names_who_gets_it_who_waits_in_a_buffer_and_who_is_skipped() -> None:
    name = named(broadcast_room(["Ada", "Bob", "Cy", "Dee"], "Ada", stalled=["Cy"], closing=["Dee"], queued=2))
    assert "Ada gets it at once (the sender too)" in name and "Bob gets it at once" in name
    assert "Cy, who stopped reading, gets it into its write buffer behind 2 others" in name
    assert "Dee, whose connection is closing, is skipped" in name


def test_the_heartbeat_budget_adds_the_three_timeouts() -> None:
    name = named(heartbeat_budget({"fast": (0.25, 0.25, 0.25), "default close": (0.4, 0.4, 10.0)}))
    assert "fast: 0.25 + 0.25 + 0.25 = 0.75 s" in name and "default close: 0.4 + 0.4 + 10 = 10.8 s" in name


def test_a_slow_readers_buffer_grows_until_the_watchdogs_first_look_above_the_limit() -> None:
    steps, closed = simulate_slow_reader(100_000, 0.1, 3.0, limit=256 * 1024, check_every=0.5)
    assert closed == 0.5 and steps[-1] == (0.5, 500_000)
    steps, closed = simulate_slow_reader(100_000, 0.1, 3.0, limit=None)
    assert closed is None and steps[-1] == (3.0, 3_000_000)
    _, closed = simulate_slow_reader(10_000, 0.1, 3.0, limit=256 * 1024, check_every=0.5)
    assert closed == 3.0  # 300 kB > 256 KiB at the look at 3 s
    _, closed = simulate_slow_reader(8_000, 0.1, 3.0, limit=256 * 1024, check_every=0.5)
    assert closed is None  # 240 kB after 3 s: never above the limit
    assert "closes it with 4008 at 0.5 s" in named(slow_reader())


def test_after_a_cut_the_stream_reader_gets_what_it_missed_and_pubsub_does_not() -> None:
    name = named(stream_after_cut(8, (4, 6)))
    assert "node two reads on from its last id, 3-0, and delivers 4, 5, 6 after the cut" in name
    assert "a pub/sub subscriber on the same link loses 4, 5, 6" in name
