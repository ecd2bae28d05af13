"""The exception tree: the one drawn in ``wslab.core.errors``'s docstring is the one the classes make."""

from __future__ import annotations

import builtins
import importlib
import pkgutil
import re

import pytest

import wslab
from wslab.core import errors
from wslab.core.errors import AdminError, AdminRequestError, ProtocolError, WslabError
from wslab.grading.worker import CellTimeout


def drawn_tree() -> dict[str, tuple[str | None, str | None]]:
    """The docstring's tree: class name -> (its parent in the tree, the built-in it says it also derives from)."""
    doc = errors.__doc__ or ""
    block = doc.split("The tree (indentation is inheritance)::", 1)[1].split("\n\n")[1]
    tree: dict[str, tuple[str | None, str | None]] = {}
    stack: list[tuple[int, str]] = []
    for line in block.splitlines():
        found = re.match(r"^(?P<lead>[\s|+-]*)(?P<name>[A-Za-z]+)\b.*?(?:\((?P<builtin>[A-Za-z]+)\))?\s*$", line)
        assert found, f"a line of the tree that does not read: {line!r}"
        column = len(found.group("lead"))
        while stack and stack[-1][0] >= column:
            stack.pop()
        tree[found.group("name")] = (stack[-1][1] if stack else None, found.group("builtin"))
        stack.append((column, found.group("name")))
    return tree


TREE = drawn_tree()
BUILTIN_EXCEPTIONS = {v for v in vars(builtins).values() if isinstance(v, type) and issubclass(v, BaseException)}


def test_the_tree_names_every_class_and_only_those() -> None:
    assert set(TREE) == set(errors.__all__)
    assert TREE["WslabError"] == (None, "Exception") and TREE["AdminRequestError"][0] == "ProtocolError"


@pytest.mark.parametrize("name", errors.__all__)
def test_each_class_has_the_parent_and_the_builtin_the_tree_gives(name: str) -> None:
    cls = getattr(errors, name)
    parent, builtin = TREE[name]
    assert issubclass(cls, WslabError) and issubclass(cls, Exception)
    if parent is not None:
        assert cls.__bases__[0] is getattr(errors, parent), f"{name} derives from {cls.__bases__[0].__name__}"
    if builtin is not None:
        assert issubclass(cls, getattr(builtins, builtin)), f"{name} is not a {builtin}"
    # and no built-in besides the ones the tree gives it and its ancestors
    given = {getattr(builtins, b) for n in _ancestry(name) if (b := TREE[n][1]) is not None}
    extra = {b for b in cls.__mro__ if b in BUILTIN_EXCEPTIONS} - {Exception, BaseException} - set().union(
        *(set(g.__mro__) for g in given)
    )
    assert not extra, f"{name} also derives from {sorted(b.__name__ for b in extra)}, which the tree does not say"


def _ancestry(name: str) -> list[str]:
    chain = []
    current: str | None = name
    while current is not None:
        chain.append(current)
        current = TREE[current][0]
    return chain


def test_every_module_that_has_one_of_these_names_has_the_same_class() -> None:
    seen = 0
    for info in pkgutil.walk_packages(wslab.__path__, "wslab."):
        if info.name.startswith("wslab.grading.checks."):
            continue  # registered by the registry in lesson order, never imported by hand (they raise none of these)
        module = importlib.import_module(info.name)
        for name in errors.__all__:
            if name in vars(module):
                assert vars(module)[name] is getattr(errors, name), f"{info.name}.{name} is another class"
                seen += 1
    assert seen >= 8  # the raising modules re-export theirs (chat_server, websocket, engine, ...)


def test_the_graders_cell_timeout_is_outside_on_purpose() -> None:
    assert issubclass(CellTimeout, BaseException) and not issubclass(CellTimeout, Exception)


def test_a_protocol_error_becomes_an_error_frame_with_only_the_keys_it_has() -> None:
    bare = ProtocolError("bad-json", "not JSON")
    assert bare.to_message() == {"type": "error", "code": "bad-json", "message": "not JSON"}
    assert str(bare) == "not JSON"
    full = ProtocolError("unknown-channel", "no such channel", field="channel", id="c1", channel="scores")
    assert full.to_message() == {
        "type": "error", "code": "unknown-channel", "message": "no such channel",
        "field": "channel", "id": "c1", "channel": "scores",
    }
    admin = AdminRequestError(ProtocolError("bad-field", "bad", field="name"), "r1")
    assert (admin.code, admin.field, admin.request_id) == ("bad-field", "name", "r1")
    refused = AdminError("name-taken", "cannot announce in lobby")
    assert refused.code == "name-taken" and str(refused) == "cannot announce in lobby"
