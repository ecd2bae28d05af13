// Replays a transcript (docs/client-session.md, "Transcripts") against chat.js's ClientSession.
//
// The JavaScript twin of tests/test_transcripts.py: the same step names (Python's),
// the same argument conventions and the same comparisons, so a transcript means the
// same thing to both. Not a test file itself (node --test runs *.test.js only).
"use strict";

const assert = require("node:assert");
const fs = require("node:fs");
const path = require("node:path");

const chat = require("../../../wslab/static/chat.js");

const TRANSCRIPTS = path.join(__dirname, "..", "..", "data", "transcripts");

/** Every transcript file, sorted by name. */
function transcriptFiles() {
  return fs
    .readdirSync(TRANSCRIPTS)
    .filter((name) => name.endsWith(".json"))
    .sort()
    .map((name) => path.join(TRANSCRIPTS, name));
}

const SESSION_OPTIONS = {
  id_prefix: "idPrefix",
  policy: "policy",
  queue_limit: "queueLimit",
  overflow: "overflow",
  typing_idle: "typingIdle",
  typing_refresh: "typingRefresh",
  resend_after: "resendAfter",
  restore_timeout: "restoreTimeout",
};

/** A ClientSession from a transcript's `session` options (Python's names). */
function makeSession(options = {}) {
  const js = {};
  for (const [key, value] of Object.entries(options)) {
    if (!(key in SESSION_OPTIONS)) throw new Error(`transcript session option ${key} has no JavaScript equivalent`);
    js[SESSION_OPTIONS[key]] = value;
  }
  if (js.policy && js.policy.seed !== undefined && js.policy.seed !== null && js.policy.jitter !== "none") {
    // Python's seeded Mersenne Twister cannot be replayed here: a transcript must not depend on it.
    throw new Error("a transcript with seeded jitter cannot be replayed in JavaScript: use jitter 'none'");
  }
  return new chat.ClientSession(js);
}

/** The argument of a `frame` step: a JSON object (sent as compact JSON), {raw: text} or {binary: hex}. */
function frameArg(arg) {
  const keys = arg !== null && typeof arg === "object" && !Array.isArray(arg) ? Object.keys(arg) : null;
  if (keys && keys.length === 1 && keys[0] === "raw") return String(arg.raw);
  if (keys && keys.length === 1 && keys[0] === "binary") return Uint8Array.from(Buffer.from(arg.binary, "hex"));
  return JSON.stringify(arg);
}

/** Where each method takes `now` (the Python signatures: `now` after the positional arguments). */
const NOW_AT = { join: 2, say: 1, keystroke: 1, subscribe: 1, unsubscribe: 1, send: 1, close: 2 };

/** Call step `do` with `args` at `now`, as tests/test_transcripts.py does. */
function call(session, step, now) {
  const args = step.args || [];
  switch (step.do) {
    case "frame":
      return session.onFrame(frameArg(args[0]), now);
    case "say":
      return session.say(args[0], now, args.length > 1 ? args[1] : null);
    case "disconnected":
      return session.disconnected(args[0], args.length > 1 ? args[1] : "", now, args.length > 2 ? unsentArg(args[2]) : []);
    case "connecting":
    case "connected":
    case "tick":
      return session[step.do](now);
    case "connect_failed":
      return session.connectFailed(args.length ? args[0] : "refused", now);
    default: {
      if (!(step.do in NOW_AT)) throw new Error(`unknown step ${JSON.stringify(step.do)}`);
      const positional = args.slice(0, NOW_AT[step.do]);
      while (positional.length < NOW_AT[step.do]) positional.push(undefined);
      return session[step.do](...positional, now, ...args.slice(NOW_AT[step.do]));
    }
  }
}

function unsentArg(list) {
  return list.map((item) => ({ send: item.send, frame: JSON.stringify(item.send) }));
}

/** The session's state under the transcripts' names. */
function stateOf(session) {
  return {
    state: session.state,
    name: session.name,
    room: session.room,
    epoch: session.epoch,
    last_seq: session.lastSeq,
    online: session.online,
    typing: session.typing,
    unacked: [...session.unacked.keys()],
    queued: session.queued,
    channels: [...session.channels],
    attempt: session.attempt,
    pending: session.pending,
  };
}

/** An action as the transcripts write it. Checks that a send's frame is the compact JSON of its message. */
function asJson(action) {
  if (action.send !== undefined) {
    assert.equal(action.frame, JSON.stringify(action.send), "a send's frame must be the compact JSON of its message");
    return { send: JSON.parse(action.frame) };
  }
  if (action.emit !== undefined) return { emit: action.emit, data: action.data };
  if (action.retry !== undefined) return { retry: action.retry };
  if (action.disconnect !== undefined) return { disconnect: action.disconnect };
  throw new TypeError(`not an action: ${JSON.stringify(action)}`);
}

function isPlain(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Python's subset(): every key given must match; numbers within 1e-9; anything else equal. */
function subset(expected, actual) {
  if (isPlain(expected)) {
    return isPlain(actual) && Object.entries(expected).every(([k, v]) => k in actual && subset(v, actual[k]));
  }
  if (typeof expected === "number" && typeof actual === "number") return Math.abs(expected - actual) < 1e-9;
  return equal(expected, actual);
}

function equal(a, b) {
  try {
    assert.deepStrictEqual(normal(a), normal(b));
    return true;
  } catch {
    return false;
  }
}

/** JSON-shaped copy (undefined fields dropped, as they would be on the wire). */
function normal(v) {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
}

function matches(expected, actual) {
  if ("send" in expected) return "send" in actual && equal(expected.send, actual.send);
  if ("emit" in expected) return actual.emit === expected.emit && subset(expected.data || {}, actual.data);
  if ("retry" in expected) return "retry" in actual && subset(expected.retry, actual.retry);
  if ("disconnect" in expected) return "disconnect" in actual && subset(expected.disconnect, actual.disconnect);
  throw new Error(`unknown expected action ${JSON.stringify(expected)}`);
}

/** Replay one transcript (an object); throws an AssertionError naming the step on the first mismatch. */
function replay(script, name = "transcript") {
  const session = makeSession(script.session || {});
  const ignore = new Set(script.ignore || []);
  let now = 0;
  script.steps.forEach((step, index) => {
    if (step.at !== undefined) now = Number(step.at);
    const where = `${name} step ${index} (${step.do})`;
    if (step.do === "state") {
      const state = stateOf(session);
      assert.ok(subset(step.expect, state), `${where}: state ${JSON.stringify(state)}\n expected ${JSON.stringify(step.expect)}`);
      return;
    }
    if ("error" in step) {
      assert.throws(
        () => call(session, step, now),
        (error) => String(error.message).includes(step.error),
        `${where}: should throw an error containing ${JSON.stringify(step.error)}`,
      );
      return;
    }
    const actual = call(session, step, now)
      .map(asJson)
      .filter((a) => !ignore.has(a.emit));
    const expected = step.expect;
    const ok = actual.length === expected.length && expected.every((e, i) => matches(e, actual[i]));
    assert.ok(ok, `${where}:\n expected ${JSON.stringify(expected)}\n actual   ${JSON.stringify(actual)}`);
    if ("deadline" in step) {
      const deadline = session.nextDeadline();
      assert.ok(subset(step.deadline, deadline), `${where}: deadline ${deadline}, expected ${step.deadline}`);
    }
  });
  return session;
}

module.exports = { TRANSCRIPTS, transcriptFiles, makeSession, frameArg, call, stateOf, subset, replay };
