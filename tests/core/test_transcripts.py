"""Replay every transcript in tests/data/transcripts/ against the Python ClientSession.

The same files drive chat.js's ClientSession under Node (tests/e2e/js/transcripts.test.js),
so the two implementations of the client state machine cannot drift apart. The format
is described in docs/client-session.md ("Transcripts").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from support import DATA
from wslab.core.backoff import BackoffPolicy
from wslab.core.session import ClientSession, Disconnect, Emit, Retry, Send, SessionAction

TRANSCRIPTS = sorted((DATA / "transcripts").glob("*.json"))


def make_session(options: dict[str, Any]) -> ClientSession:
    options = dict(options)
    policy = BackoffPolicy(**options.pop("policy", {}))
    return ClientSession(policy=policy, **options)


def as_json(action: SessionAction) -> dict[str, Any]:
    if isinstance(action, Send):
        assert action.frame == json.dumps(action.message, ensure_ascii=False, separators=(",", ":"))
        return {"send": action.message}
    if isinstance(action, Emit):
        return {"emit": action.event, "data": action.data}
    if isinstance(action, Retry):
        return {"retry": action.delay}
    if isinstance(action, Disconnect):
        return {"disconnect": {"code": action.code, "reason": action.reason}}
    raise TypeError(action)


def subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and subset(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, float) or isinstance(actual, float):
        return isinstance(actual, (int, float)) and not isinstance(actual, bool) and abs(expected - actual) < 1e-9
    return bool(expected == actual)


def matches(expected: dict[str, Any], actual: dict[str, Any]) -> bool:
    if "send" in expected:
        return actual.get("send") == expected["send"]
    if "emit" in expected:
        return actual.get("emit") == expected["emit"] and subset(expected.get("data", {}), actual.get("data"))
    if "retry" in expected:
        return "retry" in actual and subset(expected["retry"], actual["retry"])
    if "disconnect" in expected:
        return "disconnect" in actual and subset(expected["disconnect"], actual["disconnect"])
    raise ValueError(f"unknown expected action {expected!r}")


def frame_arg(arg: Any) -> str | bytes:
    if isinstance(arg, dict) and set(arg) == {"raw"}:
        return str(arg["raw"])
    if isinstance(arg, dict) and set(arg) == {"binary"}:
        return bytes.fromhex(arg["binary"])
    return json.dumps(arg, ensure_ascii=False, separators=(",", ":"))


def state_of(session: ClientSession) -> dict[str, Any]:
    return {
        "state": session.state,
        "name": session.name,
        "room": session.room,
        "epoch": session.epoch,
        "last_seq": session.last_seq,
        "online": session.online,
        "typing": session.typing,
        "unacked": list(session.unacked),
        "queued": session.queued,
        "channels": list(session.channels),
        "attempt": session.attempt,
        "pending": [list(item) for item in session.pending],
    }


def call(session: ClientSession, do: str, args: list[Any], now: float) -> list[SessionAction]:
    if do == "frame":
        return session.on_frame(frame_arg(args[0]), now)
    if do == "say" and len(args) > 1:
        return session.say(args[0], now, id=args[1])
    if do == "disconnected":
        unsent = [
            Send(json.dumps(m, ensure_ascii=False, separators=(",", ":")), m)
            for m in (args[2] if len(args) > 2 else [])
        ]
        return session.disconnected(args[0], args[1] if len(args) > 1 else "", now, unsent)
    if do in ("connecting", "connected", "tick"):
        return getattr(session, do)(now)  # type: ignore[no-any-return]
    if do == "connect_failed":
        return session.connect_failed(args[0] if args else "refused", now)
    return getattr(session, do)(*args, now=now)  # type: ignore[no-any-return]


def test_there_are_transcripts() -> None:
    assert len(TRANSCRIPTS) >= 8, TRANSCRIPTS


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=[p.stem for p in TRANSCRIPTS])
def test_transcript(path: Path) -> None:
    script = json.loads(path.read_text(encoding="utf-8"))
    session = make_session(script.get("session", {}))
    ignore = set(script.get("ignore", []))
    now = 0.0
    for index, step in enumerate(script["steps"]):
        now = float(step.get("at", now))
        where = f"{path.name} step {index} ({step['do']})"
        if step["do"] == "state":
            assert subset(step["expect"], state_of(session)), f"{where}: state {state_of(session)}"
            continue
        if "error" in step:
            with pytest.raises(Exception) as info:
                call(session, step["do"], step.get("args", []), now)
            assert step["error"] in str(info.value), f"{where}: {info.value}"
            continue
        actual = [
            a for a in map(as_json, call(session, step["do"], step.get("args", []), now)) if a.get("emit") not in ignore
        ]
        expected = step["expect"]
        assert len(actual) == len(expected) and all(map(matches, expected, actual)), (
            f"{where}:\n expected {json.dumps(expected)}\n actual   {json.dumps(actual, default=str)}"
        )
        if "deadline" in step:
            assert subset(step["deadline"], session.next_deadline()), f"{where}: deadline {session.next_deadline()}"
