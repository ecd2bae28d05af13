"""What the trusted checker tells the grader about one submission: typed events, one JSON object per line.

The checker (:mod:`wslab.grading.checker`) writes them on its standard output; the
grader (:mod:`wslab.grading.grader`) reads them back with :func:`parse`. Both sides
use this module, so the two cannot drift apart. The learner's code never writes
here: it runs in another process (:mod:`wslab.grading.worker`), in a sandbox, and
what it says reaches the checker only as data over :mod:`wslab.grading.rpc`.

Contracts: :func:`dump` writes exactly one line per event; :func:`parse` returns an
event or raises :class:`ValueError` for a line that is not one (unknown kind, a
missing or mistyped field, a text over :data:`MAX_TEXT` characters).
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any

__all__ = [
    "CellResult",
    "CheckResult",
    "CheckStart",
    "Done",
    "Event",
    "MAX_TEXT",
    "Note",
    "Progress",
    "dump",
    "parse",
]

MAX_TEXT = 2000
"""The longest text an event carries (a check's message, a note, a cell's detail)."""


@dataclass(frozen=True)
class CellResult:
    """Code cell ``index`` (counted from 1, markdown cells included) ran: ``status`` is
    ``ok``, ``error``, ``timeout``, ``skipped``, ``killed`` or ``crashed``."""

    index: int
    status: str
    detail: str = ""


@dataclass(frozen=True)
class CheckStart:
    """The check ``name`` starts now (the grader's watchdog allows it ``limit`` seconds)."""

    name: str
    limit: float


@dataclass(frozen=True)
class CheckResult:
    """The verdict on check ``name``, decided by the checker: ``pass``, ``fail``, ``missing``,
    ``todo``, ``error`` or ``timeout``, and what it observed."""

    name: str
    status: str
    message: str = ""


@dataclass(frozen=True)
class Note:
    """Something the learner should read in the feedback (a warning from Python, an edited owned cell...)."""

    text: str


@dataclass(frozen=True)
class Progress:
    """The checker is alive and working (sent while a long step runs, so the grader's watchdog waits)."""

    what: str


@dataclass(frozen=True)
class Done:
    """The checker finished this submission; ``restarts`` learner processes were started again on the way."""

    restarts: int = 0


Event = CellResult | CheckStart | CheckResult | Note | Progress | Done

_KINDS: dict[str, type[Any]] = {
    "cell": CellResult,
    "check-start": CheckStart,
    "check": CheckResult,
    "note": Note,
    "progress": Progress,
    "done": Done,
}
_NAMES = {cls: kind for kind, cls in _KINDS.items()}
_TYPES: dict[str, type | tuple[type, ...]] = {"int": int, "float": (int, float), "str": str}


def dump(event: Event) -> str:
    """``event`` as one line of JSON (without the newline)."""
    return json.dumps({"event": _NAMES[type(event)], **asdict(event)}, ensure_ascii=True)


def parse(line: str | bytes) -> Event:
    """The event on ``line``; :class:`ValueError` if it is not one."""
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise ValueError("not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("not an object")
    kind = data.pop("event", None)
    cls = _KINDS.get(kind) if isinstance(kind, str) else None  # a list or an object cannot be a key
    if cls is None:
        raise ValueError("not a known event")
    values: dict[str, Any] = {}
    for field in fields(cls):
        if field.name not in data:
            if field.default is MISSING:
                raise ValueError(f"no {field.name}")
            continue
        value = data.pop(field.name)
        expected = _TYPES[str(field.type)]
        if isinstance(value, bool) or not isinstance(value, expected):
            raise ValueError(f"{field.name} has the wrong type")
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise ValueError(f"{field.name} is too long")
        values[field.name] = value
    if data:
        raise ValueError(f"unknown fields: {sorted(data)}")
    return cls(**values)  # type: ignore[no-any-return]
