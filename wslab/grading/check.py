"""Instant feedback in an exercise notebook: ``check("chat")``.

::

    from wslab.grading.check import check
    check("chat")

runs the *public* checks of the exercise against the definitions in the
notebook (the kernel's namespace) and shows a table: each check, pass or fail,
points, and a hint for what failed. More checks run at grading.

It never hangs the kernel: each check runs in a thread of its own with a time
limit, async code on an event loop of its own (see
:mod:`wslab.grading.runner`). Code that blocks forever (``time.sleep(1000)``,
``while True``) cannot be stopped by Python; the check reports a timeout and
says so, and that thread keeps running until the kernel restarts.
"""

from __future__ import annotations

import html
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wslab.grading.registry import Exercise, get_exercise
from wslab.grading.runner import STATUSES, CheckResult, run_check

__all__ = ["check", "CheckReport", "GRADING_ENV"]

GRADING_ENV = "WSLAB_GRADING"
"""Set to ``1`` by the grader: ``check()`` then does nothing (the grader runs every check itself)."""


@dataclass
class CheckReport:
    """What :func:`check` found; shown as a table in a notebook, as stable text elsewhere."""

    exercise: Exercise
    results: list[CheckResult] = field(default_factory=list)
    skipped: bool = False

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
        return not self.skipped and all(r.passed for r in self.results)

    @property
    def hidden(self) -> tuple[int, int]:
        """How many checks, worth how many points, run only at grading."""
        others = [c for c in self.exercise.checks if not c.public]
        return len(others), sum(c.points for c in others)

    def _summary(self) -> str:
        return (
            f"check({self.exercise.name!r}): {self.passed} of {len(self.results)} public checks pass, "
            f"{self.points}/{self.max_points} points"
        )

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

    Returns a :class:`CheckReport`: the notebook shows it as a table. Never
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
    return CheckReport(ex, [run_check(c, ns, timeout=timeout) for c in ex.public_checks()])
