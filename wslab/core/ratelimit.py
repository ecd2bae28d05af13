"""The token bucket, sans I/O: the server's per-connection rate limit and the client's pacing.

One rule, used on both sides: ``rate`` tokens a second flow into a bucket that
holds at most ``burst``; each frame takes one. The server refuses a frame when
the bucket is empty (:meth:`TokenBucket.allow`); a client waits until it is not
(:meth:`TokenBucket.reserve`), pacing itself a little under the server's limit.
Time is handed in as ``now`` (monotonic seconds); nothing here reads a clock.
"""

from __future__ import annotations

__all__ = ["TokenBucket"]


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; starts full.

    Raises :class:`ValueError` unless ``rate > 0`` and ``burst >= 1``.
    """

    __slots__ = ("rate", "burst", "tokens", "updated")

    def __init__(self, rate: float, burst: int, now: float | None = None) -> None:
        if not rate > 0 or burst < 1:
            raise ValueError(f"a token bucket needs rate > 0 and burst >= 1, got rate={rate!r}, burst={burst!r}")
        self.rate = float(rate)
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now

    def _refill(self, now: float) -> None:
        if self.updated is not None:
            self.tokens = min(float(self.burst), self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now

    def allow(self, now: float) -> bool:
        """Take one token if there is one; say whether there was (the server's check)."""
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def ready(self, now: float) -> bool:
        """Whether a token is there now, taking none (for limits that charge only for failures)."""
        self._refill(now)
        return self.tokens >= 1.0

    def reserve(self, now: float) -> float:
        """Take one token now and return 0.0, or return the seconds until one is there (taking none)."""
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate:g}, burst={self.burst}, tokens={self.tokens:.2f})"
