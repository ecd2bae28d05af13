"""run_check: one check against a learner's namespace, in its own thread, back within its bound whatever happens."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from wslab.grading.registry import Check
from wslab.grading.runner import JOIN_GRACE, STATUSES, CheckResult, Context, Missing, run_check, stable


def check(func: Callable[..., Any], timeout: float = 1.0, points: int = 2) -> Check:
    return Check("demo", func.__name__, "a demo check", points, True, "a hint", func, timeout)


def test_a_check_that_returns_passes_and_earns_its_points() -> None:
    def fine(ctx: Context) -> None:
        assert ctx.get("answer")() == 42

    result = run_check(check(fine), {"answer": lambda: 42})
    assert (result.status, result.passed, result.points, result.runaway) == ("pass", True, 2, False)
    assert result.to_json() == {"check": "fine", "status": "pass", "message": "", "runaway": False}


@pytest.mark.parametrize(
    ("namespace", "status", "message"),
    [
        ({"answer": lambda: 41}, "fail", "expected 42, got 41"),
        ({}, "missing", "`answer` is not defined: run the cell that defines it"),
        ({"answer": 42}, "missing", "`answer` should be a function, got int"),
        ({"answer": lambda: 1 / 0}, "error", "ZeroDivisionError: division by zero (in <lambda>)"),
        ({"answer": lambda: (_ for _ in ()).throw(NotImplementedError("yours"))}, "todo",
         "not written yet (NotImplementedError: yours)"),
    ],
    ids=["fail", "missing", "wrong-kind", "error", "todo"],
)
def test_each_way_a_check_can_end_has_its_status_and_a_sentence(
    namespace: dict[str, Any], status: str, message: str
) -> None:
    def answers(ctx: Context) -> None:
        got = ctx.get("answer")()
        assert got == 42, f"expected 42, got {got}"

    result = run_check(check(answers), namespace)
    assert result.status == status and result.message.startswith(message), result.message
    assert result.points == 0 and status in STATUSES


def test_an_await_that_never_returns_is_a_timeout_within_the_bound() -> None:
    async def hangs(ctx: Context) -> None:
        await ctx.get("forever", "async")()

    async def forever() -> None:
        await asyncio.Event().wait()

    started = time.monotonic()
    result = run_check(check(hangs, timeout=0.2), {"forever": forever})
    assert time.monotonic() - started < 0.2 + JOIN_GRACE
    assert result.status == "timeout" and not result.runaway
    assert result.message.startswith("still running after 0.2 s: an await that never returns?")


def test_blocking_code_is_left_running_and_said_to_be_a_runaway() -> None:
    release = threading.Event()

    def blocks(ctx: Context) -> None:
        release.wait(30)

    started = time.monotonic()
    result = run_check(check(blocks, timeout=0.2), {})
    try:
        assert time.monotonic() - started < 0.2 + JOIN_GRACE + 0.5
        assert result.status == "timeout" and result.runaway
        assert "a loop that never ends, time.sleep(), or blocking code" in result.message
    finally:
        release.set()


def test_the_learners_own_timeout_error_is_theirs_not_the_limit() -> None:
    async def raises(ctx: Context) -> None:
        raise TimeoutError("my own timeout")

    result = run_check(check(raises), {})
    assert (result.status, result.message) == ("error", "TimeoutError: my own timeout (in raises)")


def test_a_timeout_argument_overrides_the_checks_own() -> None:
    async def slow(ctx: Context) -> None:
        await asyncio.sleep(5)

    result = run_check(check(slow, timeout=30.0), {}, timeout=0.1)
    assert result.status == "timeout" and "after 0.1 s" in result.message


async def test_checks_never_touch_the_callers_event_loop() -> None:
    caller = asyncio.get_running_loop()
    seen: list[asyncio.AbstractEventLoop] = []

    async def where(ctx: Context) -> None:
        seen.append(asyncio.get_running_loop())

    assert run_check(check(where), {}).passed
    assert seen and seen[0] is not caller


def test_context_get_checks_the_kind_and_names_what_was_expected() -> None:
    class Outbox: ...

    async def send() -> None: ...

    ctx = Context({"Outbox": Outbox, "send": send, "make": Outbox, "plain": print})
    assert ctx.get("Outbox", "class") is Outbox and ctx.get("send", "async") is send
    with pytest.raises(Missing, match=r"`plain` should be a coroutine function \(`async def plain\(...\)`\)") as caught:
        ctx.get("plain", "async")
    assert caught.value.name == "plain"
    with pytest.raises(Missing, match=r"`send` should be a class \(`class send:`\)"):
        ctx.get("send", "class")


async def test_within_tells_still_waiting_from_the_learners_own_timeout() -> None:
    ctx = Context({})
    assert await ctx.within(asyncio.sleep(0, result="done"), 1.0, "the call") == "done"
    with pytest.raises(AssertionError, match="the call was still waiting after 0.1 s"):
        await ctx.within(asyncio.Event().wait(), 0.1, "the call")

    async def own() -> None:
        raise TimeoutError("theirs")

    with pytest.raises(TimeoutError, match="theirs"):
        await ctx.within(own(), 1.0, "the call")
    await ctx.gives_up(own(), 1.0, "the call", "returned {result}")
    with pytest.raises(AssertionError, match="returned 7"):
        await ctx.gives_up(asyncio.sleep(0, result=7), 1.0, "the call", "returned {result}")


def test_stable_removes_ports_and_addresses_only() -> None:
    text = "ws://127.0.0.1:54321/chat, ('localhost', 8765), [::1]:9000 at 0x7f3a2b1c4d50 seq 12345"
    assert stable(text) == "ws://127.0.0.1:PORT/chat, ('localhost', PORT), [::1]:PORT at 0x… seq 12345"


def test_a_result_is_worth_its_points_only_when_it_passes() -> None:
    demo = check(lambda ctx: None, points=3)
    assert CheckResult(demo, "pass").points == 3
    assert [CheckResult(demo, s).points for s in STATUSES if s != "pass"] == [0] * (len(STATUSES) - 1)
