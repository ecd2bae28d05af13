"""Every ``wslab.…`` path the docs, the lessons and the package's own docstrings name imports today.

A newcomer who reads ``:class:`~wslab.core.hub.Hub``` in a docstring, or
``wslab.aio.run`` in a lesson, must find it there, at its current path: not an old
one that only answers with a deprecation warning, nor one that does not import at
all. (``wslab/_moved.py`` names the old paths on purpose and is not read.)
"""

from __future__ import annotations

import importlib
import re
import warnings
from pathlib import Path

import pytest

from support import ROOT

NAME = re.compile(r"(?<![\w/.-])wslab(?:\.[A-Za-z_][A-Za-z0-9_]*)+")

NOT_PATHS = {
    "wslab.exercise": "a key of a notebook's metadata (the exercise a notebook belongs to)",
    "wslab.student": "a key of a notebook's metadata (whose work it is, for the gradebook)",
    "wslab.grading.learner": "part of a logger's name (wslab.grading.learner-server)",
    "wslab.grading.production": "a logger's name, for the checks' own quiet servers",
}


def _texts() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "DEVELOPERS.md", *sorted((ROOT / "docs").glob("*.md"))]
    files += [p for p in sorted((ROOT / "wslab").rglob("*.py")) if p.name != "_moved.py"]
    files += sorted((ROOT / "wslab" / "static").glob("*.js"))
    for folder in ("notebooks", "exercises", "solutions", "bench"):
        files += sorted((ROOT / folder).rglob("*.ipynb")) + sorted((ROOT / folder).rglob("*.py"))
    return files


def _without_old_paths_sections(text: str) -> str:
    """``text`` with every Markdown section headed "Old import paths" blanked (its lines kept, so line numbers hold)."""
    lines = text.split("\n")
    skipping = False
    for i, line in enumerate(lines):
        if line.startswith("#"):
            skipping = "Old import paths" in line
        elif skipping:
            lines[i] = ""
    return "\n".join(lines)


def _problem(dotted: str) -> str | None:
    """Why ``dotted`` does not resolve as a reader would use it (attribute first, else submodule), or None."""
    parts = dotted.split(".")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            obj: object = importlib.import_module(parts[0])
            for i, part in enumerate(parts[1:], start=1):
                try:
                    obj = getattr(obj, part)
                except AttributeError:
                    obj = importlib.import_module(".".join(parts[: i + 1]))
        except Exception as exc:  # a DeprecationWarning turned into an error, among others
            return f"{type(exc).__name__}: {exc}"
    return None


def test_every_named_wslab_path_imports_at_its_current_place() -> None:
    problems: dict[str, list[str]] = {}
    for path in _texts():
        text = _without_old_paths_sections(path.read_text(encoding="utf-8"))
        for match in NAME.finditer(text):
            dotted = match.group(0)
            if dotted in NOT_PATHS:
                continue
            problem = _problem(dotted)
            if problem is not None:
                line = text.count("\n", 0, match.start()) + 1
                problems.setdefault(f"{dotted} ({problem})", []).append(f"{path.relative_to(ROOT)}:{line}")
    assert not problems, "\n".join(f"{name}: {', '.join(where[:4])}" for name, where in sorted(problems.items()))


@pytest.mark.parametrize("dotted", sorted(NOT_PATHS))
def test_the_names_that_are_not_paths_really_are_not(dotted: str) -> None:
    assert _problem(dotted) is not None, f"{dotted} imports now: take it off NOT_PATHS"


TEST_PATH = re.compile(r"(?<![\w/.-])tests/[\w/.-]*[\w/](?:::\w+)?")


def test_every_test_file_the_docs_name_exists_with_the_named_test() -> None:
    """``tests/e2e/test_js.py`` in a doc or a docstring is a file that is there (and ``::name`` a test in it)."""
    missing: dict[str, list[str]] = {}
    for path in [*_texts(), ROOT / ".ci" / "run"]:
        text = _without_old_paths_sections(path.read_text(encoding="utf-8"))
        for match in TEST_PATH.finditer(text):
            named, _, test = match.group(0).rstrip(".").partition("::")
            target = ROOT / named
            ok = target.exists() and (not test or f"def {test}(" in target.read_text(encoding="utf-8"))
            if not ok:
                line = text.count("\n", 0, match.start()) + 1
                missing.setdefault(match.group(0), []).append(f"{path.relative_to(ROOT)}:{line}")
    assert not missing, "\n".join(f"{name}: {', '.join(where[:4])}" for name, where in sorted(missing.items()))
