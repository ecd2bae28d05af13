"""Old import paths, kept working for one release, each with a DeprecationWarning naming the new one.

Learners and instructors keep notebooks across releases, so a module or name
that moved still imports from where it was, as the same object:

* :data:`MOVED` lists every module that moved (0.1's flat layout:
  ``wslab.check``, ``wslab.runtime``, ``wslab.widgets``...; and the layers of
  the release before this one: ``wslab.net.*``...). Importing one warns once and
  gives an alias module whose names are looked up in the new homes, in order.
  It is made by a finder on :data:`sys.meta_path`, so no file stands at the old
  path and the folders show only the new house.
* :data:`RENAMED` lists names that moved to another module or took a new name
  (``wslab.Dashboard`` is ``LiveDashboard``); a module that still exists
  answers them through :func:`renamed_attribute`, with a warning.

Three old modules share their name with a function their package exports
(``wslab.check``, ``wslab.typing_text``, ``wslab.ui.snapshot``): importing the module rebinds the
package's attribute to it, so those alias modules can be called, and call the
function.

Everything here goes in the release after 0.2 (``docs/architecture.md``).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence
from typing import Any

from wslab.core.deprecation import REMOVED_IN, warn_deprecated

__all__ = ["CURRENT", "MOVED", "RENAMED", "install", "renamed_attribute"]

MOVED: dict[str, tuple[str, ...]] = {
    # 0.1, the flat layout
    "wslab.backoff": ("wslab.core.backoff",),
    "wslab.bots": ("wslab.server.bots",),
    "wslab.check": ("wslab.grading.self_check",),
    "wslab.clock": ("wslab.core.clock",),
    "wslab.dashboard": ("wslab.classroom.instructor_dashboard",),
    "wslab.hub": ("wslab.core.hub", "wslab.core.errors"),
    "wslab.models": ("wslab.ui.models", "wslab.core.typing_status"),
    "wslab.protocol": ("wslab.core.protocol", "wslab.core.errors"),
    "wslab.reconnect": ("wslab.client.reconnecting", "wslab.core.errors", "wslab.core.session"),
    "wslab.release": ("wslab.grading.release",),
    "wslab.runtime": ("wslab.kernel.course_server",),
    "wslab.seed_client": ("wslab.client.seed",),
    "wslab.serve": (
        "wslab.classroom.serve", "wslab.classroom.options", "wslab.classroom.banner",
        "wslab.server.pages", "wslab.server.chat_server", "wslab.server.config",
    ),
    "wslab.typing_text": ("wslab.core.typing_status",),
    "wslab.widgets": ("wslab.ui",),
    "wslab.widgets._html": ("wslab.ui._html",),
    "wslab.widgets.chat": ("wslab.ui.chat",),
    "wslab.widgets.dashboard": ("wslab.ui.live_dashboard",),
    "wslab.widgets.readystate": ("wslab.ui.readystate",),
    "wslab.widgets.timeline": ("wslab.ui.timeline",),
    # 0.1's layers (wslab.net and the first names in core, classroom and grading)
    "wslab.net": (),
    "wslab.net.admin": ("wslab.server.admin_route", "wslab.client.admin_client", "wslab.core.errors"),
    "wslab.net.aio": ("wslab.client.aio",),
    "wslab.net.backplane": ("wslab.server.backplane",),
    "wslab.net.bots": ("wslab.server.bots",),
    "wslab.net.engine": ("wslab.cluster.engine",),
    "wslab.net.jupyter": ("wslab.kernel.jupyter_links",),
    "wslab.net.learner_server": ("wslab.kernel.learner_server",),
    "wslab.net.nodes": ("wslab.kernel.nodes",),
    "wslab.net.reconnect": ("wslab.client.reconnecting",),
    "wslab.net.redis_backplane": ("wslab.cluster.redis_backplane",),
    "wslab.net.runtime": ("wslab.kernel.course_server", "wslab.kernel.loop_thread"),
    "wslab.net.seed_client": ("wslab.client.seed",),
    "wslab.net.server": ("wslab.server.chat_server", "wslab.server.config", "wslab.server.pages"),
    "wslab.net.tls": ("wslab.server.tls", "wslab.client.tls"),
    "wslab.net.websocket": ("wslab.client.websocket",),
    "wslab.core.admin": ("wslab.core.admin_protocol",),
    "wslab.classroom.admin": ("wslab.classroom.dashboard_source",),
    "wslab.classroom.cluster": ("wslab.cluster.workers", "wslab.classroom.serve"),
    "wslab.classroom.instructor": ("wslab.classroom.instructor_dashboard",),
    "wslab.grading.check": ("wslab.grading.self_check",),
    "wslab.ui.live": ("wslab.ui.live_dashboard",),
    "wslab.ui.snapshot": ("wslab.ui.snapshots",),  # its name is the function's, wslab.ui.snapshot
}
"""Old module -> the modules its names now live in, searched in order (empty: a package that held only modules)."""

_PACKAGES = frozenset({"wslab.net", "wslab.widgets"})

CURRENT: dict[str, tuple[str, ...]] = {
    "wslab.aio": ("wslab.client.aio",),
}
"""Module paths that are current API but have no file: ``import wslab.aio`` (``wslab.aio.run`` is in
every lesson) answers like :data:`MOVED` does, without a warning."""

RENAMED: dict[tuple[str, str], tuple[str, str]] = {
    ("wslab", "Dashboard"): ("wslab.ui.live_dashboard", "LiveDashboard"),
    ("wslab.widgets", "Dashboard"): ("wslab.ui.live_dashboard", "LiveDashboard"),
    ("wslab.widgets.dashboard", "Dashboard"): ("wslab.ui.live_dashboard", "LiveDashboard"),
    ("wslab.hub", "RateLimiter"): ("wslab.core.ratelimit", "TokenBucket"),
    ("wslab.hub", "Send"): ("wslab.core.hub", "Deliver"),
    ("wslab.hub", "Action"): ("wslab.core.hub", "HubAction"),
    ("wslab.hub", "RECENT_IDS"): ("wslab.core.room", "RECENT_IDS"),
    ("wslab.hub", "LISTED_CHANNELS"): ("wslab.core.channels", "LISTED_CHANNELS"),
    ("wslab.classroom.cluster", "run"): ("wslab.classroom.serve", "serve_shared"),
    # names that left wslab.classroom.serve when it split into options, banner and serve (the options
    # it still uses, it still exports)
    ("wslab.classroom.serve", "join_urls"): ("wslab.classroom.banner", "join_urls"),
    ("wslab.classroom.serve", "chat_page"): ("wslab.server.pages", "chat_page"),
    ("wslab.classroom.serve", "STATIC_DIR"): ("wslab.server.pages", "STATIC_DIR"),
    ("wslab.classroom.serve", "is_loopback"): ("wslab.server.config", "is_loopback"),
    # the grader's outputs left wslab.grading.grader for their own modules
    ("wslab.grading.grader", "gradebook_text"): ("wslab.grading.gradebook", "gradebook_text"),
    ("wslab.grading.grader", "write_gradebook"): ("wslab.grading.gradebook", "write_gradebook"),
    ("wslab.grading.grader", "feedback_name"): ("wslab.grading.feedback", "feedback_name"),
    ("wslab.grading.grader", "feedback_text"): ("wslab.grading.feedback", "feedback_text"),
    ("wslab.grading.grader", "write_feedback"): ("wslab.grading.feedback", "write_feedback"),
}
"""(old module, old name) -> (new module, new name), for names that are not where a module move puts them."""

def renamed_attribute(module: str, name: str) -> Any:
    """The object ``module.name`` stands for in :data:`RENAMED`, with a warning; :class:`AttributeError` if none."""
    target = RENAMED.get((module, name))
    if target is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    home, new = target
    warn_deprecated(
        f"{module}.{name} is deprecated and goes in wslab {REMOVED_IN}: use {home}.{new} "
        f"(from {home} import {new})"
    )
    return getattr(importlib.import_module(home), new)


class _Alias(types.ModuleType):
    """An old module's name for the modules that now hold its contents."""

    __homes: tuple[str, ...]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if (self.__name__, name) in RENAMED:
            return renamed_attribute(self.__name__, name)
        modules = [importlib.import_module(home) for home in self.__homes]
        for module in modules:  # what a home defines or lists, before anything a home would answer with a warning
            if name in vars(module) or name in getattr(module, "__all__", ()):
                return getattr(module, name)
        for module in modules:
            if hasattr(module, name):
                return getattr(module, name)
        moved = ", ".join(self.__homes)
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r} (it moved: {moved})")

    def __dir__(self) -> list[str]:
        names: set[str] = set()
        for home in self.__homes:
            names |= set(getattr(importlib.import_module(home), "__all__", ()))
        return sorted(names)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # ``import wslab.check`` rebinds ``wslab.check`` (the function) to this module: keep it callable.
        function = self.__getattr__(self.__name__.rpartition(".")[2])
        if not callable(function):
            raise TypeError(f"module {self.__name__!r} is not callable")
        return function(*args, **kwargs)


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED and fullname not in CURRENT:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=fullname in _PACKAGES)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = _Alias(spec.name)
        module._Alias__homes = MOVED[spec.name] if spec.name in MOVED else CURRENT[spec.name]  # type: ignore[attr-defined]
        if spec.name in _PACKAGES:
            module.__path__ = []
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        if module.__name__ in CURRENT:  # current API: the same names, no warning
            module.__all__ = sorted(dir(module))  # type: ignore[attr-defined]
            return
        homes = MOVED[module.__name__]
        where = " or ".join(homes) if homes else "its modules' new homes (docs/architecture.md)"
        warn_deprecated(f"{module.__name__} is deprecated and goes in wslab {REMOVED_IN}: import from {where}")


_FINDER = _Finder()


def install() -> None:
    """Put the finder of old paths on :data:`sys.meta_path` (once; ``import wslab`` does it)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.append(_FINDER)
