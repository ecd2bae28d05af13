"""Checks for ``03-reconnect``: exponential backoff that resets only after a stable connection."""

from __future__ import annotations

from typing import Any

from wslab.core.clock import FakeClock
from wslab.grading.registry import exercise
from wslab.grading.runner import Context

ex = exercise("reconnect", title="Backoff and a retry loop that waits", notebook="03-reconnect")


def _backoff(ctx: Context, clock: FakeClock | None = None, **kwargs: Any) -> Any:
    cls = ctx.get("Backoff", "class")
    return cls(clock=clock or FakeClock(), **kwargs)


@ex.check(points=2, title="Backoff delays double up to the cap",
          hint="Each delay is `factor` times the one before, starting at `base`, never above `cap`.")
def delays_grow(ctx: Context) -> None:
    backoff = _backoff(ctx, base=1.0, factor=2.0, cap=30.0)
    got = [backoff.next_delay() for _ in range(7)]
    assert got == [1, 2, 4, 8, 16, 30, 30], f"seven next_delay() calls: expected [1, 2, 4, 8, 16, 30, 30], got {got}"
    other = _backoff(ctx, base=0.5, factor=3.0, cap=10.0)
    got = [other.next_delay() for _ in range(4)]
    assert got == [0.5, 1.5, 4.5, 10.0], f"with base=0.5, factor=3, cap=10: expected [0.5, 1.5, 4.5, 10.0], got {got}"


@ex.check(points=1, title="Backoff refuses nonsense settings", public=False,
          hint="A delay must be positive and must not shrink; the cap cannot be below the first delay.")
def validates(ctx: Context) -> None:
    for kwargs in ({"base": 0}, {"base": -1}, {"factor": 0.5}, {"base": 10.0, "cap": 5.0}):
        try:
            _backoff(ctx, **kwargs)
        except ValueError:
            continue
        raise AssertionError(f"Backoff({', '.join(f'{k}={v}' for k, v in kwargs.items())}) should raise ValueError")


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


@ex.check(points=1, title="connect_with_retry gives up after `attempts` tries", public=False,
          hint="Count the tries; after the last one raise ConnectionError itself, chained to the last error (`from`).")
async def retry_gives_up(ctx: Context) -> None:
    retry = ctx.get("connect_with_retry", "async")
    connect, sleep = _FlakyConnect(failures=100), _Sleep()
    try:
        got = await ctx.within(retry(connect, _backoff(ctx), sleep, attempts=3), 2.0, "connect_with_retry(...)")
    except ConnectionError as exc:
        assert type(exc) is ConnectionError, (
            f"expected ConnectionError itself after the last try, got {type(exc).__name__}: {exc} "
            "(re-raising the last error does not say that you gave up: raise ConnectionError(...) from it)"
        )
        assert isinstance(exc.__cause__, ConnectionRefusedError), (
            f"expected the ConnectionError chained to the last error (raise ... from it); "
            f"its __cause__ is {exc.__cause__!r}"
        )
        assert connect.calls == 3, f"expected 3 calls to connect() with attempts=3, got {connect.calls}"
        # Both readings of "after a failed try, wait": a wait between tries only (2), or after the last too (3).
        assert len(sleep.delays) in (2, 3), (
            f"expected 2 waits between 3 tries (3 if you also wait after the last), got {len(sleep.delays)}"
        )
        return
    raise AssertionError(f"expected ConnectionError after 3 failed tries, but connect_with_retry returned {got!r}")


@ex.check(points=1, title="connect_with_retry also retries a failed handshake", public=False,
          hint="A server going down may accept the TCP connection and never answer the handshake.")
async def retry_after_bad_handshake(ctx: Context) -> None:
    from websockets.exceptions import InvalidMessage

    retry = ctx.get("connect_with_retry", "async")
    connect, sleep = _FlakyConnect(failures=1, error=InvalidMessage), _Sleep()
    got = await ctx.within(retry(connect, _backoff(ctx), sleep, attempts=3), 2.0, "connect_with_retry(...)")
    assert got == "connection" and connect.calls == 2, (
        f"after one failed handshake, connect() was called {connect.calls} times and {got!r} returned"
    )
