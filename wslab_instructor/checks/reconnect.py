"""The hidden checks of exercise ``reconnect``: they run only at grading.

They ship only in the instructor's install (``wslab_instructor``), never in a learner's: the
public checks and the exercise itself are :mod:`wslab.grading.checks.reconnect`.
"""

from __future__ import annotations

from typing import Any

from wslab.grading.checks.reconnect import (
    _backoff,
    _emitter,
    ceilings,
    delays_within,
    ex,
    flaky_connect,
    recording_sleep,
)
from wslab.grading.runner import Context


def _jitters(ctx: Context) -> bool:
    """Whether the learner's Backoff takes a jitter setting (the jitter check grades it, not this one)."""
    try:
        _backoff(ctx, exact=False, jitter="full")
    except AssertionError:
        return False
    return True


@ex.check(points=1, title="Backoff keeps its bounds after thousands of tries", public=False,
          timeout=15.0,  # 4,000 calls across the grading channel: about a second, several on a busy machine
          hint="initial * factor ** attempt overflows a float after some hundreds of tries: "
               "stop growing once you reach the cap.")
def no_overflow(ctx: Context) -> None:
    for jitter in ("none", "full") if _jitters(ctx) else ("none",):
        backoff = _backoff(ctx, exact=jitter == "none", initial=0.5, factor=3.0, cap=10.0,
                           **({"jitter": jitter} if jitter == "full" else {}))
        try:
            got = [backoff.next_delay() for _ in range(2000)]  # 0.5 * 3**n overflows a float past n = 646
        except OverflowError as exc:
            raise AssertionError(
                f"Backoff(jitter={jitter!r}) raised OverflowError after thousands of tries: {exc}"
            ) from None
        delays_within(got, ceilings(0.5, 3.0, 10.0, 2000), f"Backoff(initial=0.5, factor=3, cap=10, jitter={jitter!r})")
        if jitter == "none":
            assert got[-1] == 10.0, f"Backoff(jitter='none'): the 2000th delay was {got[-1]!r}, expected the cap, 10"


@ex.check(points=1, title="Backoff refuses nonsense settings", public=False,
          hint="A delay must be positive and must not shrink; the cap cannot be below the first delay.")
def validates(ctx: Context) -> None:
    cls = ctx.get("Backoff", "class")
    for settings in ({"initial": 0}, {"initial": -1}, {"factor": 0.5}, {"initial": 10.0, "cap": 5.0}):
        try:
            cls(**settings)
        except ValueError:
            continue
        raise AssertionError(f"Backoff({', '.join(f'{k}={v}' for k, v in settings.items())}) should raise ValueError")


@ex.check(points=1, title="Emitter.off removes a handler", public=False,
          hint="off(event, fn) removes that function from that event's handlers; unknown ones are ignored.")
def off_removes(ctx: Context) -> None:
    em = _emitter(ctx)
    seen: list[Any] = []
    em.on("update", seen.append)
    em.off("update", seen.append)
    em.off("update", print)
    em.off("never", print)
    em.emit("update", 1)
    assert seen == [], "a handler removed with off() was still called"


@ex.check(points=1, title="connect_with_retry gives up after `attempts` tries", public=False,
          hint="Count the tries; after the last one raise ConnectionError itself, chained to the last error (`from`).")
async def retry_gives_up(ctx: Context) -> None:
    retry = ctx.get("connect_with_retry", "async")
    (connect, calls), (sleep, delays) = flaky_connect(failures=100), recording_sleep()
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
        assert len(calls) == 3, f"expected 3 calls to connect() with attempts=3, got {len(calls)}"
        # Both readings of "after a failed try, wait": a wait between tries only (2), or after the last too (3).
        assert len(delays) in (2, 3), (
            f"expected 2 waits between 3 tries (3 if you also wait after the last), got {len(delays)}"
        )
        return
    raise AssertionError(f"expected ConnectionError after 3 failed tries, but connect_with_retry returned {got!r}")


@ex.check(points=1, title="connect_with_retry also retries a failed handshake", public=False,
          hint="A server going down may accept the TCP connection and never answer the handshake.")
async def retry_after_bad_handshake(ctx: Context) -> None:
    from websockets.exceptions import InvalidMessage

    retry = ctx.get("connect_with_retry", "async")
    (connect, calls), (sleep, _) = flaky_connect(failures=1, error=InvalidMessage), recording_sleep()
    got = await ctx.within(retry(connect, _backoff(ctx), sleep, attempts=3), 2.0, "connect_with_retry(...)")
    assert got == "connection" and len(calls) == 2, (
        f"after one failed handshake, connect() was called {len(calls)} times and {got!r} returned"
    )
