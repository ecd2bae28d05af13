"""The check registry: which exercises exist, and the checks (with points) that grade each.

An :class:`Exercise` is one notebook in ``solutions/`` (and its released twin
in ``exercises/``). Its checks are plain functions registered with
:meth:`Exercise.check`; each takes a :class:`~wslab.grading.runner.Context`
(the learner's definitions, a private server, helpers) and either returns
(pass) or raises:

* ``AssertionError`` with a sentence for the learner: the check fails;
* :class:`~wslab.grading.runner.Missing`: a definition it needs is absent;
* anything else raised by the learner's code: the check fails with that error.

Checks may be ``async def``; the runner gives them an event loop of their
own and a time limit (see :mod:`wslab.grading.runner`).

Public checks run in the notebook with ``check("chat")``; the others run only
at grading, so a submission cannot be tuned to the visible checks alone. The
hidden checks are not in this package: they live in ``wslab_instructor.checks``
(same module names), which only the instructor's install has, so a learner's
install holds nothing to copy from. Each exercise declares how many hidden
checks it has and their points (``hidden=(count, points)``), so ``check()`` can
say so without them; when they are installed, :func:`exercises` verifies the
declaration against them.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Check",
    "Exercise",
    "DEFAULT_CHECK_TIMEOUT",
    "CHECK_MODULES",
    "exercise",
    "exercises",
    "get_exercise",
    "exercise_for",
    "hidden_installed",
    "hidden_missing",
    "HIDDEN_PACKAGE",
]

DEFAULT_CHECK_TIMEOUT = 3.0
"""Seconds one check may take unless it says otherwise."""

CHECK_MODULES = ("basics", "readystate", "reconnect", "chat", "updates", "server", "production", "scaling")
"""Modules under ``wslab.grading.checks`` that register the course's exercises, in lesson order."""

HIDDEN_PACKAGE = "wslab_instructor.checks"
"""Where the hidden checks live (the same module names): in the instructor's install only."""


@dataclass(frozen=True)
class Check:
    """One graded behaviour of one exercise.

    ``title`` says what is checked (shown in tables), ``hint`` helps a learner
    whose check fails without giving the answer away.
    """

    exercise: str
    name: str
    title: str
    points: int
    public: bool
    hint: str
    func: Callable[..., Any]
    timeout: float = DEFAULT_CHECK_TIMEOUT

    @property
    def column(self) -> str:
        """The gradebook column of this check: ``exercise/check``."""
        return f"{self.exercise}/{self.name}"


@dataclass
class Exercise:
    """One exercise: its name (``check("chat")``), its notebook stem and its checks, in order."""

    name: str
    title: str
    notebook: str
    checks: list[Check] = field(default_factory=list)
    hidden: tuple[int, int] = (0, 0)
    """How many hidden checks the exercise has, and their points (declared: they may not be installed)."""

    def check(
        self,
        *,
        points: int,
        title: str,
        hint: str,
        public: bool = True,
        timeout: float = DEFAULT_CHECK_TIMEOUT,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: register the function as the next check of this exercise."""

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            name = func.__name__
            if any(c.name == name for c in self.checks):
                raise ValueError(f"exercise {self.name!r} already has a check named {name!r}")
            if points < 0:
                raise ValueError("points must be >= 0")
            self.checks.append(
                Check(self.name, name, title, points, public, hint, func, timeout)
            )
            return func

        return register

    @property
    def max_points(self) -> int:
        """Every point of the exercise, the hidden checks' included (installed or not)."""
        return sum(c.points for c in self.public_checks()) + self.hidden[1]

    @property
    def hidden_installed(self) -> bool:
        """True when this install has the hidden checks (the instructor's)."""
        return any(not c.public for c in self.checks) or self.hidden == (0, 0)

    def public_checks(self) -> list[Check]:
        return [c for c in self.checks if c.public]


_EXERCISES: dict[str, Exercise] = {}
_loaded = False
_load_lock = threading.RLock()


def exercise(name: str, *, title: str, notebook: str, hidden: tuple[int, int] = (0, 0)) -> Exercise:
    """Create and register an exercise (called once per module in ``wslab.grading.checks``).

    ``hidden`` is ``(count, points)`` of its hidden checks, which live in :data:`HIDDEN_PACKAGE`.
    """
    if name in _EXERCISES:
        raise ValueError(f"exercise {name!r} is registered twice")
    ex = Exercise(name, title, notebook, hidden=hidden)
    _EXERCISES[name] = ex
    return ex


def _load() -> None:
    global _loaded
    with _load_lock:  # the grader asks from several threads at once
        if not _loaded:
            for module in CHECK_MODULES:
                importlib.import_module(f"wslab.grading.checks.{module}")
            if importlib.util.find_spec(HIDDEN_PACKAGE.partition(".")[0]) is not None:
                for module in CHECK_MODULES:
                    importlib.import_module(f"{HIDDEN_PACKAGE}.{module}")
                for ex in _EXERCISES.values():
                    found = [c for c in ex.checks if not c.public]
                    if (len(found), sum(c.points for c in found)) != ex.hidden:
                        raise RuntimeError(
                            f"exercise {ex.name!r} declares hidden={ex.hidden} but {HIDDEN_PACKAGE}.{ex.name} "
                            f"has {len(found)} hidden check(s) worth {sum(c.points for c in found)} point(s)"
                        )
            _loaded = True


def hidden_installed() -> bool:
    """True when this install has every exercise's hidden checks (the instructor's install)."""
    return all(ex.hidden_installed for ex in exercises())


def hidden_missing(among: list[Exercise] | None = None) -> str | None:
    """Why this install cannot grade, or None when it can: a sentence for an instructor.

    A learner's install (a learner's edition of the course) has the public
    checks only; grading with it would score every submission out of the
    public points alone. ``among``: the exercises to look at (all by default).
    """
    missing = [ex for ex in (exercises() if among is None else among) if not ex.hidden_installed]
    if not missing:
        return None
    points = sum(ex.hidden[1] for ex in missing)
    names = ", ".join(ex.name for ex in missing)
    return (
        f"this install has no hidden checks ({HIDDEN_PACKAGE} is not installed: a learner's edition of the "
        f"course?), so grading would miss {points} point(s) of {names}. Grade from the course's own folder "
        "(the clone with solutions/ and wslab_instructor/), installed with `pip install -e .`"
    )


def exercises() -> list[Exercise]:
    """Every exercise of the course, in lesson order (their notebooks' numbers), whatever was imported first."""
    _load()
    return sorted(_EXERCISES.values(), key=lambda ex: ex.notebook)


def get_exercise(name: str) -> Exercise:
    """The exercise called ``name``; a :class:`KeyError` naming the known ones otherwise."""
    _load()
    try:
        return _EXERCISES[name]
    except KeyError:
        known = ", ".join(repr(n) for n in _EXERCISES)
        raise KeyError(f"no exercise called {name!r}; the exercises are {known}") from None


def exercise_for(path: str | Path, metadata: dict[str, Any] | None = None) -> Exercise | None:
    """Which exercise a submission is.

    First the notebook metadata that ``wslab release`` writes
    (``metadata.wslab.exercise``), then the file name: ``04-chat.ipynb``,
    ``ada_04-chat.ipynb``, ``chat-ada.ipynb``, ``ada-readystate (1).ipynb``.
    Returns None when neither says.
    """
    _load()
    wslab_meta = (metadata or {}).get("wslab")
    if isinstance(wslab_meta, dict):
        name = wslab_meta.get("exercise")
        if isinstance(name, str) and name in _EXERCISES:
            return _EXERCISES[name]
    stem = Path(path).name.lower()
    words = set(re.split(r"[^a-z0-9]+", stem))
    for ex in _EXERCISES.values():
        if ex.notebook.lower() in stem:
            return ex
    for ex in _EXERCISES.values():
        if ex.name in words:
            return ex
    return None
