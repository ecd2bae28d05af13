"""Reconnect delays, sans I/O: a pure policy, a small state machine, and when to stop.

The seed's client waits ``delay`` after each close, doubles it up to 30 s and
sets it back to 1 s in ``onopen``. Two flaws hide in those three lines:

* **reset on every open**: a server that accepts and then closes at once
  resets the delay each time, so the client reconnects every second forever
  (with a zero initial delay, in a tight loop);
* **no jitter**: when a server restarts, every client computed the same
  delays, so they all come back at the same instants (a thundering herd).

:class:`BackoffPolicy` holds the numbers; :class:`Backoff` is the state (the
attempt counter and when the connection opened). Neither reads a clock or
sleeps: the caller passes ``now`` (monotonic seconds) and waits the delays
itself, so tests drive them with plain numbers::

    backoff = Backoff(BackoffPolicy(seed=1))
    delay = backoff.next_delay()     # wait this long, then connect
    backoff.on_open(now)             # the connection opened at ``now``
    backoff.on_close(now)            # ...and closed; resets only if it stayed up

Contracts (checked by property tests in ``tests/core/test_backoff.py``):

* the ``n``-th delay after a reset lies in ``[0, min(cap, initial * factor**(n-1))]``
  with full jitter, exactly at the upper end with ``jitter="none"``, and in its
  upper half with ``jitter="equal"``;
* jitter is applied after the cap, so delays never exceed ``cap``;
* the attempt counter goes back to zero only after a connection stayed up at
  least ``stay_up`` seconds (or on :meth:`Backoff.reset`), unless the policy
  has ``reset_on_open`` (the seed's flaw, kept for lessons: :data:`seed_backoff`);
* the same ``seed`` gives the same delays.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from wslab.core import protocol as p

__all__ = [
    "BackoffPolicy",
    "Backoff",
    "Jitter",
    "STOP_CODES",
    "should_reconnect",
    "ReconnectPredicate",
    "seed_backoff",
]

Jitter = Literal["full", "equal", "none"]
"""``full``: uniform in ``[0, d]``; ``equal``: uniform in ``[d/2, d]``; ``none``: exactly ``d``."""

ReconnectPredicate = Callable[[int | None], bool]
"""Given the close code (None when the connection failed without one), say whether to reconnect."""

STOP_CODES: frozenset[int] = frozenset(
    {p.CLOSE_NORMAL, p.CLOSE_POLICY_VIOLATION, p.CLOSE_UNAUTHORIZED, p.CLOSE_KICKED, p.CLOSE_BANNED}
)
"""Close codes after which a client must not reconnect by itself."""


@dataclass(frozen=True)
class BackoffPolicy:
    """How long to wait before each reconnect attempt. Immutable and validated.

    Args:
        initial: the first delay, in seconds (the seed: 1 s). Must be > 0.
        factor: each further attempt multiplies the delay by this (>= 1).
        cap: no delay is ever longer than this (the seed: 30 s); >= ``initial``.
        jitter: ``"full"`` (default, recommended), ``"equal"`` or ``"none"``
            (the seed). See :data:`Jitter`.
        stay_up: a connection must stay open this many seconds before the
            attempt counter resets on close; >= 0.
        seed: seeds the random jitter, so runs repeat; None for fresh randomness.
        reset_on_open: reset the counter as soon as a connection opens, as the
            seed does (a flaw; only :data:`seed_backoff` sets it).

    A policy is also callable to get a changed copy:
    ``BackoffPolicy()(initial=0.05)`` equals ``BackoffPolicy(initial=0.05)``.
    """

    initial: float = 1.0
    factor: float = 2.0
    cap: float = 30.0
    jitter: Jitter = "full"
    stay_up: float = 5.0
    seed: int | None = None
    reset_on_open: bool = False

    def __post_init__(self) -> None:
        for name in ("initial", "factor", "cap", "stay_up"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"BackoffPolicy {name} must be a finite number, got {value!r}")
        if self.initial <= 0:
            raise ValueError(f"BackoffPolicy initial must be > 0 seconds, got {self.initial!r}")
        if self.factor < 1:
            raise ValueError(f"BackoffPolicy factor must be >= 1 (delays must not shrink), got {self.factor!r}")
        if self.cap < self.initial:
            raise ValueError(f"BackoffPolicy cap ({self.cap!r}) must be >= initial ({self.initial!r})")
        if self.stay_up < 0:
            raise ValueError(f"BackoffPolicy stay_up must be >= 0, got {self.stay_up!r}")
        if self.jitter not in ("full", "equal", "none"):
            raise ValueError(f"BackoffPolicy jitter must be 'full', 'equal' or 'none', got {self.jitter!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise ValueError(f"BackoffPolicy seed must be an int or None, got {self.seed!r}")

    def __call__(self, **changes: Any) -> BackoffPolicy:
        """A copy with ``changes`` applied (and validated), e.g. ``seed_backoff(initial=0.05)``."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(f"BackoffPolicy has no field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return replace(self, **changes)

    def ceiling(self, attempt: int) -> float:
        """The capped delay before jitter for ``attempt`` (1-based): ``min(cap, initial * factor**(attempt-1))``."""
        if attempt < 1:
            raise ValueError(f"attempt counts from 1, got {attempt!r}")
        if self.factor == 1:
            return min(self.cap, self.initial)
        # Compare in log space: factor**attempt overflows a float for large attempts.
        if (attempt - 1) * math.log(self.factor) >= math.log(self.cap / self.initial):
            return self.cap
        return min(self.cap, self.initial * self.factor ** (attempt - 1))

    def bounds(self, attempt: int) -> tuple[float, float]:
        """The closed interval every delay for ``attempt`` falls in, given the jitter."""
        top = self.ceiling(attempt)
        if self.jitter == "full":
            return (0.0, top)
        if self.jitter == "equal":
            return (top / 2, top)
        return (top, top)

    def delay(self, attempt: int, rng: random.Random) -> float:
        """One delay for ``attempt`` (1-based), drawing jitter from ``rng``."""
        low, high = self.bounds(attempt)
        if low == high:
            return high
        return rng.uniform(low, high)


seed_backoff = BackoffPolicy(jitter="none", reset_on_open=True)
"""The seed lesson's backoff, flaws included: 1 s, doubling to 30 s, no jitter, reset on every open.

For lessons that show the flaw side by side with the fix. Call it for a
faster time scale: ``seed_backoff(initial=0.05, cap=1.5)``.
"""


class Backoff:
    """The attempt counter of one client, driven by :class:`BackoffPolicy`.

    Not thread-safe; owned by one client. ``rng`` defaults to
    ``random.Random(policy.seed)``.
    """

    def __init__(self, policy: BackoffPolicy | None = None, rng: random.Random | None = None) -> None:
        self.policy = policy if policy is not None else BackoffPolicy()
        self.rng = rng if rng is not None else random.Random(self.policy.seed)
        self._attempt = 0
        self._opened_at: float | None = None

    @property
    def attempt(self) -> int:
        """How many delays were handed out since the last reset (0 right after one)."""
        return self._attempt

    def next_delay(self) -> float:
        """Count one more attempt and return the seconds to wait before it."""
        self._attempt += 1
        return self.policy.delay(self._attempt, self.rng)

    def on_open(self, now: float) -> None:
        """A connection opened at monotonic time ``now``."""
        self._opened_at = now
        if self.policy.reset_on_open:
            self._attempt = 0

    def on_close(self, now: float) -> bool:
        """A connection closed (or an attempt failed) at ``now``; returns whether the counter reset.

        The counter resets only if a connection had opened and stayed up at
        least ``policy.stay_up`` seconds: a server that accepts and closes at
        once keeps the delays growing.
        """
        opened, self._opened_at = self._opened_at, None
        if opened is not None and now - opened >= self.policy.stay_up:
            self._attempt = 0
            return True
        return False

    def reset(self) -> None:
        """Forget every attempt (e.g. when the user reconnects by hand)."""
        self._attempt = 0
        self._opened_at = None

    def __repr__(self) -> str:
        return f"Backoff(attempt={self._attempt}, policy={self.policy!r})"


def should_reconnect(code: int | None) -> bool:
    """The default answer to "reconnect after this close code?".

    False for codes that mean "stop": 1000 normal closure (someone closed on
    purpose), 1008 policy violation (flooding), 4001 unauthorized and 4003
    kicked (:data:`STOP_CODES`). True for everything else, including None
    (the connection failed or dropped without a close frame), 1001 going
    away, 1006, 1011 and 1012 service restart. A client never reconnects
    after its own ``close()``, whatever this says.
    """
    return code not in STOP_CODES
