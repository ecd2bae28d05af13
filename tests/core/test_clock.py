"""The one injectable clock: a fake that moves only when told, the real one, and ISO timestamps."""

from __future__ import annotations

import time

import pytest

from wslab.core.clock import SYSTEM_CLOCK, Clock, FakeClock, SystemClock, iso_utc


def test_fake_clock_moves_only_forward_and_together() -> None:
    clock = FakeClock(monotonic=10.0, wall=1000.0)
    clock.advance(1.5)
    assert (clock.monotonic(), clock.wall()) == (11.5, 1001.5)
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_system_clock_is_monotonic() -> None:
    clock = SystemClock()
    first = clock.monotonic()
    assert clock.monotonic() >= first


def test_iso_utc_has_milliseconds_and_z() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00.000Z"
    assert iso_utc(1_700_000_000.9999) == "2023-11-14T22:13:20.999Z"


def test_a_fake_clock_stands_still_until_advanced_and_says_where_it_is() -> None:
    clock = FakeClock()
    assert (clock.monotonic(), clock.wall()) == (0.0, 1_700_000_000.0)
    assert (clock.monotonic(), clock.wall()) == (0.0, 1_700_000_000.0)  # reading it moves nothing
    clock.advance(0)
    assert repr(clock) == "FakeClock(monotonic=0.0, wall=1700000000.0)"


def test_the_system_clock_reads_the_real_time_and_both_are_clocks() -> None:
    before = time.time()
    assert before <= SYSTEM_CLOCK.wall() <= time.time()
    assert repr(SYSTEM_CLOCK) == "SystemClock()"
    clocks: list[Clock] = [SYSTEM_CLOCK, FakeClock()]  # both satisfy the protocol the shells take
    assert all(isinstance(c.monotonic(), float) and isinstance(c.wall(), float) for c in clocks)


def test_iso_utc_is_utc_whatever_the_local_zone() -> None:
    assert iso_utc(1_700_000_000.123) == "2023-11-14T22:13:20.123Z"
    assert iso_utc(FakeClock().wall()) == "2023-11-14T22:13:20.000Z"
