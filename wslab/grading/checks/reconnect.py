"""Checks for ``03-reconnect``: exponential backoff, jittered, that resets only after a stable connection.

The exact-delay checks build ``Backoff(jitter=False)``; jitter itself is checked by
bounds (every delay within ``[0, min(cap, base * factor**(n-1))]``), never by value.
"""

from __future__ import annotations

from typing import Any

from wslab.core.clock import FakeClock
from wslab.grading.registry import exercise
from wslab.grading.runner import Context

ex = exercise("reconnect", title="Backoff and a retry loop that waits", notebook="03-reconnect", hidden=(4, 4))


def _backoff(ctx: Context, clock: FakeClock | None = None, **kwargs: Any) -> Any:
    cls = ctx.get("Backoff", "class")
    kwargs.setdefault("jitter", False)
    return cls(clock=clock or FakeClock(), **kwargs)


def ceilings(base: float, factor: float, cap: float, count: int) -> list[float]:
    """The upper bound of each of the first ``count`` delays: ``min(cap, base * factor**(n-1))``, without overflow."""
    out, ceiling = [], float(base)
    for _ in range(count):
        out.append(min(cap, ceiling))
        ceiling = min(cap, ceiling * factor)
    return out


def delays_within(delays: list[float], bounds: list[float], what: str) -> None:
    """Fail with a sentence naming the first delay outside ``[0, bound]``."""
    for n, (delay, bound) in enumerate(zip(delays, bounds, strict=False), 1):
        ok = isinstance(delay, (int, float)) and 0 <= delay <= bound * (1 + 1e-9)
        assert ok, f"{what}: delay {n} was {delay!r}, expected a number within [0, {bound:g}]"


@ex.check(points=2, title="Backoff delays double up to the cap",
          hint="Each delay is `factor` times the one before, starting at `base`, never above `cap`.")
def delays_grow(ctx: Context) -> None:
    backoff = _backoff(ctx, base=1.0, factor=2.0, cap=30.0)
    got = [backoff.next_delay() for _ in range(7)]
    assert got == [1, 2, 4, 8, 16, 30, 30], f"seven next_delay() calls: expected [1, 2, 4, 8, 16, 30, 30], got {got}"
    other = _backoff(ctx, base=0.5, factor=3.0, cap=10.0)
    got = [other.next_delay() for _ in range(4)]
    assert got == [0.5, 1.5, 4.5, 10.0], f"with base=0.5, factor=3, cap=10: expected [0.5, 1.5, 4.5, 10.0], got {got}"


@ex.check(points=2, title="Backoff with jitter stays within its bounds, and varies",
          hint="Full jitter: the delay without jitter, times rng() (a number in [0, 1)); keep the doubling "
               "and the cap as they were.")
def jitter_within_bounds(ctx: Context) -> None:
    backoff = _backoff(ctx, base=1.0, factor=2.0, cap=30.0, jitter=True)
    got = [backoff.next_delay() for _ in range(200)]
    delays_within(got, ceilings(1.0, 2.0, 30.0, 200), "Backoff(base=1, factor=2, cap=30, jitter=True)")
    assert len({round(d, 6) for d in got}) > 20, (
        f"with jitter=True, 200 delays took only {len({round(d, 6) for d in got})} distinct values: "
        f"expected each drawn at random, e.g. {got[:5]}"
    )
    assert any(d < 0.9 * b for d, b in zip(got, ceilings(1.0, 2.0, 30.0, 200), strict=True)), (
        "with jitter=True, every delay was (nearly) its maximum: expected delays spread over [0, maximum]"
    )
    seeded = _backoff(ctx, base=1.0, factor=2.0, cap=30.0, jitter=True, rng=lambda: 0.5)
    half = [seeded.next_delay() for _ in range(6)]
    assert half == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0], (
        f"with rng=lambda: 0.5, expected half of each delay, [0.5, 1, 2, 4, 8, 15], got {half}"
    )


@ex.check(points=2, title="Backoff does not reset when a connection opens and drops at once",
          hint="The seed resets its delay on every open; a server that accepts then drops at once gets hammered.")
def no_reset_on_flap(ctx: Context) -> None:
    clock = FakeClock()
    backoff = _backoff(ctx, clock, stable_after=5.0)
    delays = []
    for _ in range(4):
        delays.append(backoff.next_delay())
        backoff.opened()
        clock.advance(0.5)
        backoff.closed()
    assert delays == [1, 2, 4, 8], f"open-then-drop after 0.5 s, four times: expected delays [1, 2, 4, 8], got {delays}"


@ex.check(points=1, title="Backoff resets after a connection stayed up",
          hint="Only a connection that stayed open `stable_after` seconds proves the server is back.")
def reset_after_stable(ctx: Context) -> None:
    clock = FakeClock()
    backoff = _backoff(ctx, clock, stable_after=5.0)
    for _ in range(3):
        backoff.next_delay()
    backoff.opened()
    clock.advance(6.0)
    backoff.closed()
    got = backoff.next_delay()
    assert got == 1, f"after 6 s of a stable connection the next delay was {got}, expected 1"


class _FlakyConnect:
    def __init__(self, failures: int, error: type[Exception] = ConnectionRefusedError) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"refused (try {self.calls})")
        return "connection"


class _Sleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@ex.check(points=2, title="connect_with_retry awaits the backoff delay between tries",
          hint="Between failed tries, `await sleep(delay)`: time.sleep() would freeze everything else.")
async def retry_waits(ctx: Context) -> None:
    retry = ctx.get("connect_with_retry", "async")
    connect, sleep = _FlakyConnect(failures=3), _Sleep()
    got = await ctx.within(retry(connect, _backoff(ctx), sleep, attempts=5), 2.0, "connect_with_retry(...)")
    assert got == "connection", f"connect_with_retry returned {got!r}, not what connect() returned"
    assert connect.calls == 4, f"expected 4 calls to connect() (3 failures, then a success), got {connect.calls}"
    assert sleep.delays == [1, 2, 4], f"expected sleep awaited with [1, 2, 4], got {sleep.delays}"
