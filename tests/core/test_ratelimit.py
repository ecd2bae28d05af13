"""The token bucket, sans I/O: the server's per-connection limit (allow) and the client's pacing (reserve)."""

from __future__ import annotations

import pytest

from wslab.core.ratelimit import TokenBucket


def test_a_full_bucket_allows_a_burst_then_refuses() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, now=0.0)
    assert [bucket.allow(0.0) for _ in range(4)] == [True, True, True, False]


def test_tokens_flow_back_at_the_rate_and_never_past_the_burst() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, now=0.0)
    for _ in range(3):
        bucket.allow(0.0)
    assert bucket.allow(0.25) is False  # half a token
    assert bucket.allow(0.5) is True  # one token after 0.5 s at 2 a second
    assert [bucket.allow(100.0) for _ in range(4)] == [True, True, True, False]  # a long pause saves up 3, not 200


def test_time_going_backwards_adds_nothing() -> None:
    bucket = TokenBucket(rate=1.0, burst=1, now=10.0)
    assert bucket.allow(10.0)
    assert not bucket.allow(5.0)  # an earlier now: no tokens, no crash
    assert not bucket.allow(5.5)


def test_reserve_takes_a_token_or_says_how_long_to_wait_without_taking_one() -> None:
    bucket = TokenBucket(rate=4.0, burst=1, now=0.0)
    assert bucket.reserve(0.0) == 0.0
    assert bucket.reserve(0.0) == pytest.approx(0.25)
    assert bucket.reserve(0.1) == pytest.approx(0.15)  # it took none: the wait shrinks as time passes
    assert bucket.reserve(0.25) == 0.0


def test_a_bucket_made_without_now_starts_full_at_its_first_use() -> None:
    bucket = TokenBucket(rate=1.0, burst=2)
    assert bucket.allow(1000.0) and bucket.allow(1000.0) and not bucket.allow(1000.0)
    assert repr(bucket) == "TokenBucket(rate=1, burst=2, tokens=0.00)"


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0), (float("nan"), 1)])
def test_a_bucket_that_could_never_allow_anything_is_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate > 0 and burst >= 1"):
        TokenBucket(rate, burst)


def test_ready_says_whether_a_token_is_there_without_taking_it() -> None:
    bucket = TokenBucket(rate=1.0, burst=1, now=0.0)
    assert bucket.ready(0.0) and bucket.ready(0.0)  # asking twice takes nothing
    assert bucket.allow(0.0)
    assert not bucket.ready(0.5)
    assert bucket.ready(1.0)
