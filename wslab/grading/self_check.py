"""Instant feedback in an exercise notebook: ``check("chat")``.

::

    from wslab.grading.self_check import check
    check("chat")

runs the *public* checks of the exercise against the definitions in the
notebook (the kernel's namespace) and shows a table: each check, pass or fail,
points, and a hint for what failed. More checks run at grading.

It also lists the cells of the notebook whose latest run raised (a demo cell
that fails although every check passes means something is still wrong), each
numbered as JupyterLab counts it: "cell 17 of 21" is the 17th cell from the
top, markdown cells included, as the status bar shows it ("Cell 17/21"). The
cells are recorded by an IPython ``post_run_cell`` hook, installed when this
module is imported (the exercise's first cell does it); a cell that raised and
then ran cleanly is forgotten.

It never hangs the kernel: each check runs in a thread of its own with a time
limit, async code on an event loop of its own (see
:mod:`wslab.grading.runner`). Code that blocks forever (``time.sleep(1000)``,
``while True``) cannot be stopped by Python; the check reports a timeout and
says so, and that thread keeps running until the kernel restarts.
"""

from __future__ import annotations

import html
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wslab.grading.registry import Exercise, get_exercise
from wslab.grading.runner import STATUSES, CheckResult, run_check

__all__ = ["check", "CheckReport", "CellError", "CellErrors", "CELL_ERRORS", "GRADING_ENV"]

GRADING_ENV = "WSLAB_GRADING"
"""Set to ``1`` by the grader: ``check()`` then does nothing (the grader runs every check itself)."""


@dataclass(frozen=True)
class CellError:
    """A cell whose latest run raised."""

    execution_count: int | None
    """The number JupyterLab shows beside the cell, ``[12]``."""
    error: str
    """``"NameError: name 'x' is not defined"``."""
    first_line: str
    """The cell's first non-empty line, to recognise it by."""
    position: tuple[int, int] | None = None
    """``(17, 21)``: the 17th of 21 cells, from 1, markdown included (None if the notebook file is unknown)."""

    def label(self) -> str:
        where = f"cell {self.position[0]} of {self.position[1]}" if self.position else "a cell"
        shown = f" (shown as [{self.execution_count}])" if self.execution_count is not None else ""
        return f"{where}{shown}, `{self.first_line[:60]}`: {self.error}"


class CellErrors:
    """What an IPython ``post_run_cell`` hook saw: the cells whose latest run raised, oldest first.

    Cells are told apart by their id (JupyterLab sends it), or by their source
    when there is none (nbclient sends none): a position is then given only if
    exactly one cell of the saved notebook has that source. Positions come from the notebook file the
    kernel was started for (``JPY_SESSION_NAME``, set by Jupyter Server), read
    when :meth:`errors` is called.
    """

    def __init__(self, notebook: str | Path | None = None) -> None:
        self.notebook = notebook
        self._failed: dict[str, tuple[int | None, str, str, str | None, str]] = {}

    def record(self, result: Any) -> None:
        """The hook: ``result`` is IPython's ``ExecutionResult`` of the cell that just ran."""
        info = getattr(result, "info", None)
        source = str(getattr(info, "raw_cell", "") or "")
        cell_id = getattr(info, "cell_id", None)
        key = str(cell_id) if cell_id else source
        exc = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
        if exc is None:
            self._failed.pop(key, None)
            return
        first = next((line.strip() for line in source.splitlines() if line.strip()), "")
        text = f"{type(exc).__name__}: {exc}".rstrip(": ")
        self._failed.pop(key, None)  # keep the order of the latest failures
        self._failed[key] = (getattr(result, "execution_count", None), text, first, cell_id, source)

    def _cells(self) -> list[dict[str, Any]] | None:
        path = self.notebook if self.notebook is not None else os.environ.get("JPY_SESSION_NAME")
        if not path or not str(path).endswith(".ipynb"):
            return None
        try:
            cells = json.loads(Path(path).read_text(encoding="utf-8")).get("cells")
        except (OSError, ValueError, AttributeError):
            return None
        return cells if isinstance(cells, list) else None

    def errors(self) -> list[CellError]:
        cells = self._cells() if self._failed else None
        ids = {str(c.get("id")): i for i, c in enumerate(cells or []) if isinstance(c, dict) and c.get("id")}
        sources: dict[str, list[int]] = {}
        for i, c in enumerate(cells or []):
            if isinstance(c, dict) and c.get("cell_type") == "code":
                text = c.get("source", "")
                sources.setdefault("".join(text) if isinstance(text, list) else str(text), []).append(i)
        found = []
        for count, text, first, cell_id, source in self._failed.values():
            index = ids.get(str(cell_id)) if cell_id else None
            if index is None and len(sources.get(source, [])) == 1:  # no id sent: the one cell with this source
                index = sources[source][0]
            position = (index + 1, len(cells or [])) if index is not None else None
            found.append(CellError(count, text, first, position))
        return found

    def install(self, shell: Any) -> None:
        if self.record not in shell.events.callbacks.get("post_run_cell", []):
            shell.events.register("post_run_cell", self.record)


CELL_ERRORS = CellErrors()
"""This kernel's record of failed cells (installed into IPython on import)."""


def _install_hook() -> None:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return
    shell = get_ipython()
    if shell is not None and hasattr(shell, "events"):
        CELL_ERRORS.install(shell)


_install_hook()


@dataclass
class CheckReport:
    """What :func:`check` found; shown as a table in a notebook, as stable text elsewhere."""

    exercise: Exercise
    results: list[CheckResult] = field(default_factory=list)
    skipped: bool = False
    cell_errors: list[CellError] = field(default_factory=list)
    """Cells of the notebook whose latest run raised (what the grader would mark ``cell-error``)."""

    @property
    def points(self) -> int:
        return sum(r.points for r in self.results)

    @property
    def max_points(self) -> int:
        return sum(r.check.points for r in self.results)

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def all_passed(self) -> bool:
        return not self.skipped and all(r.passed for r in self.results) and not self.cell_errors

    @property
    def hidden(self) -> tuple[int, int]:
        """How many checks, worth how many points, run only at grading."""
        return self.exercise.hidden

    def _summary(self) -> str:
        return (
            f"check({self.exercise.name!r}): {self.passed} of {len(self.results)} public checks pass, "
            f"{self.points}/{self.max_points} points"
        )

    def _cell_lines(self) -> list[str]:
        if not self.cell_errors:
            return []
        n = len(self.cell_errors)
        head = (
            f"{n} cell{'s' if n != 1 else ''} of this notebook raised when last run "
            "(counted from 1, markdown cells included, as JupyterLab's status bar shows \"Cell N/M\"); "
            "grading marks such a notebook cell-error, so fix and re-run them:"
        )
        return [head] + [f"  - {e.label()}" for e in self.cell_errors]

    def _notes(self) -> list[str]:
        count, points = self.hidden
        notes = []
        if count:
            notes.append(
                f"These are the public checks. {count} more check{'s' if count != 1 else ''} "
                f"({points} point{'s' if points != 1 else ''}) run only at grading, "
                "so passing here does not promise full marks."
            )
        runaway = sum(r.runaway for r in self.results)
        if runaway:
            notes.append(
                f"{runaway} check{'s' if runaway != 1 else ''} left your code running in a background "
                "thread, which Python cannot stop: fix the loop or sleep, then restart the kernel "
                "if the notebook gets slow."
            )
        return notes

    def __repr__(self) -> str:
        if self.skipped:
            return f"check({self.exercise.name!r}) skipped while grading: the grader runs every check itself."
        lines = [self._summary()]
        for r in self.results:
            status = STATUSES[r.status]
            lines.append(f"  {status:<8} {r.check.points if r.passed else 0}/{r.check.points}  {r.check.title}")
            if not r.passed:
                if r.message:
                    lines.append(f"           {r.message}")
                lines.append(f"           hint: {r.check.hint}")
        lines.extend(self._cell_lines())
        lines.extend(self._notes())
        return "\n".join(lines)

    __str__ = __repr__

    def _repr_html_(self) -> str:
        if self.skipped:
            return f"<p>{html.escape(repr(self))}</p>"
        rows = []
        for r in self.results:
            colour = "#1a7f37" if r.passed else "#cf222e"
            detail = "" if r.passed else html.escape(r.message)
            hint = "" if r.passed else html.escape(r.check.hint)
            about = detail + (f"<br><i>Hint:</i> {hint}" if hint else "")
            rows.append(
                "<tr>"
                f"<td style='text-align:left'>{html.escape(r.check.title)}</td>"
                f"<td style='color:{colour};font-weight:bold'>{STATUSES[r.status]}</td>"
                f"<td>{r.points}/{r.check.points}</td>"
                f"<td style='text-align:left'>{about}</td>"
                "</tr>"
            )
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self._notes())
        cell_lines = self._cell_lines()
        if cell_lines:
            items = "".join(f"<li>{html.escape(e.label())}</li>" for e in self.cell_errors)
            notes = f"<p style='color:#cf222e'>{html.escape(cell_lines[0])}</p><ul>{items}</ul>" + notes
        return (
            f"<p><b>{html.escape(self._summary())}</b></p>"
            "<table><thead><tr><th style='text-align:left'>Check</th><th>Result</th><th>Points</th>"
            "<th style='text-align:left'>What went wrong, and a hint</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>{notes}"
        )


def _learner_namespace(depth: int = 2) -> Mapping[str, Any]:
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        shell = None
    if shell is not None:
        user_ns: Mapping[str, Any] = shell.user_ns  # IPython leaves it untyped
        return user_ns
    return sys._getframe(depth).f_globals


def check(exercise: str, *, namespace: Mapping[str, Any] | None = None, timeout: float | None = None) -> CheckReport:
    """Run the public checks of ``exercise`` against your definitions and show the result.

    Args:
        exercise: the exercise name, e.g. ``"chat"`` (the notebook says which).
        namespace: where your definitions live; the notebook's by default.
        timeout: seconds each check may take (each check has its own default).

    Returns a :class:`CheckReport`: the notebook shows it as a table, followed by
    the notebook's cells whose latest run raised (not with ``namespace``). Never
    raises because of your code; an unknown exercise name raises
    :class:`ValueError` naming the known ones.
    """
    try:
        ex = get_exercise(exercise)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None
    if os.environ.get(GRADING_ENV) == "1":
        return CheckReport(ex, skipped=True)
    ns = namespace if namespace is not None else _learner_namespace()
    results = [run_check(c, ns, timeout=timeout) for c in ex.public_checks()]
    return CheckReport(ex, results, cell_errors=CELL_ERRORS.errors() if namespace is None else [])
