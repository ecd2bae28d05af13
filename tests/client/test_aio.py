"""``wslab.client.aio.run``: an ``asyncio.run`` that also works inside a running loop (a notebook cell), bounded."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from support import ROOT

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
