"""Checks for ``01-basics``: parse frames without swallowing errors; one bounded echo round trip."""

from __future__ import annotations

from typing import Any

from wslab.grading.registry import exercise
from wslab.grading.runner import Context

ex = exercise("basics", title="Parse frames and echo once", notebook="01-basics", hidden=(2, 2))


def _raises_value_error(ctx: Context, text: Any) -> str | None:
    parse = ctx.get("parse_message")
    try:
        got = parse(text)
    except ValueError as exc:
        return str(exc)
    raise AssertionError(
        f"parse_message({text!r}) returned {got!r}; it should raise ValueError "
        "(a frame that is not a JSON object is a bug to report, not to hide)"
    )


@ex.check(points=1, title="parse_message parses a JSON object",
          hint="json.loads turns the text of a frame into Python objects.")
def parses_objects(ctx: Context) -> None:
    parse = ctx.get("parse_message")
    got = parse('{"type": "chat", "content": "héllo"}')
    assert got == {"type": "chat", "content": "héllo"}, f"parse_message returned {got!r}"


@ex.check(points=2, title="parse_message reports bad JSON",
          hint="The seed's `catch {}` hides bad frames; raise ValueError with a sentence saying what is wrong.")
def rejects_bad_json(ctx: Context) -> None:
    for text in ("not json", '{"type": "chat", '):
        message = _raises_value_error(ctx, text)
        assert message, f"parse_message({text!r}) raised ValueError with no message"


@ex.check(points=2, title="echo_once gets its text back from the echo server", timeout=6.0,
          hint="Connect to the URL, send the text, receive one frame, close; `await` each step.")
async def echo_roundtrip(ctx: Context) -> None:
    echo_once = ctx.get("echo_once", "async")
    url = ctx.server().echo_url
    got = await ctx.within(echo_once(url, "héllo 👋", timeout=2.0), 4.0, "echo_once(echo_url, 'héllo 👋')")
    assert got == "héllo 👋", f"echo_once returned {got!r}, expected 'héllo 👋'"


@ex.check(points=2, title="echo_once gives up after `timeout` when no reply comes", timeout=5.0,
          hint="A server may never answer: bound the wait for the reply and raise TimeoutError.")
async def echo_times_out(ctx: Context) -> None:
    echo_once = ctx.get("echo_once", "async")
    async with ctx.silent_server() as url:
        await ctx.gives_up(echo_once(url, "anyone?", timeout=0.5), 2.0, "echo_once(silent_url, timeout=0.5)",
                           "echo_once returned although the server never replied")
