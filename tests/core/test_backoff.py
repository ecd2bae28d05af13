"""The backoff policy, sans I/O: examples, then hypothesis properties (bounds, growth, jitter spread)."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wslab.core import protocol as p
from wslab.core.backoff import (
    STOP_CODES,
    Backoff,
    BackoffPolicy,
    seed_backoff,
    should_reconnect,
)

# ---------------------------------------------------------------- examples


def test_defaults_are_the_seeds_numbers_with_full_jitter() -> None:
    policy = BackoffPolicy()
    assert (policy.initial, policy.factor, policy.cap) == (1.0, 2.0, 30.0)
    assert policy.jitter == "full" and policy.stay_up == 5.0 and not policy.reset_on_open
    assert [policy.ceiling(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_without_jitter_the_delays_are_the_seeds_sequence() -> None:
    backoff = Backoff(BackoffPolicy(jitter="none"))
    assert [backoff.next_delay() for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.attempt == 7


def test_full_jitter_is_applied_after_the_cap() -> None:
    # With the cap applied after the jitter, late delays would be pinned at 30 s.
    backoff = Backoff(BackoffPolicy(seed=3))
    late = [backoff.next_delay() for _ in range(200)][10:]
    assert all(0 <= d <= 30 for d in late)
    assert min(late) < 5 and max(late) > 25  # spread over the whole [0, cap]


def test_same_seed_same_delays_other_seed_other_delays() -> None:
    a, b, c = (Backoff(BackoffPolicy(seed=s)) for s in (7, 7, 8))
    da, db, dc = ([x.next_delay() for _ in range(10)] for x in (a, b, c))
    assert da == db and da != dc


def test_reset_only_after_staying_up() -> None:
    backoff = Backoff(BackoffPolicy(jitter="none", stay_up=5.0))
    for _ in range(3):
        backoff.next_delay()
    backoff.on_open(100.0)
    assert backoff.on_close(100.1) is False  # accepted then closed at once
    assert backoff.attempt == 3
    assert backoff.next_delay() == 8.0  # keeps growing
    backoff.on_open(200.0)
    assert backoff.on_close(205.0) is True
    assert backoff.attempt == 0 and backoff.next_delay() == 1.0


def test_a_failed_attempt_never_resets() -> None:
    backoff = Backoff(BackoffPolicy(jitter="none", stay_up=0.0))
    backoff.next_delay()
    assert backoff.on_close(1_000.0) is False  # never opened
    assert backoff.attempt == 1


def test_seed_backoff_resets_on_every_open() -> None:
    backoff = Backoff(seed_backoff)
    for _ in range(4):
        backoff.next_delay()
    backoff.on_open(0.0)
    assert backoff.attempt == 0  # the flaw: reset before we know the connection is any good
    assert backoff.next_delay() == 1.0


def test_seed_backoff_is_callable_for_a_faster_time_scale() -> None:
    fast = seed_backoff(initial=0.05, cap=1.0)
    assert fast == BackoffPolicy(initial=0.05, cap=1.0, jitter="none", reset_on_open=True)
    with pytest.raises(TypeError, match="no field"):
        seed_backoff(inital=0.05)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"initial": 0}, "initial must be > 0"),
        ({"initial": -1}, "initial must be > 0"),
        ({"factor": 0.5}, "factor must be >= 1"),
        ({"cap": 0.5}, "cap"),
        ({"stay_up": -1}, "stay_up"),
        ({"jitter": "half"}, "jitter"),
        ({"initial": math.nan}, "finite"),
        ({"cap": math.inf}, "finite"),
        ({"initial": "1"}, "finite number"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_arguments_are_refused_clearly(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BackoffPolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_is_frozen() -> None:
    policy = BackoffPolicy()
    with pytest.raises(AttributeError):
        policy.initial = 2.0  # type: ignore[misc]


def test_huge_attempt_numbers_do_not_overflow() -> None:
    assert BackoffPolicy().ceiling(100_000) == 30.0


def test_should_reconnect_stops_on_codes_that_mean_stop() -> None:
    for code in (p.CLOSE_NORMAL, p.CLOSE_POLICY_VIOLATION, p.CLOSE_UNAUTHORIZED, p.CLOSE_KICKED):
        assert code in STOP_CODES and should_reconnect(code) is False
    for code in (None, p.CLOSE_GOING_AWAY, 1006, 1011, p.CLOSE_SERVICE_RESTART, p.CLOSE_TRY_AGAIN_LATER, 4008):
        assert should_reconnect(code) is True


# ---------------------------------------------------------------- properties

policies = st.builds(
    BackoffPolicy,
    initial=st.floats(0.001, 10.0),
    factor=st.floats(1.0, 4.0),
    cap=st.floats(10.0, 120.0),
    jitter=st.sampled_from(["full", "equal", "none"]),
    stay_up=st.floats(0.0, 10.0),
    seed=st.integers(0, 2**32),
)


@settings(max_examples=200, deadline=None)
@given(policy=policies, attempts=st.integers(1, 60))
def test_every_delay_lies_within_the_policy_bounds(policy: BackoffPolicy, attempts: int) -> None:
    backoff = Backoff(policy)
    for n in range(1, attempts + 1):
        delay = backoff.next_delay()
        low, high = policy.bounds(n)
        assert 0.0 <= low <= delay <= high <= policy.cap
        assert high == min(policy.cap, policy.initial * policy.factor ** (n - 1)) or high == policy.cap


@settings(max_examples=200, deadline=None)
@given(policy=policies, n=st.integers(1, 200))
def test_ceiling_grows_monotonically_until_the_cap(policy: BackoffPolicy, n: int) -> None:
    assert policy.ceiling(n) <= policy.ceiling(n + 1) <= policy.cap
    if policy.ceiling(n) < policy.cap:
        assert policy.ceiling(n + 1) == pytest.approx(min(policy.cap, policy.ceiling(n) * policy.factor))
    assert policy.ceiling(1) == policy.initial


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32), attempt=st.integers(1, 12))
def test_full_jitter_spreads_delays_over_the_whole_interval(seed: int, attempt: int) -> None:
    policy = BackoffPolicy(initial=1.0, factor=2.0, cap=30.0)
    rng = random.Random(seed)
    high = policy.ceiling(attempt)
    samples = [policy.delay(attempt, rng) / high for _ in range(2000)]
    # Uniform on [0, 1]: mean 1/2, standard deviation 1/sqrt(12) ~ 0.289, every decile used.
    assert 0.45 < statistics.fmean(samples) < 0.55
    assert 0.26 < statistics.pstdev(samples) < 0.32
    deciles = {min(int(s * 10), 9) for s in samples}
    assert deciles == set(range(10))


@settings(max_examples=50, deadline=None)
@given(seeds=st.lists(st.integers(0, 2**32), min_size=20, max_size=20, unique=True))
def test_jitter_spreads_a_herd_of_clients(seeds: list[int]) -> None:
    """20 clients of one restarted server: with the seed's policy they all come back at
    the same instant; with full jitter their first retries are spread out."""
    herd = [Backoff(seed_backoff, random.Random(s)).next_delay() for s in seeds]
    assert len(set(herd)) == 1
    jittered = [Backoff(BackoffPolicy(seed=s)).next_delay() for s in seeds]
    assert len(set(jittered)) == 20
    assert max(jittered) - min(jittered) > 0.3  # fails with probability < 1e-9


@settings(max_examples=100, deadline=None)
@given(policy=policies, ups=st.lists(st.floats(0.0, 20.0), min_size=1, max_size=20))
def test_counter_resets_exactly_when_a_connection_stayed_up(policy: BackoffPolicy, ups: list[float]) -> None:
    backoff = Backoff(policy)
    now = 0.0
    for up in ups:
        backoff.next_delay()
        before = backoff.attempt
        backoff.on_open(now)
        if policy.reset_on_open:
            assert backoff.attempt == 0
        opened, now = now, now + up
        reset = backoff.on_close(now)
        assert reset == (now - opened >= policy.stay_up)
        assert backoff.attempt == (0 if reset or policy.reset_on_open else before)
