// JavaScript-only checks of chat.js: the backoff's bounds, stop codes, what the transcripts
// cannot express (unsent frames, injected randomness), loading without a DOM, and the
// WebSocketClient shell driven by a fake WebSocket and fake timers (no sleeping).
// The shared behaviour is in the transcripts (transcripts.test.js).
"use strict";

const { test } = require("node:test");
const assert = require("node:assert");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");

const chat = require("../../../wslab/static/chat.js");
const { replay } = require("./replay.js");

const { Backoff, BackoffPolicy, ClientSession, CONSTANTS, WebSocketClient, shouldReconnect } = chat;
const SOURCE = path.join(__dirname, "..", "..", "..", "wslab", "static", "chat.js");

/** A deterministic random(): a fixed cycle of values in [0, 1). */
function cycle(...values) {
  let i = 0;
  return () => values[i++ % values.length];
}

const events = (actions) => actions.filter((a) => a.emit !== undefined).map((a) => a.emit);
const sent = (actions) => actions.filter((a) => a.send !== undefined).map((a) => a.send);

// ------------------------------------------------------------------ backoff

test("backoff ceilings double from 1 s up to the 30 s cap, without overflow", () => {
  const policy = new BackoffPolicy();
  assert.deepStrictEqual([1, 2, 3, 4, 5, 6, 7].map((n) => policy.ceiling(n)), [1, 2, 4, 8, 16, 30, 30]);
  assert.equal(policy.ceiling(10000), 30);
  assert.equal(policy.ceiling(2 ** 40), 30);
  assert.equal(new BackoffPolicy({ factor: 1, initial: 3, cap: 10 }).ceiling(500), 3);
  assert.equal(new BackoffPolicy({ initial: 0.25, factor: 10, cap: 1e308 }).ceiling(400), 1e308);
  assert.throws(() => policy.ceiling(0), /attempt counts from 1/);
});

test("full jitter is uniform in [0, ceiling] and draws from the injected random()", () => {
  const policy = new BackoffPolicy();
  assert.equal(policy.delay(3, () => 0), 0);
  assert.equal(policy.delay(3, () => 0.5), 2);
  assert.ok(policy.delay(3, () => 0.999999) < 4);
  for (let n = 1; n <= 40; n++) {
    for (const r of [0, 0.1, 0.37, 0.5, 0.73, 0.999999]) {
      const d = policy.delay(n, () => r);
      assert.ok(d >= 0 && d <= policy.ceiling(n), `attempt ${n}: ${d}`);
    }
  }
  // Spread: a herd of clients with different random draws does not come back in step.
  const backoffs = Array.from({ length: 50 }, (_, i) => new Backoff(policy, cycle(i / 50)));
  const delays = new Set(backoffs.map((b) => (b.nextDelay(), b.nextDelay(), b.nextDelay())));
  assert.equal(delays.size, 50);
});

test("equal jitter stays in the upper half; no jitter gives the ceiling exactly", () => {
  const equal = new BackoffPolicy({ jitter: "equal" });
  const none = new BackoffPolicy({ jitter: "none" });
  for (let n = 1; n <= 12; n++) {
    for (const r of [0, 0.5, 0.999]) {
      const d = equal.delay(n, () => r);
      assert.ok(d >= equal.ceiling(n) / 2 && d <= equal.ceiling(n));
    }
    assert.equal(none.delay(n, () => 0.3), none.ceiling(n));
    assert.deepStrictEqual(none.bounds(n), [none.ceiling(n), none.ceiling(n)]);
  }
  assert.deepStrictEqual(equal.bounds(2), [1, 2]);
});

test("the attempt counter resets only after a connection stayed up stay_up seconds", () => {
  const backoff = new Backoff({ jitter: "none" });
  assert.deepStrictEqual([backoff.nextDelay(), backoff.nextDelay(), backoff.nextDelay()], [1, 2, 4]);
  assert.equal(backoff.onClose(10), false); // failed without ever opening
  backoff.onOpen(10);
  assert.equal(backoff.onClose(14.9), false); // accept-then-close: the seed's flaw 3 stays fixed
  assert.equal(backoff.nextDelay(), 8);
  backoff.onOpen(20);
  assert.equal(backoff.onClose(25), true);
  assert.equal(backoff.attempt, 0);
  assert.equal(backoff.nextDelay(), 1);
  backoff.reset();
  assert.equal(backoff.attempt, 0);
});

test("a policy refuses numbers that make no sense, with Python's words", () => {
  assert.throws(() => new BackoffPolicy({ initial: 0 }), /initial must be > 0 seconds/);
  assert.throws(() => new BackoffPolicy({ factor: 0.5 }), /factor must be >= 1/);
  assert.throws(() => new BackoffPolicy({ cap: 0.5 }), /cap \(0.5\) must be >= initial \(1\)/);
  assert.throws(() => new BackoffPolicy({ stay_up: -1 }), /stay_up must be >= 0/);
  assert.throws(() => new BackoffPolicy({ jitter: "half" }), /jitter must be 'full', 'equal' or 'none'/);
  assert.throws(() => new BackoffPolicy({ initial: NaN }), /initial must be a finite number/);
  assert.throws(() => new BackoffPolicy({ cap: Infinity }), /cap must be a finite number/);
  assert.throws(() => new BackoffPolicy({ stayup: 3 }), /no field\(s\) stayup/);
  assert.equal(new BackoffPolicy({ stay_up: 2 }).stayUp, 2);
  assert.equal(new BackoffPolicy({ stayUp: 3 }).stayUp, 3);
  assert.ok(Object.isFrozen(new BackoffPolicy()));
});

test("the session's reconnect delays use the injected random() with full jitter by default", () => {
  const session = new ClientSession({ idPrefix: "t", random: cycle(0.5, 0.25) });
  const delays = [1, 2, 3].map(() => session.connectFailed("refused", 0).find((a) => a.retry !== undefined).retry);
  assert.deepStrictEqual(delays, [0.5, 0.5, 2]); // 0.5 x 1, 0.25 x 2, 0.5 x 4
});

// ------------------------------------------------------------------ stop codes

test("stop codes are 1000, 1008, 4001 and 4003; everything else reconnects", () => {
  for (const code of [1000, 1008, 4001, 4003]) assert.equal(shouldReconnect(code), false, code);
  for (const code of [null, 1001, 1006, 1009, 1011, 1012, 1013, 4000, 4008]) assert.equal(shouldReconnect(code), true, code);
  for (const code of [1000, 1008, 4001, 4003]) {
    const session = new ClientSession({ idPrefix: "t" });
    session.connected(0);
    const actions = session.disconnected(code, "bye", 1);
    assert.deepStrictEqual(events(actions), ["disconnect", "closed"], code);
    assert.ok(!actions.some((a) => a.retry !== undefined));
    assert.equal(session.state, "closed");
  }
});

test("a custom shouldReconnect predicate decides instead of the stop codes", () => {
  const session = new ClientSession({ idPrefix: "t", policy: { jitter: "none" }, shouldReconnect: (code) => code !== 1012 });
  session.connected(0);
  assert.deepStrictEqual(events(session.disconnected(1000, "", 1)), ["disconnect", "reconnecting"]);
  session.connected(2);
  assert.deepStrictEqual(events(session.disconnected(1012, "restart", 3)), ["disconnect", "closed"]);
});

// ------------------------------------------------------------------ constants and ids

test("CONSTANTS is frozen and holds the numbers the session uses", () => {
  assert.ok(Object.isFrozen(CONSTANTS) && Object.isFrozen(CONSTANTS.STOP_CODES) && Object.isFrozen(CONSTANTS.BACKOFF));
  const session = new ClientSession();
  assert.equal(session.queueLimit, CONSTANTS.QUEUE_LIMIT);
  assert.equal(session.resendAfter, CONSTANTS.RESEND_AFTER);
  assert.equal(session.restoreTimeout, CONSTANTS.RESTORE_TIMEOUT);
  assert.equal(session.notifier.idle, CONSTANTS.TYPING_IDLE);
  assert.equal(session.notifier.refresh, CONSTANTS.TYPING_REFRESH);
  const policy = new BackoffPolicy();
  assert.deepStrictEqual(
    { initial: policy.initial, factor: policy.factor, cap: policy.cap, jitter: policy.jitter, stay_up: policy.stayUp },
    { ...CONSTANTS.BACKOFF },
  );
  assert.equal(CONSTANTS.TYPING_REFRESH, CONSTANTS.TYPING_TIMEOUT * 0.6);
});

test("ids follow <prefix>-<n>; the default prefix is 8 hex digits", () => {
  const session = new ClientSession({ idPrefix: "ada" });
  assert.deepStrictEqual([session.newId(), session.newId()], ["ada-1", "ada-2"]);
  assert.equal(CONSTANTS.ID_FORMAT.replace("{prefix}", "ada").replace("{n}", "3"), session.newId());
  const random = new ClientSession().idPrefix;
  assert.match(random, /^[0-9a-f]{8}$/);
  assert.equal(new ClientSession({ random: () => 0.999 }).idPrefix, "ffffffff");
  assert.notEqual(new ClientSession().idPrefix, new ClientSession().idPrefix);
});

// ------------------------------------------------------------------ what transcripts cannot say

function openSession(options = {}) {
  const session = new ClientSession({ idPrefix: "t", policy: { jitter: "none" }, ...options });
  session.join("Ada", "lobby", 0);
  session.connected(0);
  const welcome = { type: "welcome", name: "Ada", room: "lobby", epoch: "e1", online: ["Ada"], typing: [], seq: 0, history: [], history_complete: true };
  session.onFrame(JSON.stringify(welcome), 0);
  assert.equal(session.state, "open");
  return session;
}

test("frames the shell could not write: other messages go back to the outbox front, in order", () => {
  const session = openSession();
  const written = [
    ...session.send({ type: "note", n: 1 }, 1),
    ...session.say("hello", 1),
    ...session.keystroke("x", 1),
    ...session.send({ type: "note", n: 2 }, 1),
    ...session.subscribe("updates", 1),
  ];
  session.send({ type: "note", n: 0 }, 1); // sent, but pretend it was written
  session.disconnected(1006, "", 2, written);
  assert.equal(session.queued, 2);
  assert.deepStrictEqual(session.unacked.size, 1); // the chat is resent as an unacked chat, not from the outbox
  assert.deepStrictEqual(sent(session.connected(3)), [
    { type: "subscribe", channel: "updates" },
    { type: "join", name: "Ada", room: "lobby", since: 0, epoch: "e1" },
  ]);
  session.onFrame(JSON.stringify({ type: "subscribed", channel: "updates" }), 3);
  const welcome = { type: "welcome", name: "Ada", room: "lobby", epoch: "e1", online: ["Ada"], typing: [], seq: 0, history: [], history_complete: true };
  const actions = session.onFrame(JSON.stringify(welcome), 3);
  assert.deepStrictEqual(sent(actions), [
    { type: "chat", content: "hello", id: "t-1" },
    { type: "note", n: 1 },
    { type: "note", n: 2 },
  ]);
});

test("every send action carries the compact JSON text of its message", () => {
  const session = openSession();
  const [action] = session.say("héllo \u2028 <b>", 1);
  assert.equal(action.frame, JSON.stringify(action.send));
  assert.equal(action.frame, '{"type":"chat","content":"héllo \u2028 <b>","id":"t-1"}');
});

test("a full outbox throws QueueFullError by default and never drops silently", () => {
  const session = new ClientSession({ idPrefix: "t", queueLimit: 2 });
  session.send({ type: "a" }, 0);
  session.send({ type: "b" }, 0);
  assert.throws(() => session.send({ type: "c" }, 0), (e) => e instanceof chat.QueueFullError && /queue_limit=2/.test(e.message));
  assert.equal(session.queued, 2);
});

test("send() refuses what has no JSON form instead of sending something else", () => {
  const session = openSession();
  assert.throws(() => session.send({ type: "x", value: NaN }, 1), /cannot be sent as JSON/);
  assert.throws(() => session.send({ type: "x", when: new Date(0) }, 1), /cannot be sent as JSON/);
  assert.throws(() => session.send({ type: "x", text: "\ud800" }, 1), /not valid Unicode/);
  const loop = { type: "x" };
  loop.self = loop;
  assert.throws(() => session.send(loop, 1), /cannot be sent as JSON/);
  assert.throws(() => session.send([1, 2], 1), TypeError);
  assert.deepStrictEqual(sent(session.send({ type: "x", nested: { ok: [1, "two", null, true] } }, 1)), [
    { type: "x", nested: { ok: [1, "two", null, true] } },
  ]);
});

test("a binary frame may be an ArrayBuffer or any typed array", () => {
  const session = openSession();
  for (const frame of [new Uint8Array([0, 255]).buffer, new Uint8Array([0, 255]), Buffer.from([0, 255])]) {
    const [error] = session.onFrame(frame, 1);
    assert.equal(error.emit, "error");
    assert.deepStrictEqual({ code: error.data.code, raw: error.data.raw, source: error.data.source }, { code: "binary-frame", raw: "00ff", source: "client" });
  }
});

test("typing text and the typing notifier's limits match Python's", () => {
  const cases = [[], ["Ada"], ["Bob"], ["Bob", "Cy"], ["Bob", "Cy", "Di"], ["Bob", "Bob"], ["Bob", "Cy", "Ada"]];
  assert.deepStrictEqual(
    cases.map((c) => chat.typingText(c, "Ada")),
    ["", "", "Bob is typing…", "Bob and Cy are typing…", "Several people are typing…", "Bob is typing…", "Bob and Cy are typing…"],
  );
  assert.throws(() => new ClientSession({ typingRefresh: 5 }), /refresh \(5 s\) must be shorter than the server's timeout \(5 s\)/);
  assert.throws(() => new ClientSession({ typingIdle: 0 }), /idle must be > 0/);
});

test("an inline transcript: the first join refused, then an own chat echo counts as its ack", () => {
  replay({
    description: "inline",
    session: { id_prefix: "t", policy: { jitter: "none" } },
    ignore: ["message"],
    steps: [
      { at: 0, do: "join", args: ["Ada", "lobby"], expect: [] },
      { at: 0, do: "connected", expect: [{ send: { type: "join", name: "Ada", room: "lobby" } }] },
      { at: 0, do: "frame", args: [{ type: "welcome", name: "Ada", room: "lobby", epoch: "e1", online: ["Ada"], typing: [], seq: 0, history: [], history_complete: true }], expect: [{ emit: "welcome" }, { emit: "connect" }] },
      { at: 1, do: "say", args: ["hi"], expect: [{ send: { type: "chat", content: "hi", id: "t-1" } }] },
      { at: 1.1, do: "frame", args: [{ type: "chat", room: "lobby", seq: 1, sender: "Ada", content: "hi", timestamp: "x", id: "t-1" }], expect: [{ emit: "chat", data: { seq: 1 } }] },
      { do: "state", expect: { unacked: [], pending: [] } },
    ],
  });
});

// ------------------------------------------------------------------ loading

test("chat.js loads without a DOM: CommonJS exports, no page code", () => {
  const source = fs.readFileSync(SOURCE, "utf8");
  const sandbox = { module: { exports: {} }, console };
  vm.runInNewContext(source, sandbox, { filename: "chat.js" });
  assert.equal(typeof sandbox.module.exports.ClientSession, "function");
  assert.equal(typeof sandbox.module.exports.WebSocketClient, "function");
  // As a plain script with a window but no document (a worker, say): a global, and still no page.
  const windowed = { window: {}, console };
  vm.runInNewContext(source, windowed, { filename: "chat.js" });
  assert.equal(typeof windowed.window.wslab.ClientSession, "function");
});

test("the page renders user strings with textContent, never innerHTML", () => {
  const source = fs.readFileSync(SOURCE, "utf8");
  assert.ok(!/\.(innerHTML|outerHTML)\b|insertAdjacentHTML|document\.write/.test(source));
  assert.ok(/textContent/.test(source));
});

// ------------------------------------------------------------------ the shell

class FakeWebSocket {
  static made = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    FakeWebSocket.made.push(this);
  }
  send(text) {
    if (this.readyState !== 1) throw new Error("InvalidStateError");
    this.sent.push(JSON.parse(text));
  }
  close(code, reason) {
    if (code !== undefined && code !== 1000 && (code < 3000 || code > 4999)) throw new Error("InvalidAccessError");
    this.closedWith = { code, reason };
    this.readyState = 2;
  }
  // what the network does
  open() {
    this.readyState = 1;
    this.onopen();
  }
  receive(message) {
    this.onmessage({ data: typeof message === "string" ? message : JSON.stringify(message) });
  }
  drop(code, reason = "") {
    this.readyState = 3;
    this.onclose({ code, reason });
  }
}

class FakeTimers {
  constructor() {
    this.now = 0;
    this.pending = new Map();
    this.next = 1;
  }
  setTimeout(fn, ms) {
    const id = this.next++;
    this.pending.set(id, { at: this.now + ms / 1000, fn });
    return id;
  }
  clearTimeout(id) {
    this.pending.delete(id);
  }
  /** Move the clock to `t` seconds, firing every timer due on the way, in time order. */
  advance(t) {
    for (;;) {
      const due = [...this.pending].filter(([, x]) => x.at <= t).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.pending.delete(due[0]);
      this.now = due[1].at;
      due[1].fn();
    }
    this.now = t;
  }
}

function shell() {
  FakeWebSocket.made = [];
  const timers = new FakeTimers();
  const session = new ClientSession({ idPrefix: "t", policy: { jitter: "none" } });
  const client = new WebSocketClient("ws://127.0.0.1:1/chat", { session, WebSocket: FakeWebSocket, now: () => timers.now, timers });
  const seen = [];
  for (const event of ["connecting", "connect", "disconnect", "reconnecting", "closed", "chat", "welcome", "error"]) {
    client.on(event, (data) => seen.push([event, data]));
  }
  return { client, session, timers, seen, ws: () => FakeWebSocket.made[FakeWebSocket.made.length - 1] };
}

const WELCOME = { type: "welcome", name: "Ada", room: "lobby", epoch: "e1", online: ["Ada"], typing: [], seq: 0, history: [], history_complete: true };

test("the shell performs the session's actions: join, chat, typing idle, reconnect with backoff", () => {
  const { client, session, timers, seen, ws } = shell();
  client.join("Ada", "lobby").start();
  assert.equal(FakeWebSocket.made.length, 1);
  assert.equal(ws().binaryType, "arraybuffer");
  ws().open();
  assert.deepStrictEqual(ws().sent, [{ type: "join", name: "Ada", room: "lobby" }]);
  ws().receive(WELCOME);
  assert.equal(session.state, "open");
  assert.ok(seen.some(([e]) => e === "connect"));

  timers.advance(1);
  client.keystroke("h");
  client.say("hello");
  assert.deepStrictEqual(ws().sent.slice(1), [
    { type: "typing", typing: true },
    { type: "typing", typing: false },
    { type: "chat", content: "hello", id: "t-1" },
  ]);
  client.keystroke("x");
  timers.advance(3.5); // the idle timer fires through the shell's deadline timer
  assert.deepStrictEqual(ws().sent.slice(-2), [{ type: "typing", typing: true }, { type: "typing", typing: false }]);

  ws().drop(1012, "restart");
  assert.equal(session.state, "offline");
  assert.deepStrictEqual(seen.filter(([e]) => e === "reconnecting").map(([, d]) => d.delay), [1]);
  client.say("while away"); // queued, not dropped
  timers.advance(4.4);
  assert.equal(FakeWebSocket.made.length, 1, "waits the backoff's delay");
  timers.advance(4.5);
  assert.equal(FakeWebSocket.made.length, 2);
  ws().open();
  assert.deepStrictEqual(ws().sent, [{ type: "join", name: "Ada", room: "lobby", since: 0, epoch: "e1" }]);
  ws().receive(WELCOME);
  assert.deepStrictEqual(ws().sent.slice(1), [
    { type: "chat", content: "hello", id: "t-1" },
    { type: "chat", content: "while away", id: "t-2" },
  ]);
});

test("the shell reports frames it could not write, and drops a restore that never ends", () => {
  const { client, session, timers, ws } = shell();
  client.join("Ada", "lobby").start();
  ws().open();
  ws().receive(WELCOME);
  ws().readyState = 2; // closing: the next writes fail
  client.send({ type: "note", n: 1 });
  ws().drop(1006);
  assert.equal(session.queued, 1);
  timers.advance(1);
  ws().open(); // second connection: the welcome never comes
  assert.equal(timers.pending.size, 1); // the restore deadline
  timers.advance(10.9);
  assert.equal(ws().closedWith, null);
  timers.advance(11.1);
  assert.deepStrictEqual(ws().closedWith, { code: 4000, reason: "no answer to join within 10 s" });
  ws().drop(4000, "no answer to join within 10 s");
  assert.equal(session.state, "offline");
  assert.equal(session.queued, 1);
});

test("the shell stops for good on a stop code, and close() gives up a handshake in progress", () => {
  const a = shell();
  a.client.join("Ada", "lobby").start();
  a.ws().open();
  a.ws().drop(4001, "token required");
  assert.equal(a.session.state, "closed");
  assert.deepStrictEqual(a.seen.filter(([e]) => e === "closed").map(([, d]) => d.code), [4001]);
  a.timers.advance(100);
  assert.equal(FakeWebSocket.made.length, 1);

  const b = shell();
  b.client.join("Ada", "lobby").start();
  b.client.close(1000, "left the page");
  assert.equal(b.session.state, "closed");
  assert.deepStrictEqual(b.ws().closedWith, { code: 1000, reason: "left the page" });
  b.ws().drop(1006);
  b.timers.advance(100);
  assert.equal(FakeWebSocket.made.length, 1);

  const c = shell();
  c.client.join("Ada", "lobby").start();
  c.ws().open();
  c.ws().receive(WELCOME);
  c.client.close(1001, "going away"); // a code browsers refuse: the shell falls back to a plain close
  assert.deepStrictEqual(c.ws().closedWith, { code: undefined, reason: undefined });
  c.ws().drop(1005);
  assert.deepStrictEqual(c.seen.filter(([e]) => e === "closed").map(([, d]) => [d.code, d.reason]), [[1001, "going away"]]);
});

test("a failing handler is reported and the other handlers still run", () => {
  const { client, ws } = shell();
  const calls = [];
  const errors = [];
  const original = console.error;
  console.error = (...args) => errors.push(args.join(" "));
  try {
    client.on("welcome", () => {
      throw new Error("boom");
    });
    client.on("welcome", () => calls.push("second"));
    client.join("Ada", "lobby").start();
    ws().open();
    ws().receive(WELCOME);
  } finally {
    console.error = original;
  }
  assert.deepStrictEqual(calls, ["second"]);
  assert.ok(errors.some((line) => line.includes('"welcome" handler failed')));
});
