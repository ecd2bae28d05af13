"""Small pieces: the nested-loop helper (on both patch libraries), the clock, the typing text."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from support import ROOT
from wslab.core.clock import FakeClock, SystemClock, iso_utc
from wslab.core.typing_status import typing_text

NESTED = """
import asyncio, sys
import wslab.client.aio as aio

async def answer():
    await asyncio.sleep(0)
    return 42

async def cell():
    # what a notebook cell is: code running while the kernel's loop runs
    try:
        asyncio.run(answer())
    except RuntimeError as exc:
        print("asyncio.run fails:", "running event loop" in str(exc))
    return aio.run(answer(), timeout=5)

print("result:", asyncio.run(cell()))
print("via:", aio._applied)

async def hang():
    await asyncio.Event().wait()

async def cell2():
    try:
        aio.run(hang(), timeout=0.2)
    except TimeoutError as exc:
        print("bounded:", "gave up after 0.2 s" in str(exc))
asyncio.run(cell2())
"""


@pytest.mark.parametrize("library", ["nest_asyncio2", "nest_asyncio"])
def test_run_works_inside_a_running_loop_with_either_library(library: str) -> None:
    pytest.importorskip(library)
    other = {"nest_asyncio2": "nest_asyncio", "nest_asyncio": "nest_asyncio2"}[library]
    # Hide the other library so the helper must use this one.
    code = f"import sys; sys.modules[{other!r}] = None\n" + NESTED
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "asyncio.run fails: True",
        "result: 42",
        f"via: {library}",
        "bounded: True",
    ]


def test_run_without_any_patch_library_says_what_to_install() -> None:
    code = textwrap.dedent(
        """
        import sys, asyncio
        sys.modules["nest_asyncio2"] = None; sys.modules["nest_asyncio"] = None
        import wslab.client.aio as aio
        async def f(): return 1
        async def cell():
            try:
                aio.run(f())
            except RuntimeError as exc:
                print(exc)
        asyncio.run(cell())
        print(aio.run(f()))  # outside a loop it needs nothing
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert "pip install nest-asyncio2" in done.stdout
    assert done.stdout.splitlines()[-1] == "1"


def test_run_refuses_a_non_coroutine() -> None:
    import wslab.client.aio as aio

    async def f() -> None: ...

    with pytest.raises(TypeError, match=r"run\(main\(\)\)"):
        aio.run(f)  # type: ignore[arg-type]


def test_fake_clock_moves_only_forward_and_together() -> None:
    clock = FakeClock(monotonic=10.0, wall=1000.0)
    clock.advance(1.5)
    assert (clock.monotonic(), clock.wall()) == (11.5, 1001.5)
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_system_clock_is_monotonic() -> None:
    clock = SystemClock()
    first = clock.monotonic()
    assert clock.monotonic() >= first


def test_iso_utc_has_milliseconds_and_z() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00.000Z"
    assert iso_utc(1_700_000_000.9999) == "2023-11-14T22:13:20.999Z"


@pytest.mark.parametrize(
    ("names", "me", "text"),
    [
        ([], None, ""),
        (["Ada"], None, "Ada is typing…"),
        (["Ada"], "Ada", ""),
        (["Ada", "Bob"], None, "Ada and Bob are typing…"),
        (["Ada", "Bob"], "Ada", "Bob is typing…"),
        (["Ada", "Bob", "Cy"], None, "Several people are typing…"),
        (["Ada", "Bob", "Cy"], "Cy", "Ada and Bob are typing…"),
        (["Ada", "Ada"], None, "Ada is typing…"),
    ],
)
def test_typing_text(names: list[str], me: str | None, text: str) -> None:
    assert typing_text(names, me=me) == text
