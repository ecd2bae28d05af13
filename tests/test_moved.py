"""Old import paths keep working for one release: the same objects, with a DeprecationWarning naming the new path.

``tests/data/old_paths.json`` lists every public name of the two earlier releases
(0.1's flat layout and 0.1's layers) and where it lives now. A fresh interpreter
imports each old module and reads each name, recording warnings:

* a module that no longer has a file of its own warns on import, naming its new home;
* a name that left a module that still exists (that module's ``__all__`` no longer
  lists it), or took a new name, warns when it is read, naming the new ``module.name``;
* nothing else warns: a path that did not move stays silent;
* every old path gives the very object the new path gives.

The table is data written once from the old releases' ``__all__``, not read from
:mod:`wslab._moved`, so the aliases are checked against what users typed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import wslab
from support import DATA, ROOT
from wslab._moved import MOVED
from wslab.core.deprecation import REMOVED_IN, renamed_names

PATHS: list[list[str]] = json.loads((DATA / "old_paths.json").read_text(encoding="utf-8"))["paths"]

PROBE = textwrap.dedent(
    r"""
    import importlib, json, re, sys, warnings
    rows = json.load(sys.stdin)
    found = []
    seen_modules = set()
    for old, new, _releases in rows:
        module, _, name = old.partition(":")
        record = {"old": old, "new": new}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                mod = importlib.import_module(module)
            except Exception as exc:
                record["error"] = f"import {module}: {type(exc).__name__}: {exc}"
                found.append(record)
                continue
        record["listed"] = name in getattr(mod, "__all__", ())
        if module not in seen_modules:
            seen_modules.add(module)
            record["import_warnings"] = [str(w.message) for w in caught if w.category is DeprecationWarning]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                value = getattr(mod, name)
            except Exception as exc:
                record["error"] = f"{old}: {type(exc).__name__}: {exc}"
                found.append(record)
                continue
            record["name_warnings"] = [str(w.message) for w in caught if w.category is DeprecationWarning]
            record["name_warnings_where"] = [w.filename for w in caught if w.category is DeprecationWarning]
        new_module, _, new_name = new.partition(":")
        target = importlib.import_module(new_module)
        expected = getattr(target, new_name) if new_name else target
        record["same"] = value is expected
        if record.get("import_warnings"):  # the modules the warning names: does one of them give this object?
            named = set(re.findall(r"wslab[.\w]*\w", " ".join(record["import_warnings"]))) - {module}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                record["named_home_has_it"] = any(
                    getattr(importlib.import_module(m), new_name or name, None) is value for m in named
                )
        found.append(record)
    json.dump(found, sys.stdout)
    """
)


CURRENT_WITHOUT_FILE = {"wslab.aio"}
"""Current API with no file of its own: ``wslab.aio.run`` is in every lesson, so ``import wslab.aio`` is silent."""


def _has_file(module: str) -> bool:
    if module in CURRENT_WITHOUT_FILE:
        return True
    parts = module.split(".")
    base = ROOT.joinpath(*parts)
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


@pytest.fixture(scope="module")
def probed() -> dict[str, dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        input=json.dumps(PATHS), cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return {row["old"]: row for row in json.loads(result.stdout)}


def test_the_table_covers_both_releases_and_every_moved_module() -> None:
    releases = {r for _, _, rel in PATHS for r in rel.split(",")}
    assert releases == {"0.1-flat", "0.1-layers"}
    old_modules = {old.partition(":")[0] for old, _, _ in PATHS}
    for must in ("wslab.check", "wslab.runtime", "wslab.widgets.chat", "wslab.net.server", "wslab.net.runtime"):
        assert must in old_modules
    # every moved module that held names is exercised by the table (wslab.net and wslab.widgets are packages)
    assert {m for m in MOVED if m not in ("wslab.net",)} <= old_modules | {"wslab.widgets._html"}


@pytest.mark.parametrize(("old", "new"), [(old, new) for old, new, _ in PATHS], ids=[old for old, _, _ in PATHS])
def test_an_old_path_gives_the_same_object_and_warns_only_when_it_moved(
    probed: dict[str, dict[str, object]], old: str, new: str
) -> None:
    row = probed[old]
    assert "error" not in row, row["error"]
    assert row["same"], f"{old} is not the same object as {new}"
    module, _, name = old.partition(":")
    new_module, _, new_name = new.partition(":")
    if "import_warnings" in row:  # the first row of its module
        messages = row["import_warnings"]
        assert isinstance(messages, list)
        if _has_file(module):
            assert not messages, f"importing {module}, which did not move, warned: {messages}"
        else:
            assert any(module in m and "deprecated" in m and REMOVED_IN in m for m in messages), messages
            assert row["named_home_has_it"], f"no module {module}'s warning names has {name}: {messages}"
    moved_name = _has_file(module) and not row["listed"]  # it left a module that is still there
    renamed = bool(new_name) and new_name != name
    messages = row["name_warnings"]
    assert isinstance(messages, list)
    if moved_name or renamed:
        assert len(messages) == 1, f"reading {old} should warn once, naming {new}: {messages}"
        assert f"{new_module}.{new_name}" in messages[0] and REMOVED_IN in messages[0], messages
        where = row["name_warnings_where"]
        assert isinstance(where, list) and where == ["<string>"], f"the warning must point at the reader: {where}"
    else:
        assert not messages, f"reading {old} warned though it did not move: {messages}"


def test_an_old_module_that_is_also_a_function_can_still_be_called() -> None:
    """``import wslab.check`` (0.1) rebinds ``wslab.check``; ``wslab.check("basics")`` must still work."""
    code = textwrap.dedent(
        """
        import warnings
        warnings.simplefilter("ignore")
        import wslab
        import wslab.check
        import wslab.typing_text
        print(wslab.typing_text(["Ada", "Bob"]))
        report = wslab.check("basics", namespace={})
        print(type(report).__name__, len(report.results))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0] == "Ada and Bob are typing…"
    assert lines[1].startswith("CheckReport ")


def test_renamed_names_warn_at_the_caller_and_refuse_unknown_names() -> None:
    module = type(sys)("wslab_fake_module")
    module.New = object()
    sys.modules["wslab_fake_module"] = module
    try:
        getter = renamed_names("wslab_fake_module", {"Old": "New"})
        with pytest.warns(DeprecationWarning, match=r"wslab_fake_module\.Old is deprecated .* wslab_fake_module\.New"):
            assert getter("Old") is module.New
        with pytest.raises(AttributeError, match="no attribute 'Missing'"):
            getter("Missing")
    finally:
        del sys.modules["wslab_fake_module"]


def test_dir_of_an_alias_lists_the_new_homes_names() -> None:
    with pytest.warns(DeprecationWarning):
        import wslab.runtime as runtime  # noqa: PLC0415 - the old path is the point
    assert "start_server" in dir(runtime)
    with pytest.raises(AttributeError, match="it moved: wslab.kernel.course_server"):
        runtime.no_such_name  # noqa: B018


def test_top_level_old_name_warns_at_the_caller() -> None:
    with pytest.warns(DeprecationWarning, match="wslab.Dashboard is deprecated") as caught:
        dashboard = wslab.Dashboard
    assert caught[0].filename == __file__
    from wslab.ui.live_dashboard import LiveDashboard

    assert dashboard is LiveDashboard
    assert "Dashboard" not in dir(wslab), "an old name is answered, never listed"


def test_a_notebook_of_the_flat_release_imports_as_it_did(tmp_path: Path) -> None:
    """The setup cells of 0.1's exercises, as a learner kept them, run on this release (with warnings only)."""
    setup = textwrap.dedent(
        """
        import warnings
        warnings.simplefilter("error")
        warnings.filterwarnings("default", category=DeprecationWarning, message=".*goes in wslab")
        import wslab
        from wslab.check import check
        from wslab.widgets import ChatUI, Dashboard, ReadyStateLight, TimelinePlot
        from wslab.runtime import start_server
        from wslab.client import WebSocket, CloseEvent
        from wslab.server import ChatServer, ServerConfig
        from wslab.models import ChatModel, TypingNotifier
        from wslab.backoff import Backoff, BackoffPolicy
        from wslab.reconnect import ReconnectingClient, QueueFullError
        from wslab.hub import Hub
        server = start_server()
        assert server is wslab.start_server()
        print("ok", check.__module__)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", setup], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok wslab.grading.self_check"
    assert "wslab.check is deprecated" in result.stderr
