"""Checks for ``03-reconnect``: the seed's client, its parts fixed: backoff, an emitter, a retry loop that waits.

``Backoff`` has the names of the library's ``Backoff(BackoffPolicy(...))`` (lesson 3):
``Backoff(initial, factor, cap, jitter, stay_up, rng)``, ``next_delay()``, ``on_open(now)``,
``on_close(now)``. Each check builds it with only the settings it tests: the exact-delay checks
ask for ``jitter="none"``, and a ``Backoff`` that has no ``jitter`` setting at all (no jitter,
so exact delays) is built without it, so that a missing feature costs only the check of that
feature. Jitter itself is checked by bounds (every delay within
``[0, min(cap, initial * factor**(n-1))]``), never by value. Times are plain numbers.
"""

from __future__ import annotations

from typing import Any

from wslab.grading.registry import exercise
from wslab.grading.runner import Context

ex = exercise("reconnect", title="Backoff, an emitter, and a retry loop that waits", notebook="03-reconnect",
              hidden=(5, 5))


def _backoff(ctx: Context, exact: bool = True, **settings: Any) -> Any:
    """The learner's ``Backoff(**settings)``, with ``jitter="none"`` when ``exact`` (unless it has no jitter).

    A keyword the learner's class does not take fails the check with a sentence naming it.
    """
    cls = ctx.get("Backoff", "class")
    if exact and "jitter" not in settings:
        try:
            return cls(**settings, jitter="none")
        except TypeError as exc:
            if "jitter" not in str(exc):
                raise
            # No jitter setting: a Backoff without jitter gives exact delays already.
    try:
        return cls(**settings)
    except TypeError as exc:
        shown = ", ".join(f"{k}={v!r}" for k, v in settings.items())
        raise AssertionError(f"Backoff({shown}) raised TypeError: {exc}") from None


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


# ---------------------------------------------------------------- Backoff


@ex.check(points=2, title="Backoff delays double up to the cap",
          hint="Each delay is `factor` times the one before, starting at `initial`, never above `cap`.")
def delays_grow(ctx: Context) -> None:
    backoff = _backoff(ctx, initial=1.0, factor=2.0, cap=30.0)
    got = [backoff.next_delay() for _ in range(7)]
    assert got == [1, 2, 4, 8, 16, 30, 30], f"seven next_delay() calls: expected [1, 2, 4, 8, 16, 30, 30], got {got}"
    other = _backoff(ctx, initial=0.5, factor=3.0, cap=10.0)
    got = [other.next_delay() for _ in range(4)]
    assert got == [0.5, 1.5, 4.5, 10.0], (
        f"with initial=0.5, factor=3, cap=10: expected [0.5, 1.5, 4.5, 10.0], got {got}"
    )


@ex.check(points=2, title="Backoff with jitter stays within its bounds, and varies",
          hint='Full jitter: the delay without jitter, times rng() (a number in [0, 1)); keep the doubling '
               'and the cap as they were.')
def jitter_within_bounds(ctx: Context) -> None:
    backoff = _backoff(ctx, exact=False, initial=1.0, factor=2.0, cap=30.0, jitter="full")
    got = [backoff.next_delay() for _ in range(200)]
    delays_within(got, ceilings(1.0, 2.0, 30.0, 200), 'Backoff(initial=1, factor=2, cap=30, jitter="full")')
    assert len({round(d, 6) for d in got}) > 20, (
        f'with jitter="full", 200 delays took only {len({round(d, 6) for d in got})} distinct values: '
        f"expected each drawn at random, e.g. {got[:5]}"
    )
    assert any(d < 0.9 * b for d, b in zip(got, ceilings(1.0, 2.0, 30.0, 200), strict=True)), (
        'with jitter="full", every delay was (nearly) its maximum: expected delays spread over [0, maximum]'
    )
    seeded = _backoff(ctx, exact=False, initial=1.0, factor=2.0, cap=30.0, jitter="full", rng=lambda: 0.5)
    half = [seeded.next_delay() for _ in range(6)]
    assert half == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0], (
        f"with rng=lambda: 0.5, expected half of each delay, [0.5, 1, 2, 4, 8, 15], got {half}"
    )


@ex.check(points=2, title="Backoff does not reset when a connection opens and drops at once",
          hint="The seed resets its delay on every open; a server that accepts then drops at once gets hammered.")
def no_reset_on_flap(ctx: Context) -> None:
    backoff = _backoff(ctx, stay_up=5.0)
    delays, now = [], 100.0
    for _ in range(4):
        delays.append(backoff.next_delay())
        backoff.on_open(now)
        now += 0.5
        backoff.on_close(now)
    assert delays == [1, 2, 4, 8], f"open-then-drop after 0.5 s, four times: expected delays [1, 2, 4, 8], got {delays}"


@ex.check(points=1, title="Backoff resets after a connection stayed up",
          hint="Only a connection that stayed open `stay_up` seconds proves the server is back.")
def reset_after_stable(ctx: Context) -> None:
    backoff = _backoff(ctx, stay_up=5.0)
    for _ in range(3):
        backoff.next_delay()
    backoff.on_open(100.0)
    backoff.on_close(106.0)
    got = backoff.next_delay()
    assert got == 1, f"after a connection that stayed up 6 s (stay_up=5) the next delay was {got}, expected 1"


# ---------------------------------------------------------------- Emitter


def _emitter(ctx: Context) -> Any:
    return ctx.get("Emitter", "class")()


@ex.check(points=1, title="Emitter.on returns the emitter, so calls chain",
          hint="`on` registers the handler and then returns `self`.")
def on_chains(ctx: Context) -> None:
    em = _emitter(ctx)
    seen: list[Any] = []
    chained = em.on("update", lambda data: seen.append(("first", data)))
    assert hasattr(chained, "on"), f"on(...) returned {chained!r}: return the emitter, so that on(...).on(...) works"
    chained.on("update", lambda data: seen.append(("second", data)))
    em.emit("update", 1)
    assert seen == [("first", 1), ("second", 1)], (
        f"on(...).on(...) then emit('update', 1) called {seen}: the second on() should register on the same emitter"
    )


@ex.check(points=1, title="Emitter.emit calls the handlers of that event, in order",
          hint="Keep a list of handlers per event name; call each with the data.")
def emit_in_order(ctx: Context) -> None:
    em = _emitter(ctx)
    seen: list[Any] = []
    em.on("update", lambda d: seen.append(("first", d)))
    em.on("update", lambda d: seen.append(("second", d)))
    em.on("other", lambda d: seen.append(("other", d)))
    em.emit("update", 7)
    assert seen == [("first", 7), ("second", 7)], f"emit('update', 7) called {seen}"
    em.emit("nobody-listens", 1)


@ex.check(points=2, title="One failing handler does not stop the others",
          hint="Catch what a handler raises, keep it in `errors`, and go on with the next handler.")
def handler_error_isolated(ctx: Context) -> None:
    em = _emitter(ctx)
    seen: list[Any] = []

    def broken(data: Any) -> None:
        raise RuntimeError("broken handler")

    em.on("update", broken)
    em.on("update", seen.append)
    em.emit("update", "tick")
    assert seen == ["tick"], "a handler after a failing one was not called"
    errors = list(getattr(em, "errors", []))
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError), (
        f"em.errors should hold the RuntimeError the handler raised, got {errors!r}"
    )


# ---------------------------------------------------------------- connect_with_retry


def flaky_connect(failures: int, error: type[Exception] = ConnectionRefusedError) -> tuple[Any, list[int]]:
    """A plain ``async def connect()`` that fails ``failures`` times, then returns ``"connection"``; and its calls."""
    calls: list[int] = []

    async def connect() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise error(f"refused (try {len(calls)})")
        return "connection"

    return connect, calls


def recording_sleep() -> tuple[Any, list[float]]:
    """A plain ``async def sleep(delay)`` that returns at once; and the delays it was given."""
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)

    return sleep, delays


@ex.check(points=2, title="connect_with_retry awaits the backoff delay between tries",
          hint="Between failed tries, `await sleep(delay)`: time.sleep() would freeze everything else.")
async def retry_waits(ctx: Context) -> None:
    retry = ctx.get("connect_with_retry", "async")
    (connect, calls), (sleep, delays) = flaky_connect(failures=3), recording_sleep()
    got = await ctx.within(retry(connect, _backoff(ctx), sleep, attempts=5), 2.0, "connect_with_retry(...)")
    assert got == "connection", f"connect_with_retry returned {got!r}, not what connect() returned"
    assert len(calls) == 4, f"expected 4 calls to connect() (3 failures, then a success), got {len(calls)}"
    assert delays == [1, 2, 4], f"expected sleep awaited with [1, 2, 4], got {delays}"
