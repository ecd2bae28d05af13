"""Deprecation warnings that point at the learner's line, for names and modules that moved.

:func:`warn_deprecated` warns as if from the first frame outside the import
system and outside wslab: the notebook cell or script that used the old name,
so Jupyter shows it under that cell. :func:`renamed_names` makes the module-level
``__getattr__`` of a module that renamed some of its own names. Old module paths
are :mod:`wslab._moved`'s.
"""

from __future__ import annotations

import importlib
import sys
import types
import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["REMOVED_IN", "renamed_names", "warn_deprecated"]

REMOVED_IN = "0.3"
"""The release that drops the old names and paths."""


_PACKAGE = __name__.partition(".")[0]


def _internal(frame: types.FrameType) -> bool:
    """A frame of the import system, or of wslab itself (its lazy exports, a module's ``__getattr__``)."""
    filename = frame.f_code.co_filename
    module = str(frame.f_globals.get("__name__", ""))
    return (
        filename.startswith("<frozen importlib")
        or filename == importlib.__file__
        or module.partition(".")[0] == _PACKAGE
    )


def warn_deprecated(message: str) -> None:
    """Issue ``message`` as a :class:`DeprecationWarning` from the first frame outside the import system and wslab."""
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None and _internal(frame):
        frame = frame.f_back
    if frame is None:  # pragma: no cover - there is always a caller
        warnings.warn(message, DeprecationWarning, stacklevel=2)
        return
    module_globals = frame.f_globals
    warnings.warn_explicit(
        message,
        DeprecationWarning,
        frame.f_code.co_filename,
        frame.f_lineno,
        module=module_globals.get("__name__", "<unknown>"),
        registry=module_globals.setdefault("__warningregistry__", {}),
    )


def renamed_names(module: str, renamed: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``module`` that answers each old name in ``renamed`` with its new name's object.

    ``renamed`` maps old name -> new name, both in ``module``; each use warns.
    """

    def __getattr__(name: str) -> Any:
        new = renamed.get(name)
        if new is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warn_deprecated(f"{module}.{name} is deprecated and goes in wslab {REMOVED_IN}: use {module}.{new}")
        return getattr(sys.modules[module], new)

    return __getattr__
