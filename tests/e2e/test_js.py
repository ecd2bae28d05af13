"""chat.js against the Python package: Node's own test runner, and the constants both sides define.

``node --test tests/js/`` replays every transcript of ``tests/transcripts/`` against
chat.js's ``ClientSession`` (``tests/test_transcripts.py`` replays the same files against
the Python one) and runs the JavaScript-only unit tests. The second test loads chat.js
in Node and checks that every constant in its ``CONSTANTS`` equals the Python value, and
that the rules with no single Python constant (the id scheme, the presence rule, the
backoff ceiling) behave the same on both sides. The last test feeds both sessions the
same seeded random scripts (intents, transport events, server frames good and bad) and
compares every action, error, state and deadline: the transcripts hold what people
thought of, this catches the drift they did not.

Node is only needed for these tests. Without it they are skipped with the reason,
unless the environment variable ``CI`` is set: then they fail, so CI cannot pass by
skipping them.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
from dataclasses import fields
from typing import Any

import pytest

from support import ROOT
from tests.core.test_transcripts import as_json, call, make_session, state_of
from wslab.core import backoff, protocol, session
from wslab.core.backoff import BackoffPolicy
from wslab.core.session import ClientSession, Emit

CHAT_JS = ROOT / "wslab" / "static" / "chat.js"
JS_TESTS = ROOT / "tests" / "e2e" / "js"
NODE_TIMEOUT = 120.0
"""Bound on one Node run, in seconds (the whole JS suite takes well under one)."""


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        reason = "Node.js is not installed (apt-get install nodejs): the JavaScript tests cannot run"
        if os.environ.get("CI"):
            pytest.fail(f"in CI: {reason}")
        pytest.skip(reason)
    return node


def _run(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            args, cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=NODE_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        pytest.fail(f"{' '.join(args)} did not finish within {NODE_TIMEOUT:g} s; its output so far:\n{out[-4000:]}")


def test_node_test_runner_passes() -> None:
    """Every file in tests/js/ passes under ``node --test`` (transcripts and unit tests)."""
    node = _node()
    result = _run([node, "--test", str(JS_TESTS.relative_to(ROOT)) + os.sep])
    output = result.stdout + result.stderr
    if result.returncode != 0:
        failures = [line for line in output.splitlines() if line.startswith("not ok")]
        pytest.fail(f"node --test tests/js/ failed ({len(failures)} failing):\n{output[-20000:]}")
    counts = dict(re.findall(r"^# (tests|pass|fail) (\d+)$", output, re.MULTILINE))
    assert int(counts.get("tests", 0)) >= 10 and counts.get("fail") == "0", output[-4000:]
    transcripts = sorted(ROOT.glob("tests/data/transcripts/*.json"))
    replayed = re.findall(r"^ok \d+ - transcript (\S+\.json)$", output, re.MULTILINE)
    assert sorted(replayed) == [p.name for p in transcripts], "every transcript must be replayed in JavaScript"


# ---------------------------------------------------------------------------- constants

PRESENCE_CASES: list[dict[str, Any]] = [
    {"online": ["Ada"], "deltas": [{"joined": ["Bob"], "left": []}, {"joined": [], "left": ["Bob"]}]},
    {
        "online": ["Bob", "Ada"],
        "deltas": [{"joined": ["Bob", "Dee"], "left": ["Bob"]}, {"joined": ["Ada"], "left": ["Zed"]}],
    },
    {
        "online": ["Ada"],
        "deltas": [{"joined": ["Cy", "Cy", "Bob"], "left": ["Ada", "Ada"]}, {"joined": ["Ada"], "left": []}],
    },
    {"online": ["Ada", "Bob"], "deltas": [{"joined": [1, None, "Cy"], "left": "Bob"}, {"left": ["Cy"]}, {}]},
]

CEILING_POLICIES = [
    {"initial": 1, "factor": 2, "cap": 30},
    {"initial": 0.5, "factor": 3, "cap": 5},
    {"initial": 0.1, "factor": 1.5, "cap": 60},
    {"initial": 1, "factor": 1, "cap": 1},
    {"initial": 0.25, "factor": 10, "cap": 1e300},
]
ATTEMPTS = [*range(1, 16), 64, 1000, 10_000, 2**40]

NODE_SCRIPT = r"""
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const chat = require(input.path);
const welcome = (online) => JSON.stringify({type: "welcome", name: "Ada", room: "lobby", epoch: "e1",
  online, typing: [], seq: 0, history: [], history_complete: true});
const presence = input.presence.map((c) => {
  const s = new chat.ClientSession({idPrefix: "t"});
  s.join("Ada", "lobby", 0); s.connected(0); s.onFrame(welcome(c.online), 0);
  return c.deltas.map((d) => {
    const e = s.onFrame(JSON.stringify({type: "presence", room: "lobby", ...d}), 1).find((a) => a.emit === "presence");
    return {joined: e.data.joined, left: e.data.left, online: e.data.online};
  });
});
const ceilings = input.policies.map((p) => input.attempts.map((n) => new chat.BackoffPolicy(p).ceiling(n)));
const s = new chat.ClientSession({idPrefix: "p"});
console.log(JSON.stringify({constants: chat.CONSTANTS, presence, ceilings, ids: [s.newId(), s.newId()],
  defaultPrefix: new chat.ClientSession().idPrefix}));
"""


def _python_constants() -> dict[str, Any]:
    policy = BackoffPolicy()
    defaults = {f.name: getattr(policy, f.name) for f in fields(BackoffPolicy)}
    return {
        "STOP_CODES": sorted(backoff.STOP_CODES),
        "BACKOFF": {k: defaults[k] for k in ("initial", "factor", "cap", "jitter", "stay_up")},
        "LIFECYCLE_EVENTS": sorted(session.LIFECYCLE_EVENTS),
        "TYPING_IDLE": session.TYPING_IDLE,
        "TYPING_REFRESH": session.TYPING_REFRESH,
        "TYPING_TIMEOUT": protocol.TYPING_TIMEOUT,
        "RESEND_AFTER": session.RESEND_AFTER,
        "RESTORE_TIMEOUT": session.RESTORE_TIMEOUT,
        "QUEUE_LIMIT": session.QUEUE_LIMIT,
        "RETRY_JOIN_CODE": session.RETRY_JOIN_CODE,
        "DEFAULT_ROOM": protocol.DEFAULT_ROOM,
        "MAX_NAME_CHARS": protocol.MAX_NAME_CHARS,
        "MAX_ROOM_CHARS": protocol.MAX_ROOM_CHARS,
        "MAX_CONTENT_CHARS": protocol.MAX_CONTENT_CHARS,
        "MAX_CLIENT_ID_CHARS": protocol.MAX_CLIENT_ID_CHARS,
        "ERROR_CODES": {
            name: getattr(protocol.ErrorCode, name)
            for name in ("RATE_LIMITED", "UNKNOWN_CHANNEL", "NAME_TAKEN", "NAME_INVALID", "ROOM_INVALID", "BANNED")
        },
    }


def _python_presence(case: dict[str, Any]) -> list[dict[str, Any]]:
    client = ClientSession(id_prefix="t")
    client.join("Ada", "lobby", 0)
    client.connected(0)
    welcome = {
        "type": "welcome",
        "name": "Ada",
        "room": "lobby",
        "epoch": "e1",
        "online": case["online"],
        "typing": [],
        "seq": 0,
        "history": [],
        "history_complete": True,
    }
    client.on_frame(json.dumps(welcome), 0)
    results = []
    for delta in case["deltas"]:
        actions = client.on_frame(json.dumps({"type": "presence", "room": "lobby", **delta}), 1)
        [data] = [a.data for a in actions if isinstance(a, Emit) and a.event == "presence"]
        results.append({"joined": data["joined"], "left": data["left"], "online": data["online"]})
    return results


@pytest.fixture(scope="module")
def from_js() -> dict[str, Any]:
    node = _node()
    payload = {"path": str(CHAT_JS), "presence": PRESENCE_CASES, "policies": CEILING_POLICIES, "attempts": ATTEMPTS}
    result = _run([node, "-e", NODE_SCRIPT], stdin=json.dumps(payload))
    assert result.returncode == 0, f"loading chat.js in Node failed:\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_js_constants_equal_the_python_ones(from_js: dict[str, Any]) -> None:
    js = from_js["constants"]
    python = _python_constants()
    for name, value in python.items():
        assert js.get(name) == value, f"CONSTANTS.{name} in chat.js is {js.get(name)!r}; Python says {value!r}"
    # The ones with no single Python constant are checked by behaviour below.
    by_behaviour = {"ID_FORMAT", "ID_PREFIX_HEX_DIGITS", "PRESENCE"}
    unchecked = set(js) - set(python) - by_behaviour
    assert not unchecked, f"chat.js CONSTANTS has entries this test does not compare: {sorted(unchecked)}"


def test_the_id_scheme_is_the_same(from_js: dict[str, Any]) -> None:
    js = from_js["constants"]
    python = ClientSession(id_prefix="p")
    expected = [js["ID_FORMAT"].format(prefix="p", n=n) for n in (1, 2)]
    assert [python.new_id(), python.new_id()] == expected == from_js["ids"] == ["p-1", "p-2"]
    hex_prefix = re.compile(rf"[0-9a-f]{{{js['ID_PREFIX_HEX_DIGITS']}}}")
    assert hex_prefix.fullmatch(session.new_prefix()), session.new_prefix()
    assert hex_prefix.fullmatch(from_js["defaultPrefix"]), from_js["defaultPrefix"]


def test_the_presence_rule_is_the_same(from_js: dict[str, Any]) -> None:
    assert from_js["constants"]["PRESENCE"] == (
        "remove every name in left, then append every name in joined not already there"
    )
    assert from_js["presence"] == [_python_presence(case) for case in PRESENCE_CASES]


def test_backoff_ceilings_are_the_same(from_js: dict[str, Any]) -> None:
    for policy, js_ceilings in zip(CEILING_POLICIES, from_js["ceilings"], strict=True):
        python = BackoffPolicy(**policy)
        for attempt, js_value in zip(ATTEMPTS, js_ceilings, strict=True):
            assert js_value == pytest.approx(python.ceiling(attempt), rel=1e-12), (policy, attempt)


# ---------------------------------------------------------------------------- random scripts

FUZZ_SEED = 20261201
FUZZ_SCRIPTS = 300
FUZZ_STEPS = 60
_TS = "2026-12-01T10:00:00.000Z"


def _fuzz_chat(rng: random.Random) -> dict[str, Any]:
    chat = {
        "type": "chat",
        "room": rng.choice(["lobby", "lobby", "games"]),
        "seq": rng.randint(0, 6),
        "sender": rng.choice(["Ada", "Bob"]),
        "content": "m",
        "timestamp": _TS,
    }
    if rng.random() < 0.5:
        chat["id"] = rng.choice(["t-1", "t-2", "t-3", "z"])
    return chat


def _fuzz_frame(rng: random.Random) -> Any:
    k, names = rng.random(), ["Ada", "Bob", "Cy"]
    if k < 0.2:
        return {
            "type": "welcome",
            "name": rng.choice(["Ada", "Bob"]),
            "room": rng.choice(["lobby", "games"]),
            "epoch": rng.choice(["e1", "e1", "e2", None]),
            "online": rng.sample(names, rng.randint(0, 3)),
            "typing": rng.sample(names, rng.randint(0, 2)),
            "seq": rng.randint(0, 6),
            "history": [_fuzz_chat(rng) for _ in range(rng.randint(0, 3))],
            "history_complete": rng.random() < 0.8,
        }
    if k < 0.35:
        return _fuzz_chat(rng)
    if k < 0.45:
        return {"type": "ack", "id": rng.choice(["t-1", "t-2", "t-3", "z", "7"]), "seq": 1}
    if k < 0.6:
        error = {
            "type": "error",
            "message": "m",
            "code": rng.choice(["rate-limited", "muted", "name-taken", "name-invalid", "unknown-channel", "bad-json"]),
        }
        if rng.random() < 0.4:
            error["id"] = rng.choice(["t-1", "t-2"])
        if rng.random() < 0.3:
            error["channel"] = rng.choice(["updates", "scores", "x"])
        return error
    if k < 0.7:
        return {
            "type": "presence",
            "room": "lobby",
            "joined": rng.sample(names, rng.randint(0, 2)),
            "left": rng.sample(names, rng.randint(0, 2)),
        }
    if k < 0.78:
        return {"type": "typing", "room": "lobby", "typing": rng.sample(names, rng.randint(0, 2))}
    if k < 0.86:
        return {"type": "subscribed", "channel": rng.choice(["updates", "scores"])}
    if k < 0.9:
        return {"raw": rng.choice(["[1]", "3", "null", '"text"', "nope"])}
    if k < 0.92:
        return {"binary": "00ff"}
    return {"type": rng.choice(["update", "connect", "notice", "closed", "epoch"]), "x": 1}


def _fuzz_step(rng: random.Random, now: float) -> dict[str, Any]:
    k = rng.random()
    if k < 0.06:
        return {"at": now, "do": "join", "args": [rng.choice(["Ada", "Bob"]), rng.choice(["lobby", "games"])]}
    if k < 0.14:
        return {"at": now, "do": "say", "args": [rng.choice(["hi", "yo", "", "x"])]}
    if k < 0.20:
        return {"at": now, "do": "keystroke", "args": [rng.choice(["", "h", "he"])]}
    if k < 0.24:
        return {"at": now, "do": rng.choice(["subscribe", "unsubscribe"]), "args": [rng.choice(["updates", "scores"])]}
    if k < 0.28:
        message = rng.choice(
            [
                {"type": "note", "n": rng.randint(1, 9)},
                {"type": "typing", "typing": rng.random() < 0.5},
                {"type": "chat", "content": "c", "id": rng.choice([None, "z", 7])},
            ]
        )
        return {"at": now, "do": "send", "args": [message]}
    if k < 0.285:
        return {"at": now, "do": "close", "args": [rng.choice([1000, 4000]), "bye"]}
    if k < 0.35:
        return {"at": now, "do": "connecting"}
    if k < 0.45:
        return {"at": now, "do": "connected"}
    if k < 0.52:
        code = rng.choice([None, 1000, 1001, 1006, 1012, 4000, 4003, 4008, 4008, 1001, 1012, None])
        return {"at": now, "do": "disconnected", "args": [code, rng.choice(["", "r"])]}
    if k < 0.55:
        return {"at": now, "do": "connect_failed", "args": ["refused"]}
    if k < 0.62:
        return {"at": now, "do": "tick"}
    return {"at": now, "do": "frame", "args": [_fuzz_frame(rng)]}


def _fuzz_scripts() -> list[dict[str, Any]]:
    rng = random.Random(FUZZ_SEED)
    scripts = []
    for _ in range(FUZZ_SCRIPTS):
        session_options = {
            "id_prefix": "t",
            "policy": {"jitter": "none", "stay_up": rng.choice([0, 5])},
            "queue_limit": rng.choice([2, 100]),
            "overflow": "event",
            "restore_timeout": rng.choice([2, 10]),
        }
        now, steps = 0.0, []
        for _ in range(FUZZ_STEPS):
            now = round(now + rng.choice([0, 0, 0.05, 0.5, 1, 2, 3, 11]), 3)
            steps.append(_fuzz_step(rng, now))
        scripts.append({"session": session_options, "steps": steps})
    return scripts


def _comparable(value: Any) -> Any:
    """What both sides must agree on: everything but the wording of an invalid-JSON error (each parser has its own)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        if value.get("code") == "invalid-json":
            value = {k: v for k, v in value.items() if k != "message"}
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def _python_run(script: dict[str, Any]) -> list[dict[str, Any]]:
    client = make_session(script["session"])
    rows = []
    for step in script["steps"]:
        row: dict[str, Any]
        try:
            row = {"actions": [as_json(a) for a in call(client, step["do"], step.get("args", []), float(step["at"]))]}
        except Exception as exc:  # noqa: BLE001 - the point is to compare what each side refuses
            row = {"error": str(exc)}
        row["state"] = state_of(client)
        row["deadline"] = client.next_deadline()
        rows.append(row)
    return rows


FUZZ_NODE_SCRIPT = r"""
const { makeSession, call, stateOf } = require(process.env.WSLAB_REPLAY);
const scripts = JSON.parse(require("fs").readFileSync(0, "utf8"));
const asJson = (a) => a.send !== undefined ? {send: a.send} : a.emit !== undefined ? {emit: a.emit, data: a.data}
  : a.retry !== undefined ? {retry: a.retry} : {disconnect: a.disconnect};
console.log(JSON.stringify(scripts.map((script) => {
  const s = makeSession(script.session);
  return script.steps.map((step) => {
    let row;
    try { row = {actions: call(s, step, Number(step.at)).map(asJson)}; } catch (e) { row = {error: e.message}; }
    row.state = stateOf(s);
    row.deadline = s.nextDeadline();
    return row;
  });
})));
"""


def test_random_scripts_give_the_same_actions_on_both_sides() -> None:
    node = _node()
    scripts = _fuzz_scripts()
    try:
        result = subprocess.run(
            [node, "-e", FUZZ_NODE_SCRIPT],
            cwd=ROOT,
            input=json.dumps(scripts),
            capture_output=True,
            text=True,
            timeout=NODE_TIMEOUT,
            check=False,
            env={**os.environ, "WSLAB_REPLAY": str(JS_TESTS / "replay.js")},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"replaying {len(scripts)} random scripts in Node took more than {NODE_TIMEOUT:g} s")
    assert result.returncode == 0, result.stderr[-4000:]
    from_node = json.loads(result.stdout)
    for number, (script, js_rows) in enumerate(zip(scripts, from_node, strict=True)):
        for index, (step, py_row, js_row) in enumerate(zip(script["steps"], _python_run(script), js_rows, strict=True)):
            if _comparable(py_row) != _comparable(js_row):
                earlier = json.dumps(script["steps"][max(0, index - 8) : index])
                pytest.fail(
                    f"random script {number} (seed {FUZZ_SEED}) differs at step {index}: {json.dumps(step)}\n"
                    f" session  {json.dumps(script['session'])}\n before   {earlier}\n"
                    f" Python   {json.dumps(_comparable(py_row), default=str)}\n"
                    f" chat.js  {json.dumps(_comparable(js_row), default=str)}"
                )
