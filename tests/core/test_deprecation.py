"""Deprecation warnings for renamed names: they point at the line that used the old name, never inside wslab."""

from __future__ import annotations

import inspect
import sys
import types
import warnings

import pytest

from wslab.core.deprecation import REMOVED_IN, renamed_names, warn_deprecated


@pytest.fixture
def renamed_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A module that renamed ``old`` to ``new``, as a wslab module does with :func:`renamed_names`."""
    module = types.ModuleType("renamed_demo")
    module.new = object()  # type: ignore[attr-defined]
    module.__getattr__ = renamed_names("renamed_demo", {"old": "new"})  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, "renamed_demo", module)
    return module


def test_the_warning_points_at_the_callers_line() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
        warn_deprecated("old is deprecated")
    assert len(caught) == 1
    warning = caught[0]
    assert warning.category is DeprecationWarning and str(warning.message) == "old is deprecated"
    assert (warning.filename, warning.lineno) == (__file__, line)


def test_an_old_name_gives_the_new_object_and_a_warning_at_the_line_that_used_it(
    renamed_module: types.ModuleType,
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
        value = renamed_module.old
    assert value is renamed_module.new
    assert [str(w.message) for w in caught] == [
        f"renamed_demo.old is deprecated and goes in wslab {REMOVED_IN}: use renamed_demo.new"
    ]
    assert (caught[0].filename, caught[0].lineno) == (__file__, line)  # not deprecation.py's __getattr__


def test_a_name_that_never_existed_is_an_attribute_error_without_a_warning(renamed_module: types.ModuleType) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(AttributeError, match="module 'renamed_demo' has no attribute 'nope'"):
            renamed_module.nope  # noqa: B018
        assert not hasattr(renamed_module, "nope")
    assert caught == []


def test_each_use_warns_again_at_its_own_line(renamed_module: types.ModuleType) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # the notebook's filter: once per location
        for _ in range(3):
            renamed_module.old  # noqa: B018
        renamed_module.old  # noqa: B018
    assert len(caught) == 2 and caught[0].lineno != caught[1].lineno

