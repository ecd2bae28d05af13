"""``wslab execute``: run notebooks top to bottom in a fresh kernel and save them with their outputs.

For course authors: lessons and solutions are committed executed, and strict
nbval compares every output on each test run. This command is the one way to
produce those files, so they differ only where a lesson changed:

* each notebook runs in its own fresh kernel, in its own folder, with a time
  limit per cell (``--timeout``) and a clear error naming the cell that failed;
* with ``--twice`` the notebook runs a second time in the same kernel (what a
  learner does after an edit) and must not fail either; the first run's
  outputs are the ones saved;
* with ``--allow-stubs`` (for released exercises) a cell that raises
  ``NotImplementedError``, the stub ``wslab release`` leaves for the learner,
  does not stop the run, nor does a demo cell whose error names it (a server
  handler's stub closes the connection with "handler error: NotImplementedError");
  any other error still fails it;
* timing metadata is not recorded, and the kernel's ``language_info`` is
  reduced to its name, so a re-run on another machine or Python version does
  not show up in ``git diff``.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import time
from pathlib import Path
from typing import Any

from wslab.core.errors import NotebookFailed

__all__ = ["add_arguments", "run", "execute_notebook", "NotebookFailed", "cell_label"]



def cell_label(index: int, total: int) -> str:
    """A cell as a learner finds it: ``cell 9 of 27`` (JupyterLab's status bar: from 1, markdown
    included), with the 0-based index nbformat uses after it."""
    return f"cell {index + 1} of {total} (index {index})"


def _failed(path: Path, run: int, cell: int, total: int, exc: BaseException) -> NotebookFailed:
    where = cell_label(cell, total)
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()
    last = text[-1] if text else type(exc).__name__
    return NotebookFailed(f"{path}: {where} failed on run {run}: {last}")


def _from_a_stub(exc: Exception) -> bool:
    """Whether a cell's error is an exercise's stub at work: raised by it, or naming it."""
    return getattr(exc, "ename", None) == "NotImplementedError" or "NotImplementedError" in str(
        getattr(exc, "evalue", "")
    )


def execute_notebook(path: Path, *, timeout: float = 60.0, twice: bool = False, allow_stubs: bool = False) -> Any:
    """Run ``path`` in a fresh kernel (twice in the same kernel with ``twice``); return the executed notebook.

    Raises :class:`NotebookFailed` naming the cell that raised (from 1, as JupyterLab
    counts, and its 0-based index). With ``allow_stubs`` a cell raising
    ``NotImplementedError`` (an exercise's stub) is not a failure.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    client = NotebookClient(
        nb,
        timeout=int(timeout),
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    first = None
    client.reset_execution_trackers()
    with client.setup_kernel():
        for run in (1, 2) if twice else (1,):
            for index, cell in enumerate(client.nb.cells):
                try:
                    client.execute_cell(cell, index)
                except CellExecutionError as exc:
                    if allow_stubs and _from_a_stub(exc):
                        continue
                    raise _failed(path, run, index, len(client.nb.cells), exc) from None
                except (CellTimeoutError, DeadKernelError) as exc:
                    raise _failed(path, run, index, len(client.nb.cells), exc) from None
            if first is None:
                first = copy.deepcopy(client.nb)
    assert first is not None
    first.metadata["language_info"] = {"name": "python"}
    return first


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebooks", nargs="+", type=Path, help="the notebooks to run and save in place")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds each cell may take (default 60)")
    parser.add_argument("--twice", action="store_true", help="also run each a second time in the same kernel")
    parser.add_argument("--check", action="store_true", help="run, but do not save")
    parser.add_argument("--allow-stubs", action="store_true",
                        help="a cell raising NotImplementedError (an exercise's stub) is not a failure")


def run(args: argparse.Namespace) -> int:
    import nbformat

    failed = 0
    for path in args.notebooks:
        started = time.monotonic()
        try:
            nb = execute_notebook(path, timeout=args.timeout, twice=args.twice, allow_stubs=args.allow_stubs)
        except NotebookFailed as exc:
            print(f"FAILED {exc}", file=sys.stderr)
            failed += 1
            continue
        if not args.check:
            nbformat.write(nb, path)  # type: ignore[no-untyped-call]
        print(f"ok     {path} ({time.monotonic() - started:.1f} s{', twice' if args.twice else ''})")
    return 1 if failed else 0
