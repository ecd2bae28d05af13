"""One injectable clock for everything in wslab.

The sans-I/O cores (:mod:`wslab.core.hub`, :mod:`wslab.core.backoff`, rate limits,
typing timers) never read the time themselves: they are handed ``now`` by
their caller. The asyncio shells read it from a :class:`Clock`, so a test can
swap in a :class:`FakeClock` and move time by hand.

Two readings are needed and kept apart:

* :meth:`Clock.monotonic` for timers and deadlines (never goes backwards);
* :meth:`Clock.wall` for timestamps shown to people (seconds since the epoch,
  UTC).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "SystemClock", "FakeClock", "SYSTEM_CLOCK", "iso_utc"]


class Clock(Protocol):
    """What wslab needs from a clock."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards; only differences matter."""
        ...

    def wall(self) -> float:
        """Seconds since the Unix epoch, UTC."""
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic` and :func:`time.time`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()
"""The shared real clock, used wherever no clock is injected."""


class FakeClock:
    """A clock that only moves when told to.

    Both readings advance together, so timestamps and deadlines stay in step::

        clock = FakeClock(wall=1_700_000_000.0)
        clock.advance(2.5)
    """

    def __init__(self, monotonic: float = 0.0, wall: float = 1_700_000_000.0) -> None:
        self._monotonic = monotonic
        self._wall = wall

    def monotonic(self) -> float:
        return self._monotonic

    def wall(self) -> float:
        return self._wall

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (which must not be negative)."""
        if seconds < 0:
            raise ValueError(f"time cannot go backwards (advance({seconds!r}))")
        self._monotonic += seconds
        self._wall += seconds

    def __repr__(self) -> str:
        return f"FakeClock(monotonic={self._monotonic!r}, wall={self._wall!r})"


def iso_utc(wall: float) -> str:
    """Format epoch seconds as ISO-8601 UTC with milliseconds, e.g. ``2026-11-27T09:52:04.123Z``."""
    moment = datetime.fromtimestamp(wall, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
