"""chat.js against the Python package: Node's own test runner, and the constants both sides define.

``node --test tests/js/`` replays every transcript of ``tests/transcripts/`` against
chat.js's ``ClientSession`` (``tests/test_transcripts.py`` replays the same files against
the Python one) and runs the JavaScript-only unit tests. The second test loads chat.js
in Node and checks that every constant in its ``CONSTANTS`` equals the Python value, and
that the rules with no single Python constant (the id scheme, the presence rule, the
backoff ceiling) behave the same on both sides.

Node is only needed for these tests. Without it they are skipped with the reason,
unless the environment variable ``CI`` is set: then they fail, so CI cannot pass by
skipping them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from wslab.core import backoff, protocol, session
from wslab.core.backoff import BackoffPolicy
from wslab.core.session import ClientSession, Emit

ROOT = Path(__file__).resolve().parents[1]
CHAT_JS = ROOT / "wslab" / "static" / "chat.js"
JS_TESTS = ROOT / "tests" / "js"
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
    transcripts = sorted(ROOT.glob("tests/transcripts/*.json"))
    replayed = re.findall(r"^ok \d+ - transcript (\S+\.json)$", output, re.MULTILINE)
    assert sorted(replayed) == [p.name for p in transcripts], "every transcript must be replayed in JavaScript"


# ---------------------------------------------------------------------------- constants

PRESENCE_CASES: list[dict[str, Any]] = [
    {"online": ["Ada"], "deltas": [{"joined": ["Bob"], "left": []}, {"joined": [], "left": ["Bob"]}]},
    {"online": ["Bob", "Ada"], "deltas": [{"joined": ["Bob", "Dee"], "left": ["Bob"]}, {"joined": ["Ada"], "left": ["Zed"]}]},
    {"online": ["Ada"], "deltas": [{"joined": ["Cy", "Cy", "Bob"], "left": ["Ada", "Ada"]}, {"joined": ["Ada"], "left": []}]},
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
            for name in ("RATE_LIMITED", "UNKNOWN_CHANNEL", "NAME_TAKEN", "NAME_INVALID", "ROOM_INVALID")
        },
    }


def _python_presence(case: dict[str, Any]) -> list[dict[str, Any]]:
    client = ClientSession(id_prefix="t")
    client.join("Ada", "lobby", 0)
    client.connected(0)
    welcome = {"type": "welcome", "name": "Ada", "room": "lobby", "epoch": "e1", "online": case["online"],
               "typing": [], "seq": 0, "history": [], "history_complete": True}
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
    for policy, js_ceilings in zip(CEILING_POLICIES, from_js["ceilings"]):
        python = BackoffPolicy(**policy)
        for attempt, js_value in zip(ATTEMPTS, js_ceilings):
            assert js_value == pytest.approx(python.ceiling(attempt), rel=1e-12), (policy, attempt)
