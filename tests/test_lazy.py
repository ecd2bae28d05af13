"""lazy_exports: a package's names imported the first time they are used, then cached; modules as names too."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator

import pytest

from wslab._lazy import lazy_exports

NAME = "lazy_demo"


@pytest.fixture
def package(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    """A package exporting ``dumps`` from :mod:`json` and the module :mod:`json` itself as ``codec``."""
    module = types.ModuleType(NAME)
    module.__getattr__, module.__dir__ = lazy_exports(  # type: ignore[method-assign]
        NAME, {"dumps": "json", "codec": "json:", "missing": "no_such_module_here"}
    )
    monkeypatch.setitem(sys.modules, NAME, module)
    yield module


def test_a_name_is_imported_on_first_use_and_then_cached(package: types.ModuleType) -> None:
    assert "dumps" not in vars(package)
    assert package.dumps is json.dumps
    assert vars(package)["dumps"] is json.dumps  # later lookups skip __getattr__


def test_a_module_name_ending_in_a_colon_is_the_module_itself(package: types.ModuleType) -> None:
    assert package.codec is json


def test_dir_lists_the_exports_before_they_are_used(package: types.ModuleType) -> None:
    listed = dir(package)
    assert {"dumps", "codec", "missing"} <= set(listed) and listed == sorted(listed)


def test_an_unknown_name_is_an_attribute_error_and_a_missing_module_an_import_error(
    package: types.ModuleType,
) -> None:
    with pytest.raises(AttributeError, match=f"module '{NAME}' has no attribute 'nope'"):
        package.nope  # noqa: B018
    with pytest.raises(ModuleNotFoundError, match="no_such_module_here"):
        package.missing  # noqa: B018


def test_a_fallback_answers_other_names_every_time_and_is_never_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, str]] = []

    def fallback(package: str, name: str) -> str:
        asked.append((package, name))
        return f"old {name}"

    module = types.ModuleType(NAME)
    module.__getattr__, module.__dir__ = lazy_exports(NAME, {}, fallback)  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, NAME, module)
    assert module.Dashboard == "old Dashboard" and module.Dashboard == "old Dashboard"
    assert asked == [(NAME, "Dashboard")] * 2 and "Dashboard" not in vars(module) and "Dashboard" not in dir(module)
