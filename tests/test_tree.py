"""``tests/`` mirrors ``wslab/``: every module has its test file, and every test file in a layer names its module.

The rule (issue 17): ``wslab/<layer>/<module>.py`` is tested in
``tests/<layer>/test_<module>.py``; a top-level module ``wslab/<module>.py`` in
``tests/test_<module>.py``. Leading and trailing underscores are dropped from the
name (``_lazy`` -> ``test_lazy.py``, ``ui/_html`` -> ``ui/test_html.py``,
``__init__`` -> ``test_init.py``). Not counted:

* a package's ``__init__.py`` with no code: only a docstring, imports, and module data
  (``__all__``, ``__version__``, a lazy-export map and its ``lazy_exports(...)`` pair);
* ``wslab/grading/checks/*``: the checks are exercised by the grader's tests, which grade
  every solution, every released exercise and a corpus of wrong answers with them.

``tests/e2e/`` holds what runs notebooks, a browser, Node or ``wslab serve`` as a
subprocess; ``tests/support/`` the shared helpers; ``tests/data/`` transcripts and
submissions. No test module imports another: what tests share lives in ``support``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from support import ROOT

PACKAGE = ROOT / "wslab"
TESTS = ROOT / "tests"

MORE_FILES = {
    "core/test_hub_properties.py": "wslab/core/hub.py (property-based)",
    "core/test_hub_shared.py": "wslab/core/hub.py (shared rooms)",
    "core/test_transcripts.py": "wslab/core/session.py (the transcripts chat.js replays too)",
}
"""Test files in a layer folder that are a module's second file, and which module they test."""

SHAPE_FILES = {"test_layers.py", "test_tree.py", "test_docs_paths.py"}
"""Top-level test files about the package's shape, not one module."""

DATA_NAMES = {"__all__", "__version__", "_EXPORTS", "__getattr__", "__dir__"}


def _has_code(path: Path) -> bool:
    """Whether a package's ``__init__.py`` does more than name things (see the module's docstring)."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    for index, node in enumerate(body):
        if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            if names and names <= DATA_NAMES:
                continue
        return True
    return False


def expected_test_file(module: Path) -> Path | None:
    """The test file of ``module`` (a path under ``wslab/``), or None when it needs none."""
    relative = module.relative_to(PACKAGE)
    if relative.parts[:2] == ("grading", "checks"):
        return None
    if module.name == "__init__.py" and not _has_code(module):
        return None
    return TESTS.joinpath(*relative.parts[:-1], f"test_{module.stem.strip('_')}.py")


MODULES = sorted(PACKAGE.rglob("*.py"))
EXPECTED = {m: t for m in MODULES if (t := expected_test_file(m)) is not None}


def _id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_the_rule_reads_the_tree_as_the_issue_says() -> None:
    assert expected_test_file(PACKAGE / "kernel" / "loop_thread.py") == TESTS / "kernel" / "test_loop_thread.py"
    assert expected_test_file(PACKAGE / "ui" / "_html.py") == TESTS / "ui" / "test_html.py"
    assert expected_test_file(PACKAGE / "cli.py") == TESTS / "test_cli.py"
    assert expected_test_file(PACKAGE / "_moved.py") == TESTS / "test_moved.py"
    assert expected_test_file(PACKAGE / "grading" / "checks" / "chat.py") is None
    assert expected_test_file(PACKAGE / "ui" / "__init__.py") is None  # a lazy-export map: no code
    assert expected_test_file(PACKAGE / "__init__.py") == TESTS / "test_init.py"  # it installs the old paths


@pytest.mark.parametrize("module", sorted(EXPECTED), ids=_id)
def test_every_module_has_its_test_file(module: Path) -> None:
    test_file = EXPECTED[module]
    assert test_file.is_file(), f"{_id(module)} has no test file: write {_id(test_file)}"
    tree = ast.parse(test_file.read_text(encoding="utf-8"))
    tests = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
             and n.name.startswith("test_")]
    assert tests, f"{_id(test_file)} has no test"


def test_every_test_file_in_a_layer_folder_names_a_module() -> None:
    expected = set(EXPECTED.values())
    strays = []
    for test_file in sorted(TESTS.rglob("test_*.py")):
        relative = test_file.relative_to(TESTS)
        if relative.parts[0] in ("e2e", "support", "data"):
            continue
        if len(relative.parts) == 1 and relative.name in SHAPE_FILES:
            continue
        if test_file not in expected and relative.as_posix() not in MORE_FILES:
            strays.append(relative.as_posix())
    assert not strays, f"test files that name no module (move their tests to the module's file): {strays}"


IMPORTS_OF_TEST_MODULES_ALLOWED = {
    # test_transcripts' replay helpers: that file is being changed on another branch of issue 17
    ("e2e/test_js.py", "core.test_transcripts"): "make_session, as_json, call, state_of",
}


def test_no_test_module_imports_another() -> None:
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        relative = path.relative_to(TESTS).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                short = name.removeprefix("tests.")
                if short.rpartition(".")[2].startswith("test_") and (relative, short) not in (
                    IMPORTS_OF_TEST_MODULES_ALLOWED
                ):
                    found.append(f"{relative} imports {name}")
    assert not found, f"shared helpers belong in tests/support/: {found}"
