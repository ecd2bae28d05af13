"""Lazy exports for wslab's packages: a name is imported the first time it is used.

So ``import wslab`` and ``import wslab.core`` stay cheap and need neither
websockets nor ipywidgets until something that uses them is touched.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str], fallback: Callable[[str, str], Any] | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return ``(__getattr__, __dir__)`` for ``package``.

    ``exports`` maps each public name to the module that defines it; a module
    name ending in ``:`` stands for that module itself (``"aio": "wslab.client.aio:"``).
    A name not in ``exports`` is ``fallback(package, name)`` (never cached, not
    listed), or an :class:`AttributeError`.
    """

    def __getattr__(name: str) -> Any:
        where = exports.get(name)
        if where is None:
            if fallback is not None:
                return fallback(package, name)
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if where.endswith(":"):
            value = importlib.import_module(where[:-1])
        else:
            value = getattr(importlib.import_module(where), name)
        importlib.import_module(package).__dict__[name] = value  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(exports) | set(importlib.import_module(package).__dict__))

    return __getattr__, __dir__
