"""The hidden checks of exercise ``reconnect``: they run only at grading.

They ship only in the instructor's install (``wslab_instructor``), never in a learner's: the
public checks and the exercise itself are :mod:`wslab.grading.checks.reconnect`.
"""

from __future__ import annotations

from wslab.grading.checks.reconnect import _backoff, _FlakyConnect, _Sleep, ceilings, delays_within, ex
from wslab.grading.runner import Context


@ex.check(points=1, title="Backoff keeps its bounds after thousands of tries", public=False,
          hint="base * factor ** attempt overflows near attempt 1100: stop growing once you reach the cap.")
def no_overflow(ctx: Context) -> None:
    for jitter in (False, True):
        backoff = _backoff(ctx, base=0.5, factor=3.0, cap=10.0, jitter=jitter)
        try:
            got = [backoff.next_delay() for _ in range(2000)]  # 0.5 * 3**n overflows a float past n = 646
        except OverflowError as exc:
            raise AssertionError(
                f"Backoff(jitter={jitter}) raised OverflowError after thousands of tries: {exc}"
            ) from None
        delays_within(got, ceilings(0.5, 3.0, 10.0, 2000), f"Backoff(base=0.5, factor=3, cap=10, jitter={jitter})")
        if not jitter:
            assert got[-1] == 10.0, f"Backoff(jitter=False): the 2000th delay was {got[-1]!r}, expected the cap, 10"


@ex.check(points=1, title="Backoff refuses nonsense settings", public=False,
          hint="A delay must be positive and must not shrink; the cap cannot be below the first delay.")
def validates(ctx: Context) -> None:
    for kwargs in ({"base": 0}, {"base": -1}, {"factor": 0.5}, {"base": 10.0, "cap": 5.0}):
        try:
            _backoff(ctx, **kwargs)
        except ValueError:
            continue
        raise AssertionError(f"Backoff({', '.join(f'{k}={v}' for k, v in kwargs.items())}) should raise ValueError")


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
