// wslab browser chat: the client session of docs/client-session.md, in JavaScript.
//
// Plain JavaScript, no dependencies, no build step. Served at /static/chat.js by
// `wslab serve` (and by any wslab server) next to the page at GET /. It also loads
// in Node without a DOM (`require("wslab/static/chat.js")`), where the tests in
// tests/e2e/js/ replay the shared transcripts of tests/data/transcripts/ against it.
//
// Three layers, as in the Python package:
//   * sans-I/O: `Backoff` (wslab/core/backoff.py), `TypingNotifier` and `ClientSession`
//     (wslab/core/session.py). They take events and `now` (monotonic SECONDS) and
//     return actions; they never read a clock, open a socket or set a timer. The
//     transcripts hold them to their Python twins, action for action;
//   * `WebSocketClient`: a thin shell that performs those actions with the
//     browser's WebSocket and setTimeout (the seed lesson's class, fixed);
//   * the page: renders every user string with textContent, never innerHTML.
//
// What the seed got wrong, and what this file does instead:
//   * sends while offline were silently dropped: they wait in the session's
//     outbox, and chats are kept until the server acknowledges them;
//   * bad JSON was swallowed by `catch {}`: it is an "error" event (source "client");
//   * the backoff was reset on every open, so a server that accepts and closes at
//     once was hammered every second: it resets only after a connection stayed up
//     `stay_up` seconds, and full jitter keeps a room of browsers out of lockstep;
//   * it reconnected forever: close codes 1000, 1008, 4001, 4003 and 4004 are final.
"use strict";

(function (global) {
  // ------------------------------------------------------------ constants

  /**
   * Every constant the Python side defines too (wslab.core.session, wslab.core.backoff,
   * wslab.core.protocol); tests/e2e/test_js.py checks they are equal. Times are in seconds.
   */
  const CONSTANTS = Object.freeze({
    /** Close codes after which the client does not reconnect (backoff.STOP_CODES). */
    STOP_CODES: Object.freeze([1000, 1008, 4001, 4003, 4004]),
    /** BackoffPolicy() defaults. */
    BACKOFF: Object.freeze({ initial: 1, factor: 2, cap: 30, jitter: "full", stay_up: 5 }),
    /** Events the session emits itself: a server frame of one of these types is emitted as "message" only. */
    LIFECYCLE_EVENTS: Object.freeze(["closed", "connect", "disconnect", "epoch", "error", "message", "overflow", "reconnecting"]),
    /** Chat ids: `<prefix>-<n>`, n counting from 1; the default prefix is 8 random hex digits. */
    ID_FORMAT: "{prefix}-{n}",
    ID_PREFIX_HEX_DIGITS: 8,
    /** Seconds without a key press before `typing: false`. */
    TYPING_IDLE: 2,
    /** Seconds between `typing: true` refreshes while keys keep coming (0.6 x TYPING_TIMEOUT). */
    TYPING_REFRESH: 3,
    /** Seconds after which the server clears a typing indicator that was not refreshed. */
    TYPING_TIMEOUT: 5,
    /** Seconds after a `rate-limited` error before the unacknowledged chats are sent again. */
    RESEND_AFTER: 1,
    /** Seconds a new connection may take to be welcomed (and resubscribed) before it is dropped. */
    RESTORE_TIMEOUT: 10,
    /** Default most messages waiting in the outbox. */
    QUEUE_LIMIT: 100,
    /** Close code the session uses to drop a connection it will retry (re-join refused or timed out). */
    RETRY_JOIN_CODE: 4000,
    /** How a `presence` delta changes `online`. */
    PRESENCE: "remove every name in left, then append every name in joined not already there",
    DEFAULT_ROOM: "lobby",
    MAX_NAME_CHARS: 32,
    MAX_ROOM_CHARS: 32,
    MAX_CONTENT_CHARS: 2000,
    MAX_CLIENT_ID_CHARS: 64,
    /** The error codes the session acts on (protocol.ErrorCode). */
    ERROR_CODES: Object.freeze({
      RATE_LIMITED: "rate-limited",
      UNKNOWN_CHANNEL: "unknown-channel",
      NAME_TAKEN: "name-taken",
      NAME_INVALID: "name-invalid",
      ROOM_INVALID: "room-invalid",
      BANNED: "banned",
    }),
  });

  const STOP_CODES = new Set(CONSTANTS.STOP_CODES);
  const LIFECYCLE = new Set(CONSTANTS.LIFECYCLE_EVENTS);
  const ROUTED = new Set(["join", "subscribe", "unsubscribe", "chat", "typing"]);
  const { RATE_LIMITED, UNKNOWN_CHANNEL, NAME_TAKEN, NAME_INVALID, ROOM_INVALID, BANNED } = CONSTANTS.ERROR_CODES;
  const JOIN_ERRORS = new Set([NAME_TAKEN, NAME_INVALID, ROOM_INVALID, BANNED]);

  // ------------------------------------------------------------ errors (wslab.core.errors)

  /** A frame or value the chat protocol does not accept; `code` as in the server's error frames. */
  class ProtocolError extends Error {
    constructor(code, message, { field = null, id = null } = {}) {
      super(message);
      this.name = "ProtocolError";
      this.code = code;
      this.field = field;
      this.id = id;
    }
  }

  /** The outbox already holds `queueLimit` messages; this one was not queued. */
  class QueueFullError extends Error {
    constructor(message) {
      super(message);
      this.name = "QueueFullError";
    }
  }

  /** The session stopped for good and is used again. */
  class ClientClosedError extends Error {
    constructor(message) {
      super(message);
      this.name = "ClientClosedError";
    }
  }

  // ------------------------------------------------------------ helpers

  const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v) && !isBinary(v);
  const isInt = (v) => typeof v === "number" && Number.isInteger(v);
  const finite = (v) => typeof v === "number" && Number.isFinite(v);
  const chars = (s) => [...s].length;
  const names = (v) => (Array.isArray(v) ? v.filter((n) => typeof n === "string") : []);

  function isBinary(v) {
    return typeof ArrayBuffer !== "undefined" && (v instanceof ArrayBuffer || ArrayBuffer.isView(v));
  }

  /** Python's name for the type of a JSON value, so error messages read the same in both. */
  function pyType(v) {
    if (v === null || v === undefined) return "NoneType";
    if (typeof v === "boolean") return "bool";
    if (typeof v === "number") return Number.isInteger(v) ? "int" : "float";
    if (typeof v === "string") return "str";
    if (Array.isArray(v)) return "list";
    return "dict";
  }

  /** Python's repr() of a str, for messages such as "of room 'lobby'". */
  function pyRepr(s) {
    s = String(s);
    const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
    const body = s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t");
    return quote + (quote === "'" ? body.replace(/'/g, "\\'") : body) + quote;
  }

  /** Python's "%g" for the few numbers the messages show (10 -> "10", 2.5 -> "2.5"). */
  const g = (x) => String(Number(x.toPrecision(6)));

  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function asBytes(frame) {
    if (frame instanceof ArrayBuffer) return new Uint8Array(frame);
    return new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength);
  }

  /** A fresh random id prefix: 8 hex digits (the scheme of wslab.core.session.new_prefix). */
  function newPrefix(random = Math.random) {
    let prefix = "";
    for (let i = 0; i < CONSTANTS.ID_PREFIX_HEX_DIGITS; i++) prefix += Math.floor(random() * 16).toString(16);
    return prefix;
  }

  // ------------------------------------------------------------ validation (wslab.core.protocol)

  // Python's \w on str: Unicode letters and digits, and underscore.
  const NAME_RE = /^[\p{L}\p{N}_][\p{L}\p{N}_ .\-']*$/u;
  const SLUG_RE = /^[\p{L}\p{N}_][\p{L}\p{N}_.\-]*$/u;
  const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

  /** What `value` is, in JSON's words (for error messages), as protocol._kind says it. */
  function jsonKind(v) {
    if (v === null) return "null";
    if (typeof v === "boolean") return "true or false";
    if (typeof v === "number") return "a number";
    if (typeof v === "string") return "a string";
    if (Array.isArray(v)) return "an array";
    return typeof v === "object" ? "an object" : typeof v;
  }

  /** True if `text` is valid Unicode (no lone surrogate), so it can be encoded as UTF-8. */
  function isValidUnicode(text) {
    return typeof text.isWellFormed === "function" ? text.isWellFormed() : !LONE_SURROGATE.test(text);
  }

  /** A short quotation of a string a client sent, as protocol._show makes it. */
  function show(value) {
    const cut = [...value];
    return pyRepr(cut.slice(0, 40).join("")) + (cut.length > 40 ? "..." : "");
  }

  function text(value, what, field, code = "bad-field", id = null) {
    if (typeof value !== "string") throw new ProtocolError(code, `${what} must be a string, got ${jsonKind(value)}`, { field, id });
    if (!isValidUnicode(value)) {
      throw new ProtocolError(code, `${what} is not valid Unicode: it holds a lone surrogate (such as \\ud800); send UTF-8 text`, { field, id });
    }
    return value;
  }

  /** Return `name` if it is a valid display name, else throw ProtocolError (name-invalid). */
  function validateName(name) {
    text(name, "name", "name", "name-invalid");
    if (chars(name) < 1 || chars(name) > CONSTANTS.MAX_NAME_CHARS) {
      throw new ProtocolError("name-invalid", `name must be 1 to ${CONSTANTS.MAX_NAME_CHARS} characters long`, { field: "name" });
    }
    if (!NAME_RE.test(name) || name !== name.trim()) {
      throw new ProtocolError(
        "name-invalid",
        "name may hold letters, digits, spaces and _ . - ' only, and must not start or end with a space",
        { field: "name" },
      );
    }
    return name;
  }

  function validateSlug(value, what, code) {
    text(value, what, what, code);
    if (chars(value) < 1 || chars(value) > CONSTANTS.MAX_ROOM_CHARS || !SLUG_RE.test(value)) {
      throw new ProtocolError(code, `${what} must be 1 to ${CONSTANTS.MAX_ROOM_CHARS} letters, digits, _ . or -, got ${show(value)}`, {
        field: what,
      });
    }
    return value;
  }

  /** Return `room` if valid (1 to 32 of letters, digits, `_ . -`), else throw (room-invalid). */
  const validateRoom = (room) => validateSlug(room, "room", "room-invalid");
  /** Return `channel` if valid (same rule as rooms), else throw (bad-field). */
  const validateChannel = (channel) => validateSlug(channel, "channel", "bad-field");

  /** Return a chat `id` if it is a string of 1 to 64 valid characters, else throw. */
  function validateClientId(id) {
    text(id, "'chat' field 'id'", "id");
    if (chars(id) < 1 || chars(id) > CONSTANTS.MAX_CLIENT_ID_CHARS) {
      throw new ProtocolError("bad-field", `'chat' field 'id' must be 1 to ${CONSTANTS.MAX_CLIENT_ID_CHARS} characters long`, {
        field: "id",
      });
    }
    return id;
  }

  /** The checks the server's parse_client_frame makes on a `chat` or `typing` the client is about to send. */
  function checkOutgoing(message) {
    const has = (name) => name in message && message[name] !== undefined;
    if (message.type === "typing") {
      if (!has("typing")) throw new ProtocolError("bad-field", "'typing' needs a 'typing' field", { field: "typing" });
      if (typeof message.typing !== "boolean") {
        throw new ProtocolError("bad-field", `'typing' field 'typing' must be true or false, got ${jsonKind(message.typing)}`, {
          field: "typing",
        });
      }
      return;
    }
    let id = message.id === undefined ? null : message.id;
    if (isInt(id)) id = String(id);
    if (!has("content")) {
      let readable = null;
      try {
        readable = id !== null ? validateClientId(id) : null;
      } catch (error) {
        readable = null;
      }
      throw new ProtocolError("bad-field", "'chat' needs a 'content' field", { field: "content", id: readable });
    }
    if (id !== null) validateClientId(id);
    const content = text(message.content, "'chat' field 'content'", "content", "bad-field", id);
    if (!content.trim()) throw new ProtocolError("bad-field", "'chat' content must not be empty", { field: "content", id });
    if (chars(content) > CONSTANTS.MAX_CONTENT_CHARS) {
      throw new ProtocolError("bad-field", `'chat' content is ${chars(content)} characters; the limit is ${CONSTANTS.MAX_CONTENT_CHARS}`, {
        field: "content",
        id,
      });
    }
  }

  /** Throw (as protocol.encode does) for what cannot be sent as a JSON text frame. */
  function checkEncodable(message) {
    const seen = new Set();
    const walk = (v, depth) => {
      if (depth > 900) throw new RangeError("the message cannot be sent as JSON: it is nested too deeply");
      if (v === null || typeof v === "boolean") return;
      if (typeof v === "number") {
        if (!Number.isFinite(v)) throw new RangeError("the message cannot be sent as JSON: Out of range float values are not JSON compliant");
        return;
      }
      if (typeof v === "string") {
        if (!isValidUnicode(v)) throw new RangeError("the message cannot be sent: a string in it is not valid Unicode (a lone surrogate)");
        return;
      }
      if (typeof v !== "object" || isBinary(v) || !(Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null)) {
        throw new TypeError(`the message cannot be sent as JSON: a ${typeof v === "object" ? v.constructor.name : typeof v} has no JSON form`);
      }
      if (seen.has(v)) throw new RangeError("the message cannot be sent as JSON: Circular reference detected");
      seen.add(v);
      for (const [key, item] of Object.entries(v)) {
        if (!isValidUnicode(key)) throw new RangeError("the message cannot be sent: a string in it is not valid Unicode (a lone surrogate)");
        if (item !== undefined) walk(item, depth + 1);
      }
      seen.delete(v);
    };
    walk(message, 0);
  }

  // ------------------------------------------------------------ backoff (wslab.core.backoff)

  /**
   * How long to wait before each reconnect attempt, in seconds. Immutable and validated.
   * Fields as in Python: initial, factor, cap, jitter ("full" | "equal" | "none") and
   * stayUp (`stay_up` is accepted too, as the transcripts spell it).
   */
  class BackoffPolicy {
    constructor({ initial = 1, factor = 2, cap = 30, jitter = "full", stayUp, stay_up: stayUpSnake, ...rest } = {}) {
      const unknown = Object.keys(rest).filter((k) => k !== "seed");
      if (unknown.length) throw new TypeError(`BackoffPolicy has no field(s) ${unknown.sort().join(", ")}`);
      const stay = stayUp !== undefined ? stayUp : stayUpSnake !== undefined ? stayUpSnake : CONSTANTS.BACKOFF.stay_up;
      for (const [name, value] of [["initial", initial], ["factor", factor], ["cap", cap], ["stay_up", stay]]) {
        if (!finite(value)) throw new RangeError(`BackoffPolicy ${name} must be a finite number, got ${String(value)}`);
      }
      if (initial <= 0) throw new RangeError(`BackoffPolicy initial must be > 0 seconds, got ${initial}`);
      if (factor < 1) throw new RangeError(`BackoffPolicy factor must be >= 1 (delays must not shrink), got ${factor}`);
      if (cap < initial) throw new RangeError(`BackoffPolicy cap (${cap}) must be >= initial (${initial})`);
      if (stay < 0) throw new RangeError(`BackoffPolicy stay_up must be >= 0, got ${stay}`);
      if (!["full", "equal", "none"].includes(jitter)) {
        throw new RangeError(`BackoffPolicy jitter must be 'full', 'equal' or 'none', got ${String(jitter)}`);
      }
      Object.assign(this, { initial, factor, cap, jitter, stayUp: stay });
      Object.freeze(this);
    }

    /** The capped delay before jitter for `attempt` (1-based): min(cap, initial * factor**(attempt-1)). */
    ceiling(attempt) {
      if (!isInt(attempt) || attempt < 1) throw new RangeError(`attempt counts from 1, got ${attempt}`);
      if (this.factor === 1) return Math.min(this.cap, this.initial);
      // Compare in log space, as Python must (there factor**attempt overflows a float).
      if ((attempt - 1) * Math.log(this.factor) >= Math.log(this.cap / this.initial)) return this.cap;
      return Math.min(this.cap, this.initial * this.factor ** (attempt - 1));
    }

    /** The closed interval [low, high] every delay for `attempt` falls in, given the jitter. */
    bounds(attempt) {
      const top = this.ceiling(attempt);
      if (this.jitter === "full") return [0, top];
      if (this.jitter === "equal") return [top / 2, top];
      return [top, top];
    }

    /** One delay for `attempt` (1-based), drawing jitter from `random()` (uniform in [0, 1)). */
    delay(attempt, random = Math.random) {
      const [low, high] = this.bounds(attempt);
      if (low === high) return high;
      return low + (high - low) * random();
    }
  }

  /** The attempt counter of one client, driven by a BackoffPolicy; `random` is injectable. */
  class Backoff {
    constructor(policy = new BackoffPolicy(), random = Math.random) {
      this.policy = policy instanceof BackoffPolicy ? policy : new BackoffPolicy(policy);
      this.random = random;
      this._attempt = 0;
      this._openedAt = null;
    }
    /** How many delays were handed out since the last reset (0 right after one). */
    get attempt() {
      return this._attempt;
    }
    /** Count one more attempt and return the seconds to wait before it. */
    nextDelay() {
      this._attempt += 1;
      return this.policy.delay(this._attempt, this.random);
    }
    /** A connection opened at `now` (seconds). */
    onOpen(now) {
      this._openedAt = now;
    }
    /** A connection closed (or an attempt failed) at `now`; resets only if one stayed up `stayUp` s. */
    onClose(now) {
      const opened = this._openedAt;
      this._openedAt = null;
      if (opened !== null && now - opened >= this.policy.stayUp) {
        this._attempt = 0;
        return true;
      }
      return false;
    }
    /** Forget every attempt (e.g. when the user reconnects by hand). */
    reset() {
      this._attempt = 0;
      this._openedAt = null;
    }
  }

  /** The default answer to "reconnect after this close code?" (null: no close frame). */
  const shouldReconnect = (code) => !STOP_CODES.has(code);

  // ------------------------------------------------------------ typing (wslab.core.typing_status)

  /** The same text as wslab.core.typing_status.typing_text in Python. */
  function typingText(list, me = null, several = 3) {
    const others = [...new Set(list)].filter((name) => name !== me);
    if (others.length === 0) return "";
    if (others.length >= several) return "Several people are typing…";
    if (others.length === 1) return `${others[0]} is typing…`;
    return `${others.slice(0, -1).join(", ")} and ${others[others.length - 1]} are typing…`;
  }

  /**
   * When to send `typing` frames (TypingNotifier in Python). Every method returns the
   * frames to send, usually none: true on the first key and every `refresh` seconds while
   * keys keep coming, false after `idle` seconds without one, on send, or on an empty input.
   */
  class TypingNotifier {
    constructor({ idle = CONSTANTS.TYPING_IDLE, refresh = null, serverTimeout = CONSTANTS.TYPING_TIMEOUT } = {}) {
      if (!(idle > 0)) throw new RangeError("idle must be > 0");
      this.idle = idle;
      this.refresh = refresh !== null && refresh !== undefined ? refresh : serverTimeout * 0.6;
      if (!(this.refresh > 0 && this.refresh < serverTimeout)) {
        throw new RangeError(`refresh (${g(this.refresh)} s) must be shorter than the server's timeout (${g(serverTimeout)} s)`);
      }
      this.typing = false;
      this._lastKey = 0;
      this._lastSent = 0;
    }
    static frame(typing) {
      return { type: "typing", typing };
    }
    /** A key was pressed; `text` is the input's new value if known (empty means cleared). */
    keystroke(text, now) {
      if (text !== null && text !== undefined && !String(text).trim()) return this._stop();
      this._lastKey = now;
      if (!this.typing) {
        this.typing = true;
        this._lastSent = now;
        return [TypingNotifier.frame(true)];
      }
      if (now - this._lastSent >= this.refresh) {
        this._lastSent = now;
        return [TypingNotifier.frame(true)];
      }
      return [];
    }
    /** Time passed: false once the keys have been idle `idle` seconds. */
    tick(now) {
      if (this.typing && now - this._lastKey >= this.idle) return this._stop();
      return [];
    }
    /** The message was sent: stop typing. */
    sent() {
      return this._stop();
    }
    /** When tick() may have work, or null while not typing. */
    nextDeadline() {
      return this.typing ? this._lastKey + this.idle : null;
    }
    /** The connection dropped: the server forgot our typing (sends nothing). */
    reset() {
      this.typing = false;
    }
    _stop() {
      if (!this.typing) return [];
      this.typing = false;
      return [TypingNotifier.frame(false)];
    }
  }

  // ------------------------------------------------------------ the session (wslab.core.session)

  const send = (message) => ({ send: message, frame: JSON.stringify(message) });
  const emit = (event, data) => ({ emit: event, data });
  const retry = (delay) => ({ retry: delay });
  const disconnect = (code, reason) => ({ disconnect: { code, reason } });

  /**
   * The client's half of the chat protocol, sans I/O: the JavaScript twin of
   * wslab.core.session.ClientSession (docs/client-session.md), held to it by the
   * transcripts in tests/data/transcripts/.
   *
   * Every input takes `now` (monotonic SECONDS) and returns the actions to perform, in order:
   *   {send: message, frame: text}   write the text frame (compact JSON of message);
   *   {emit: "event", data: {...}}   call the handlers of event with data;
   *   {retry: seconds}               wait, then connect again;
   *   {disconnect: {code, reason}}   close the current connection; disconnected() follows.
   * After every call the shell re-arms one timer at nextDeadline() and calls tick() then.
   *
   * Options (Python's, in camelCase): idPrefix, policy (a BackoffPolicy or its fields),
   * random (the jitter's randomness, and the default id prefix's), shouldReconnect,
   * queueLimit, overflow ("raise" | "event"), typingIdle, typingRefresh, resendAfter,
   * restoreTimeout.
   *
   * State: state ("offline", "connecting", "restoring", "open", "closed"), name, room,
   * epoch, lastSeq, online, typing, unacked (a Map id -> chat, oldest first), queued,
   * channels (a Set, in the order added), attempt, pending ([id, content] pairs), joined.
   */
  class ClientSession {
    constructor({
      idPrefix = null,
      policy = null,
      random = Math.random,
      shouldReconnect: predicate = null,
      queueLimit = CONSTANTS.QUEUE_LIMIT,
      overflow = "raise",
      typingIdle = CONSTANTS.TYPING_IDLE,
      typingRefresh = CONSTANTS.TYPING_REFRESH,
      resendAfter = CONSTANTS.RESEND_AFTER,
      restoreTimeout = CONSTANTS.RESTORE_TIMEOUT,
    } = {}) {
      if (!isInt(queueLimit) || queueLimit < 1) throw new RangeError(`queue_limit must be an int >= 1, got ${queueLimit}`);
      if (overflow !== "raise" && overflow !== "event") throw new RangeError(`overflow must be 'raise' or 'event', got ${overflow}`);
      if (!(resendAfter > 0) || !(restoreTimeout > 0)) throw new RangeError("resend_after and restore_timeout must be > 0");
      this.idPrefix = idPrefix !== null && idPrefix !== undefined ? String(idPrefix) : newPrefix(random);
      this.policy = policy instanceof BackoffPolicy ? policy : new BackoffPolicy(policy || {});
      this.backoff = new Backoff(this.policy, random);
      this.shouldReconnect = predicate || shouldReconnect;
      this.queueLimit = queueLimit;
      this.overflow = overflow;
      this.resendAfter = resendAfter;
      this.restoreTimeout = restoreTimeout;
      this.notifier = new TypingNotifier({ idle: typingIdle, refresh: typingRefresh });

      /** "offline" (not started, or waiting to retry), "connecting", "restoring", "open" or "closed". */
      this.state = "offline";
      this.name = null;
      this.room = null;
      /** The epoch of the room's history this session has seen (null before a welcome). */
      this.epoch = null;
      /** The highest chat seq seen in `room` in `epoch` (sent as `since`). */
      this.lastSeq = 0;
      this.online = [];
      this.typing = [];
      this.channels = new Set();
      /** Chats sent and not yet acknowledged, by id, oldest first. */
      this.unacked = new Map();
      this.historyComplete = true;
      /** How many connections became ready (the first is not a reconnect). */
      this.connections = 0;
      this._outbox = [];
      this._counter = 0;
      this._joined = false; // welcomed on the current connection
      this._welcomedRoom = null; // [name, room] we were last welcomed as
      this._awaitingWelcome = false;
      this._awaitingChannels = new Set();
      this._restoreDeadline = null;
      this._resendAt = null;
      this._openedAt = null;
      this._closing = null; // [code, reason]
    }

    // ---------------------------------------------------------- state

    /** How many messages wait in the outbox. */
    get queued() {
      return this._outbox.length;
    }
    /** Reconnect attempts since the backoff last reset. */
    get attempt() {
      return this.backoff.attempt;
    }
    /** True while the current connection is welcomed into `room`. */
    get joined() {
      return this._joined;
    }
    /** [id, content] of every chat not yet acknowledged: sent ones first, then queued ones. */
    get pending() {
      const sent = [...this.unacked].map(([id, m]) => [id, String(m.content ?? "")]);
      const queued = this._outbox.filter((m) => m.type === "chat").map((m) => [String(m.id), String(m.content ?? "")]);
      return sent.concat(queued);
    }

    /** The next chat id: `<idPrefix>-<n>`, counting from 1. */
    newId() {
      this._counter += 1;
      return `${this.idPrefix}-${this._counter}`;
    }

    /** When tick() has work (monotonic seconds), or null. */
    nextDeadline() {
      const deadlines = [this._joined ? this.notifier.nextDeadline() : null, this._resendAt, this._restoreDeadline].filter(
        (d) => d !== null,
      );
      return deadlines.length ? Math.min(...deadlines) : null;
    }

    // ---------------------------------------------------------- intents

    /**
     * Join `room` as `name`, now if connected, and again on every connection. Throws
     * ProtocolError for an invalid name or room. Joining where the session already is does
     * nothing; another room or name drops the connection and joins there on the next one.
     */
    join(name, room = CONSTANTS.DEFAULT_ROOM, now = 0) {
      validateName(name);
      validateRoom(room);
      this._checkOpen();
      if (this.name === name && this.room === room) return [];
      const wasJoined = this._joined || this._awaitingWelcome;
      this.name = name;
      this.room = room;
      if (!this._welcomedAs(name, room)) {
        // Another room's seq and epoch mean nothing here.
        this.online = [];
        this.typing = [];
        this.lastSeq = 0;
        this.epoch = null;
      }
      if ((this.state === "restoring" || this.state === "open") && !wasJoined) {
        this._awaitingWelcome = true;
        this._startRestore(now);
        return [send(this._joinMessage())];
      }
      if (wasJoined) {
        // A connection joins one room once: come back on a new one.
        return [disconnect(CONSTANTS.RETRY_JOIN_CODE, `joining ${pyRepr(room)} as ${pyRepr(name)}`)];
      }
      return [];
    }

    /**
     * Send a chat; it gets an id and stays in `unacked` until acknowledged. Throws
     * ProtocolError for content the server would refuse, QueueFullError when it must wait
     * and the outbox is full.
     */
    say(content, now = 0, id = null) {
      const message = { type: "chat", content, id: id !== null && id !== undefined ? id : this.newId() };
      checkOutgoing(message);
      this._checkOpen();
      const actions = this._joined ? this.notifier.sent().map(send) : [];
      this.notifier.reset();
      if (this._joined && this.state === "open" && !this._outbox.length) {
        this.unacked.set(String(message.id), message);
        return [...actions, send(message)];
      }
      const queued = actions.concat(this._enqueue(message));
      return this._joined && this.state === "open" ? queued.concat(this._flush()) : queued; // keep call order
    }

    /** The message input changed to `text`: maybe a `typing` frame (never queued while offline). */
    keystroke(text = null, now = 0) {
      if (!this._joined) return [];
      return this.notifier.keystroke(text, now).map(send);
    }

    /** Subscribe to `channel` now (if connected) and on every connection. */
    subscribe(channel, now = 0) {
      validateChannel(channel);
      this._checkOpen();
      if (this.channels.has(channel)) return [];
      this.channels.add(channel);
      if (this.state === "restoring" || this.state === "open") return [send({ type: "subscribe", channel })];
      return [];
    }

    /** Unsubscribe from `channel` and stop resubscribing to it. */
    unsubscribe(channel, now = 0) {
      validateChannel(channel);
      this._checkOpen();
      if (!this.channels.delete(channel)) return [];
      this._awaitingChannels.delete(channel);
      if (this.state === "restoring" || this.state === "open") return [send({ type: "unsubscribe", channel })];
      return [];
    }

    /**
     * Send any JSON object: now if the connection is ready, else from the outbox. `join`,
     * `subscribe`, `unsubscribe`, `chat` and `typing` go to join, subscribe, unsubscribe,
     * say and the typing frame, so they are remembered and checked.
     */
    send(message, now = 0) {
      if (!isObject(message)) throw new TypeError(`send() takes an object (sent as JSON), got ${pyType(message)}`);
      const kind = message.type;
      if (kind === "join") return this.join(message.name, message.room === undefined ? CONSTANTS.DEFAULT_ROOM : message.room, now);
      if (kind === "subscribe") return this.subscribe(message.channel, now);
      if (kind === "unsubscribe") return this.unsubscribe(message.channel, now);
      if (kind === "chat") {
        const id = message.id;
        return this.say(message.content, now, id === null || id === undefined ? null : String(id));
      }
      message = { ...message };
      if (kind === "typing") {
        checkOutgoing(message);
        this._checkOpen();
        return this._joined ? [send(message)] : [];
      }
      checkEncodable(message); // throws for what cannot be sent as JSON
      this._checkOpen();
      if (this.state === "open" && !this._outbox.length) return [send(message)];
      const queued = this._enqueue(message);
      return this.state === "open" ? queued.concat(this._flush()) : queued;
    }

    /** Stop for good: close the connection if there is one, and never reconnect. Safe to call twice. */
    close(code = 1000, reason = "client closed", now = 0) {
      if (this.state === "closed" || this._closing !== null) return [];
      this._closing = [code, reason];
      if (this.state === "restoring" || this.state === "open") return [disconnect(code, reason)];
      return this._finish(code, reason);
    }

    // ---------------------------------------------------------- transport events

    /** The shell starts opening a connection. */
    connecting(now = 0) {
      if (this.state !== "closed") this.state = "connecting";
      return [];
    }

    /** The opening handshake succeeded: resubscribe and re-join. */
    connected(now = 0) {
      if (this.state === "closed") return [];
      this.state = "restoring";
      this._openedAt = now;
      this.backoff.onOpen(now);
      this._joined = false;
      if (this._closing !== null) return [disconnect(...this._closing)];
      this._awaitingChannels = new Set(this.channels);
      const actions = [...this.channels].map((channel) => send({ type: "subscribe", channel }));
      this._awaitingWelcome = this.name !== null;
      if (this._awaitingWelcome) actions.push(send(this._joinMessage()));
      this._startRestore(now);
      return actions.concat(this._maybeReady(now));
    }

    /** The opening handshake failed (`error` says how): retry after the backoff's delay. */
    connectFailed(error = "", now = 0) {
      if (this.state === "closed") return [];
      this.state = "offline";
      this.backoff.onClose(now);
      if (this._closing !== null) return this._finish(...this._closing);
      return this._retry();
    }

    /**
     * The connection closed (`code` null without a close frame): reconnect, or stop for good.
     * `unsent`: the send actions the shell had not written. Chats are resent anyway (they are
     * unacked), join and subscribe are sent again on the next connection, typing is stale;
     * anything else goes back to the front of the outbox.
     */
    disconnected(code = null, reason = "", now = 0, unsent = []) {
      if (this.state === "closed") return [];
      const wasReady = this.state === "open";
      const uptime = this._openedAt !== null ? now - this._openedAt : 0;
      this.backoff.onClose(now);
      this._openedAt = null;
      this.state = "offline";
      this._joined = false;
      this._awaitingWelcome = false;
      this._awaitingChannels = new Set();
      this._restoreDeadline = null;
      this._resendAt = null;
      this.notifier.reset();
      this.typing = [];
      const back = (unsent || []).map((action) => action && action.send).filter((m) => isObject(m) && !ROUTED.has(m.type));
      this._outbox.unshift(...back);
      const actions = [];
      if (wasReady) actions.push(emit("disconnect", { code: code !== null && code !== undefined ? code : 1006, reason, uptime }));
      if (this._closing !== null) return actions.concat(this._finish(...this._closing));
      if (!this.shouldReconnect(code)) {
        const why = `not reconnecting after close code ${pyStr(code)}` + (reason ? `: ${reason}` : "");
        this._closing = [code !== null && code !== undefined ? code : 1006, why];
        return actions.concat(this._finish(...this._closing));
      }
      return actions.concat(this._retry());
    }

    /** Time passed: the restore timeout, the rate-limited resend, typing idle. */
    tick(now = 0) {
      let actions = [];
      if (this._restoreDeadline !== null && now >= this._restoreDeadline) {
        this._restoreDeadline = null;
        if (this._awaitingWelcome) {
          return [disconnect(CONSTANTS.RETRY_JOIN_CODE, `no answer to join within ${g(this.restoreTimeout)} s`)];
        }
        if (this._awaitingChannels.size) {
          const missing = [...this._awaitingChannels].sort().join(", ");
          this._awaitingChannels = new Set();
          actions.push(this._clientError("resubscribe-timeout", `no 'subscribed' reply for ${missing}; going on`));
          actions = actions.concat(this._maybeReady(now));
        }
      }
      if (this._resendAt !== null && now >= this._resendAt) {
        this._resendAt = null;
        if (this._joined) actions = actions.concat([...this.unacked.values()].map(send));
      }
      if (this._joined) actions = actions.concat(this.notifier.tick(now).map(send));
      return actions;
    }

    /** One frame from the server (text, or an ArrayBuffer / typed array when binary). */
    onFrame(frame, now = 0) {
      if (this.state === "closed") return [];
      if (typeof frame !== "string") {
        const raw = isBinary(frame) ? hex(asBytes(frame)).slice(0, 200) : "";
        return [this._clientError("binary-frame", "the server sent a binary frame; this client reads JSON text", raw)];
      }
      let message;
      try {
        message = JSON.parse(frame);
      } catch (error) {
        return [this._clientError("invalid-json", `the server sent text that is not JSON: ${error.message}`, frame.slice(0, 200))];
      }
      if (!isObject(message)) {
        return [this._clientError("not-an-object", `the server sent JSON that is not an object: ${pyType(message)}`, frame.slice(0, 200))];
      }
      const kind = message.type;
      const actions = [emit("message", message)];
      const handler = typeof kind === "string" && Object.hasOwn(HANDLERS, kind) ? HANDLERS[kind] : null;
      if (handler !== null) return actions.concat(this[handler](message, now));
      if (typeof kind === "string" && !LIFECYCLE.has(kind)) actions.push(emit(kind, message));
      return actions;
    }

    // ---------------------------------------------------------- frame handlers

    _onWelcome(message, now) {
      const actions = [];
      if (this.name === null && typeof message.name === "string" && typeof message.room === "string") {
        this.name = message.name; // the welcome says who we are
        this.room = message.room;
      }
      const epoch = typeof message.epoch === "string" ? message.epoch : null;
      const sameRoom = this._welcomedAs(this.name, this.room); // welcomed here before: a re-join
      if (epoch !== null && this.epoch !== null && epoch !== this.epoch) {
        actions.push(emit("epoch", { old: this.epoch, new: epoch, room: this.room }));
        this.lastSeq = 0;
      }
      this.epoch = epoch;
      this.online = names(message.online);
      this.typing = names(message.typing);
      const since = this.lastSeq;
      this.historyComplete = message.history_complete !== false;
      actions.push(emit("welcome", message));
      const history = (Array.isArray(message.history) ? message.history : []).filter((m) => isObject(m) && isInt(m.seq));
      if (sameRoom && !this.historyComplete) {
        const oldest = history.length ? Math.min(...history.map((m) => m.seq)) : message.seq;
        actions.push(
          this._clientError(
            "history-gap",
            `messages ${since + 1} to ${isInt(oldest) ? oldest - 1 : "?"} of room ${pyRepr(this.room)} were ` +
              "sent while offline and are no longer kept by the server",
          ),
        );
      }
      for (const item of [...history].sort((a, b) => a.seq - b.seq)) actions.push(...this._chat(item));
      if (isInt(message.seq) && message.seq > this.lastSeq) this.lastSeq = message.seq;
      this._welcomedRoom = this.name !== null && this.room !== null ? [this.name, this.room] : null;
      this._joined = true;
      this._awaitingWelcome = false;
      if (!this._awaitingChannels.size) this._restoreDeadline = null; // nothing more to wait for on this connection
      return actions.concat(this._maybeReady(now));
    }

    _onChat(message, now) {
      if (this.room !== null && message.room !== undefined && message.room !== null && message.room !== this.room) {
        return [emit("chat", message)];
      }
      return this._chat(message);
    }

    _onPresence(message, now) {
      const left = names(message.left).filter((n) => this.online.includes(n));
      this.online = this.online.filter((n) => !left.includes(n));
      this.typing = this.typing.filter((n) => !left.includes(n));
      const joined = [...new Set(names(message.joined))].filter((n) => !this.online.includes(n));
      this.online = this.online.concat(joined);
      return [emit("presence", { ...message, joined, left, online: [...this.online] })];
    }

    _onTyping(message, now) {
      this.typing = names(message.typing);
      return [emit("typing", message)];
    }

    _onAck(message, now) {
      this.unacked.delete(pyStr(message.id));
      return [emit("ack", message)];
    }

    _onSubscribed(message, now) {
      this._awaitingChannels.delete(pyStr(message.channel));
      return [emit("subscribed", message)].concat(this._maybeReady(now));
    }

    _onError(message, now) {
      const code = message.code;
      const actions = [emit("error", { ...message, source: "server" })];
      if (code === RATE_LIMITED) {
        if (this.unacked.size && this._resendAt === null) this._resendAt = now + this.resendAfter;
        return actions;
      }
      if (typeof message.id === "string") this.unacked.delete(message.id);
      if (code === UNKNOWN_CHANNEL) {
        let channel = message.channel;
        if (typeof channel !== "string") {
          // The frame names no channel: subscribes are answered in order, so it is the oldest awaited.
          channel = [...this.channels].find((c) => this._awaitingChannels.has(c));
        }
        // A channel we no longer want (the answer to an unsubscribe, or to a subscribe since withdrawn)
        // has nothing left to forget.
        if (this.channels.has(channel)) {
          this.channels.delete(channel);
          this._awaitingChannels.delete(channel);
        }
        return actions.concat(this._maybeReady(now));
      }
      if (this._awaitingWelcome && JOIN_ERRORS.has(code)) {
        this._awaitingWelcome = false;
        if (code === NAME_TAKEN && this._welcomedAs(this.name, this.room)) {
          // The server still holds our previous connection: come back later.
          return actions.concat([disconnect(CONSTANTS.RETRY_JOIN_CODE, "re-join refused: name still taken by the previous connection")]);
        }
        this.name = this.room = null; // a first join refused: forgotten; chats wait for the next join()
        return actions.concat(this._maybeReady(now));
      }
      return actions;
    }

    // ---------------------------------------------------------- internals

    _welcomedAs(name, room) {
      const w = this._welcomedRoom;
      return w !== null && w[0] === name && w[1] === room;
    }

    _chat(item) {
      const seq = item.seq;
      if (!isInt(seq) || seq <= this.lastSeq) return []; // a chat already emitted
      this.lastSeq = seq;
      if (item.sender === this.name && typeof item.id === "string") this.unacked.delete(item.id); // the room has it: as good as an ack
      return [emit("chat", item)];
    }

    _joinMessage() {
      const join = { type: "join", name: this.name, room: this.room };
      if (this._welcomedAs(this.name, this.room)) {
        join.since = this.lastSeq;
        if (this.epoch !== null) join.epoch = this.epoch;
      }
      return join;
    }

    _startRestore(now) {
      this._restoreDeadline = now + this.restoreTimeout;
    }

    /** Once the restore is complete: resend unacked chats, flush the outbox, emit `connect`. */
    _maybeReady(now) {
      if (this.state !== "restoring" || this._awaitingWelcome || this._awaitingChannels.size) {
        return this.state === "open" ? this._flush() : [];
      }
      this.state = "open";
      this._restoreDeadline = null;
      let actions = [];
      let resent = 0;
      if (this._joined) {
        actions = [...this.unacked.values()].map(send);
        resent = actions.length;
      }
      const flushed = this._flush();
      actions = actions.concat(flushed);
      this.connections += 1;
      actions.push(emit("connect", { reconnect: this.connections > 1, resent, flushed: flushed.length, attempt: this.attempt }));
      return actions;
    }

    /** Send what the outbox holds, in order; chats only while joined (they keep their place). */
    _flush() {
      const actions = [];
      const keep = [];
      for (const message of this._outbox) {
        if (message.type === "chat") {
          if (!this._joined) {
            keep.push(message);
            continue;
          }
          this.unacked.set(String(message.id), message);
        }
        actions.push(send(message));
      }
      this._outbox = keep;
      return actions;
    }

    _enqueue(message) {
      const queued = this._outbox.length;
      if (queued >= this.queueLimit) {
        if (this.overflow === "raise") {
          throw new QueueFullError(
            `${queued} messages already wait to be sent (queue_limit=${this.queueLimit}) ` +
              `while the client is ${this.state}; this one was not queued`,
          );
        }
        return [emit("overflow", { message, queued, limit: this.queueLimit })];
      }
      this._outbox.push(message);
      return [];
    }

    _retry() {
      const delay = this.backoff.nextDelay();
      return [emit("reconnecting", { attempt: this.backoff.attempt, delay }), retry(delay)];
    }

    _finish(code, reason) {
      this.state = "closed";
      this._restoreDeadline = this._resendAt = null;
      const unsent = this._outbox.length + this.unacked.size;
      return [emit("closed", { code, reason, unsent })];
    }

    _clientError(code, text, raw = "") {
      return emit("error", { type: "error", code, message: text, raw, source: "client" });
    }

    _checkOpen() {
      if (this.state === "closed" || this._closing !== null) {
        const why = this._closing !== null ? this._closing[1] : "closed";
        throw new ClientClosedError(`the client stopped (${why}); create a new one to connect again`);
      }
    }
  }

  /** Server frame types with their own handler (the others are emitted under their type). */
  const HANDLERS = Object.freeze({
    welcome: "_onWelcome",
    chat: "_onChat",
    presence: "_onPresence",
    typing: "_onTyping",
    ack: "_onAck",
    subscribed: "_onSubscribed",
    error: "_onError",
  });

  /** Python's str() of a JSON value, for ids and channel names used as keys. */
  function pyStr(v) {
    if (v === null || v === undefined) return "None";
    if (typeof v === "boolean") return v ? "True" : "False";
    return typeof v === "string" ? v : JSON.stringify(v);
  }

  // ------------------------------------------------------------ the I/O shell

  /**
   * The seed's auto-reconnecting client, now a thin shell: it performs a ClientSession's
   * actions with the browser's WebSocket and setTimeout. Intents (join, say, keystroke,
   * subscribe, unsubscribe, send, close) go to the session with the time; events come back
   * through `on(event, fn)`: the session's events, plus "connecting" {attempt} when a
   * connection starts opening and "change" after every batch of actions.
   */
  class WebSocketClient {
    #url; #session; #WebSocket; #now; #timers; #handlers = {}; #ws = null; #opened = false; #unsent = [];
    #retryTimer = null; #deadlineTimer = null; #queue = []; #draining = false; #started = false;

    /**
     * `session`: the ClientSession to drive (a new one by default). `WebSocket`, `now`
     * (monotonic seconds) and `timers` ({setTimeout, clearTimeout}) default to the browser's
     * and are injectable for tests.
     */
    constructor(url, {
      session = new ClientSession(),
      WebSocket: Impl = global.WebSocket,
      now = () => performance.now() / 1000,
      timers = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (id) => clearTimeout(id) },
    } = {}) {
      this.#url = url;
      this.#session = session;
      this.#WebSocket = Impl;
      this.#now = now;
      this.#timers = timers;
    }

    get session() {
      return this.#session;
    }

    /** 0 CONNECTING, 1 OPEN, 2 CLOSING, 3 CLOSED (also while waiting to retry). */
    get readyState() {
      return this.#ws ? this.#ws.readyState : 3;
    }

    on(event, fn) {
      (this.#handlers[event] = this.#handlers[event] || []).push(fn);
      return this;
    }

    /** Start connecting; calling it again does nothing. */
    start() {
      if (!this.#started) {
        this.#started = true;
        this.#connect();
      }
      return this;
    }

    join(name, room) {
      return this.#do((now) => this.#session.join(name, room, now));
    }
    say(content) {
      return this.#do((now) => this.#session.say(content, now));
    }
    keystroke(text) {
      return this.#do((now) => this.#session.keystroke(text, now));
    }
    subscribe(channel) {
      return this.#do((now) => this.#session.subscribe(channel, now));
    }
    unsubscribe(channel) {
      return this.#do((now) => this.#session.unsubscribe(channel, now));
    }
    send(message) {
      return this.#do((now) => this.#session.send(message, now));
    }
    /** Close for good: no more reconnects. */
    close(code = 1000, reason = "client closed") {
      if (this.#retryTimer !== null) this.#timers.clearTimeout(this.#retryTimer);
      this.#retryTimer = null;
      this.#do((now) => this.#session.close(code, reason, now));
      // Closed at once (offline, or a handshake still running): give up that handshake too.
      if (this.#session.state === "closed" && this.#ws) this.#closeSocket(this.#ws, code, reason);
      return this;
    }

    #closeSocket(ws, code, reason) {
      try {
        ws.close(code, reason);
      } catch (error) {
        // Browsers accept only 1000 and 3000-4999, and reasons up to 123 bytes.
        ws.close();
      }
    }

    #do(call) {
      this.#perform(call(this.#now()));
      return this;
    }

    #connect() {
      this.#retryTimer = null;
      if (this.#session.state === "closed") return;
      this.#emit("connecting", { attempt: this.#session.attempt });
      this.#perform(this.#session.connecting(this.#now()));
      this.#opened = false;
      this.#unsent = [];
      let ws;
      try {
        ws = new this.#WebSocket(this.#url);
      } catch (error) {
        this.#perform(this.#session.connectFailed(String(error), this.#now()));
        return;
      }
      ws.binaryType = "arraybuffer";
      this.#ws = ws;
      ws.onopen = () => {
        if (this.#ws !== ws) return;
        this.#opened = true;
        this.#perform(this.#session.connected(this.#now()));
        // close() ran while the handshake did: the session is closed and wants no connection.
        if (this.#session.state === "closed" && this.#ws === ws) this.#closeSocket(ws, 1000, "client closed");
      };
      ws.onmessage = (e) => {
        if (this.#ws === ws) this.#perform(this.#session.onFrame(e.data, this.#now()));
      };
      ws.onclose = (e) => {
        if (this.#ws !== ws) return;
        this.#ws = null;
        const now = this.#now();
        if (this.#opened) {
          const unsent = this.#unsent;
          this.#unsent = [];
          this.#perform(this.#session.disconnected(e.code, e.reason, now, unsent));
        } else {
          this.#perform(this.#session.connectFailed(`could not connect (close code ${e.code})`, now));
        }
      };
    }

    #perform(actions) {
      this.#queue.push(...actions);
      if (this.#draining) return;
      this.#draining = true;
      try {
        while (this.#queue.length) {
          const action = this.#queue.shift();
          if (action.send !== undefined) {
            const ws = this.#ws;
            if (ws && ws.readyState === 1) ws.send(action.frame);
            else this.#unsent.push(action);
          } else if (action.emit !== undefined) {
            this.#emit(action.emit, action.data);
          } else if (action.retry !== undefined) {
            if (this.#retryTimer !== null) this.#timers.clearTimeout(this.#retryTimer);
            this.#retryTimer = this.#timers.setTimeout(() => this.#connect(), action.retry * 1000);
          } else if (action.disconnect !== undefined) {
            if (this.#ws) this.#closeSocket(this.#ws, action.disconnect.code, action.disconnect.reason);
          }
        }
      } finally {
        this.#draining = false;
      }
      this.#arm();
      this.#emit("change", null);
    }

    #arm() {
      if (this.#deadlineTimer !== null) this.#timers.clearTimeout(this.#deadlineTimer);
      this.#deadlineTimer = null;
      const deadline = this.#session.nextDeadline();
      if (deadline === null) return;
      const ms = Math.max(0, (deadline - this.#now()) * 1000) + 5;
      this.#deadlineTimer = this.#timers.setTimeout(() => {
        this.#deadlineTimer = null;
        this.#perform(this.#session.tick(this.#now()));
      }, ms);
    }

    #emit(event, data) {
      for (const fn of this.#handlers[event] || []) {
        try {
          fn(data);
        } catch (error) {
          console.error(`wslab: a "${event}" handler failed`, error);
        }
      }
    }
  }

  const api = {
    CONSTANTS,
    ProtocolError,
    QueueFullError,
    ClientClosedError,
    BackoffPolicy,
    Backoff,
    shouldReconnect,
    ClientSession,
    WebSocketClient,
    TypingNotifier,
    typingText,
    newPrefix,
    validateName,
    validateRoom,
    validateChannel,
    validateClientId,
  };
  global.wslab = api;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})(typeof window !== "undefined" ? window : globalThis);

// ---------------------------------------------------------------- the page
//
// What a learner sees, and what to do about each ending (docs/classroom.md):
//   * 4001, the server refused the token: the start screen asks for the token or the join code
//     (with the server's reason), and joining again uses what they typed;
//   * 4003, kicked: says so, and that they may join again (the button says "Join again");
//   * 4004, banned: says so, and that this name cannot join this room again;
//   * the start screen can show the join link's QR code full screen, for a projector
//     (join.svg and join.json, served to whoever has the token or the join code).

if (typeof document !== "undefined") {
  (function () {
    const { ClientSession, WebSocketClient, typingText, validateName } = window.wslab;
    const $ = (id) => document.getElementById(id);
    const params = new URLSearchParams(location.search);
    let token = params.get("token") || "";
    const room = params.get("room") || document.body.dataset.room || "lobby";

    /** "name" next to this page, with the token: behind jupyter-server-proxy the page is
     * {base_url}proxy/PORT/ and its WebSocket must be {base_url}proxy/PORT/chat. */
    function near(name, withToken = true) {
      const address = new URL(name, location.href);
      address.search = withToken && token ? `?token=${encodeURIComponent(token)}` : "";
      address.hash = "";
      return address;
    }

    function chatUrl() {
      const endpoint = near("chat");
      endpoint.protocol = location.protocol === "https:" ? "wss:" : "ws:";
      return endpoint.href;
    }

    $("room").textContent = room;
    const nameInput = $("name-input");
    const tokenInput = $("token-input");
    nameInput.value = params.get("name") || sessionStorage.getItem("wslab-name") || "";

    function setState(state, text) {
      const status = $("status");
      status.dataset.state = state;
      status.textContent = text;
      document.body.dataset.state = state;
    }

    function formatTime(iso) {
      const when = new Date(iso);
      return Number.isNaN(when.getTime()) ? "" : when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    }

    /** Add `item` to the message list; the log (#log, which scrolls) follows it if it was at the bottom. */
    function append(item) {
      const log = $("log");
      const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
      $("messages").append(item);
      if (atBottom) log.scrollTop = log.scrollHeight;
    }

    function showChat(m) {
      const item = document.createElement("li");
      item.className = m.sender === client.session.name ? "message mine" : "message";
      item.dataset.seq = String(m.seq);
      const head = document.createElement("div");
      head.className = "head";
      const sender = document.createElement("span");
      sender.className = "sender";
      sender.textContent = String(m.sender);
      const time = document.createElement("time");
      time.dateTime = String(m.timestamp);
      time.title = String(m.timestamp);
      time.textContent = formatTime(m.timestamp);
      head.append(sender, " ", time);
      const content = document.createElement("p");
      content.className = "content";
      content.textContent = String(m.content);
      item.append(head, content);
      append(item);
    }

    function notice(text) {
      const item = document.createElement("li");
      item.className = "notice";
      item.textContent = text;
      append(item);
    }

    function showOnline(names) {
      $("online-list").replaceChildren(
        ...names.map((name) => {
          const item = document.createElement("li");
          item.textContent = String(name);
          return item;
        }),
      );
      $("online-count").textContent = String(names.length);
    }

    function showTyping() {
      $("typing").textContent = typingText(client.session.typing, client.session.name);
    }

    function showPending() {
      const count = client.session.pending.length;
      $("pending").textContent = count ? `${count} message${count === 1 ? "" : "s"} waiting to be sent` : "";
    }

    /** The start screen again, with `text` saying why; `askToken` shows the token field too. */
    function startScreen(text, { askToken = false, again = false } = {}) {
      $("join-error").textContent = text;
      $("join-form").hidden = false;
      $("chat").hidden = true;
      $("join-button").textContent = again ? "Join again" : "Join";
      if (askToken) {
        $("token-row").hidden = false;
        tokenInput.value = "";
        tokenInput.focus();
      } else {
        nameInput.focus();
      }
    }

    function askName(text) {
      startScreen(text);
      setState("idle", "choose a name");
    }

    /** The server's own words for a close, without the session's "not reconnecting after close code N: ". */
    function serverReason(reason) {
      return String(reason || "").replace(/^not reconnecting after close code \d+: ?/, "");
    }

    const CLOSED = {
      1008: "disconnected for sending too many messages too fast",
    };

    function onClosed(e) {
      const why = serverReason(e.reason);
      if (e.code === 4001) {
        setState("closed", "the server refused the token: type the token or join code your instructor gives you");
        startScreen(`The server refused the token${why ? ` (${why})` : ""}. Type the token or the join code your instructor gives you, then join.`, { askToken: true });
      } else if (e.code === 4003) {
        setState("closed", "an instructor removed you from the room; you may join again");
        startScreen("An instructor removed you from the room. You may join again.", { again: true });
      } else if (e.code === 4004) {
        setState("closed", "an instructor banned you from this room: you cannot join it again with this name");
        $("join-form").hidden = true;
      } else {
        setState("closed", CLOSED[e.code] || `disconnected (${e.code} ${why})`.trim());
      }
    }

    let client = null;
    let joinedOnce = false; // welcomed at least once: the chat is on screen
    let lastClose = null;

    function startClient() {
      client = new WebSocketClient(chatUrl(), { session: new ClientSession() });
      window.wslabChat = client;
      joinedOnce = false;
      client
        .on("connecting", () => {
          if (joinedOnce) setState("reconnecting", "reconnecting…");
          else setState("connecting", "connecting…");
        })
        .on("welcome", (m) => {
          if ($("chat").hidden) {
            $("join-form").hidden = true;
            $("qr-row").hidden = true;
            $("chat").hidden = false;
            $("message-input").focus();
          }
          joinedOnce = true;
          showOnline(client.session.online);
          showTyping();
          if (client.session.state === "open") setState("online", `online as ${m.name}`);
        })
        .on("connect", () => {
          if (client.session.name !== null && joinedOnce) setState("online", `online as ${client.session.name}`);
        })
        .on("chat", showChat)
        .on("presence", (m) => {
          showOnline(m.online);
          for (const name of m.joined) if (name !== client.session.name) notice(`${name} joined`);
          for (const name of m.left) if (name !== client.session.name) notice(`${name} left`);
        })
        .on("typing", showTyping)
        .on("notice", (m) => notice(String(m.message)))
        .on("epoch", () => notice("the server restarted: its history starts over"))
        .on("error", (m) => {
          if (m.source === "server" && ["name-taken", "name-invalid", "room-invalid", "banned"].includes(m.code)) {
            if (client.session.name === null) {
              askName(String(m.message));
            } else {
              // Our own old connection is still known to the server: the session retries shortly.
              setState("reconnecting", "waiting for the old connection to time out…");
            }
            return;
          }
          if (m.code === "history-gap") {
            notice("some messages sent while you were away are no longer kept by the server");
          } else if (m.source === "client") {
            notice(`ignored a message that is not valid chat JSON (${m.message})`);
          } else {
            notice(String(m.message));
          }
        })
        .on("disconnect", (e) => {
          lastClose = e.code;
          showTyping();
        })
        .on("reconnecting", (e) => {
          const why = lastClose === 4008 ? "you stopped reading for too long" : lastClose === null ? "could not connect" : `connection lost (${lastClose})`;
          setState("reconnecting", `${why}; reconnecting in ${Math.max(1, Math.ceil(e.delay))} s…`);
          lastClose = null;
        })
        .on("closed", onClosed)
        .on("change", showPending);
    }

    $("join-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const name = nameInput.value.trim();
      if (!name) {
        $("join-error").textContent = "Please type a name first.";
        return;
      }
      try {
        validateName(name);
      } catch (error) {
        $("join-error").textContent = error.message;
        return;
      }
      if (!$("token-row").hidden) {
        const typed = tokenInput.value.trim();
        if (typed) {
          token = typed;
          params.set("token", typed); // a reload keeps it
          history.replaceState(null, "", `${location.pathname}?${params}`);
        }
      }
      $("join-error").textContent = "";
      sessionStorage.setItem("wslab-name", name);
      if (client === null || client.session.state === "closed") {
        startClient();
        client.join(name, room).start();
      } else {
        client.join(name, room);
      }
    });

    const input = $("message-input");
    input.addEventListener("input", () => {
      if (client) client.keystroke(input.value);
    });
    $("send-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const content = input.value;
      if (!client || !content.trim()) return;
      try {
        client.say(content);
      } catch (error) {
        notice(error.message);
        return;
      }
      input.value = "";
    });
    window.addEventListener("pagehide", () => {
      if (client) client.close(1000, "left the page");
    });

    // The join QR code, for a projector: offered when the server has one for this token.
    function closeQr() {
      $("qr-overlay").hidden = true;
      if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
      $("qr-button").focus();
    }
    function showQr(join) {
      $("qr-image").src = near("join.svg").href;
      $("qr-page").textContent = join.code ? `or open ${join.page} and type the join code` : `or open ${join.page}`;
      $("qr-code").textContent = join.code || "";
      const overlay = $("qr-overlay");
      overlay.hidden = false;
      if (overlay.requestFullscreen) overlay.requestFullscreen().catch(() => {}); // not allowed everywhere: the overlay covers the page anyway
      $("qr-close").focus();
    }
    // Asked only of a server that has one (data-join, wslab serve off loopback), with a token.
    if (typeof fetch === "function" && document.body.dataset.join && token) {
      fetch(near(document.body.dataset.join).href, { cache: "no-store" })
        .then((response) => (response.ok ? response.json() : null))
        .then((join) => {
          if (!join || typeof join.link !== "string") return;
          $("qr-row").hidden = false;
          $("qr-button").addEventListener("click", () => showQr(join));
        })
        .catch(() => {}); // no QR code: a server on loopback, or an older one
    }
    $("qr-close").addEventListener("click", closeQr);
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !$("qr-overlay").hidden) closeQr();
    });
    document.addEventListener("fullscreenchange", () => {
      if (!document.fullscreenElement && !$("qr-overlay").hidden) $("qr-overlay").hidden = true;
    });

    if (!token) {
      $("token-row").hidden = false;
      setState("idle", "choose a name, and type the token or join code your instructor gives you");
    } else {
      setState("idle", "choose a name");
    }
    nameInput.focus();
  })();
}
