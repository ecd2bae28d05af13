// wslab browser chat: the seed lesson's WebSocketClient, fixed and extended.
//
// Plain JavaScript, no dependencies, no build step. Served at /static/chat.js
// by `wslab serve` (and by any wslab server) next to the page at GET /.
//
// Layers, as in the Python package:
//   * pure pieces that take the time as an argument and return decisions
//     (Backoff, TypingSender, SeqLog, Outbox, typingText): no sockets, no timers;
//   * WebSocketClient: the seed's auto-reconnecting client with typed events;
//   * ChatSession: the chat protocol (join, catch-up, acks, typing) on top of it;
//   * the page: renders every user string with textContent, never innerHTML.
//
// What the seed got wrong, and what this file does instead:
//   * sends while offline were silently dropped: send() returns false, and chat
//     messages wait in an Outbox until the server acknowledges them;
//   * bad JSON was swallowed by `catch {}`: it is reported as a "bad-message" event;
//   * the backoff was reset on every open, so a server that accepts and closes at
//     once was hammered every second: it is reset only once a connection has
//     stayed up for `stableAfter` ms; delays carry random jitter so a room of
//     browsers does not reconnect in lockstep;
//   * it reconnected forever, even when told not to: close codes 4001 (bad
//     token), 4003 (kicked) and 1008 (flooding) are final.
"use strict";

(function (global) {
  /** Close codes after which reconnecting cannot help (see wslab/protocol.py). */
  const FINAL_CLOSE_CODES = new Set([1008, 4001, 4003]);

  /** Exponential backoff with jitter; reset only after a stable connection. */
  class Backoff {
    constructor({ initial = 1000, max = 30000, factor = 2, jitter = 0.3, stableAfter = 5000, random = Math.random } = {}) {
      Object.assign(this, { initial, max, factor, jitter, stableAfter, random });
      this.attempt = 0;
    }
    /** The delay before the next attempt, in ms; each call doubles the base up to `max`. */
    next() {
      const base = Math.min(this.initial * this.factor ** this.attempt, this.max);
      this.attempt += 1;
      return Math.round(base * (1 - this.jitter * this.random()));
    }
    /** A connection closed after staying open `openMs` ms (0 if it never opened). */
    closed(openMs) {
      if (openMs >= this.stableAfter) this.attempt = 0;
    }
  }

  /**
   * When to send `typing` frames. Pure: the caller passes `now` (ms) and acts on
   * the result (true/false: send {type: "typing", typing: result}; null: send nothing).
   * Sends true on the first keystroke, not on every key (again only every
   * `refresh` ms, so the server's 5 s expiry never fires while you type), and
   * false after `idle` ms without input or when the message is sent.
   */
  class TypingSender {
    constructor({ idle = 2000, refresh = 3000 } = {}) {
      Object.assign(this, { idle, refresh });
      this.typing = false;
      this.lastInput = 0;
      this.lastSent = 0;
    }
    input(now) {
      this.lastInput = now;
      if (!this.typing || now - this.lastSent >= this.refresh) {
        this.typing = true;
        this.lastSent = now;
        return true;
      }
      return null;
    }
    /** Call at deadline(): returns false once idle long enough. */
    tick(now) {
      if (this.typing && now - this.lastInput >= this.idle) {
        this.typing = false;
        return false;
      }
      return null;
    }
    /** The message was sent: stop typing. */
    sent() {
      if (!this.typing) return null;
      this.typing = false;
      return false;
    }
    /** The connection dropped: the server has forgotten us. */
    reset() {
      this.typing = false;
    }
    /** When tick() has work, or null. */
    deadline() {
      return this.typing ? this.lastInput + this.idle : null;
    }
  }

  /** Chat messages seen, by room sequence number: each seq is shown once. */
  class SeqLog {
    constructor() {
      this.seen = new Set();
      this.last = 0;
    }
    /** True the first time `seq` is offered, false for a duplicate. */
    accept(seq) {
      if (!Number.isInteger(seq) || this.seen.has(seq)) return false;
      this.seen.add(seq);
      if (seq > this.last) this.last = seq;
      if (this.seen.size > 5000) {
        for (const old of this.seen) {
          if (old < this.last - 2500) this.seen.delete(old);
        }
      }
      return true;
    }
    reset() {
      this.seen.clear();
      this.last = 0;
    }
  }

  /** Chat messages sent but not yet acknowledged; resent (same id) after a reconnect. */
  class Outbox {
    constructor(prefix) {
      this.prefix = prefix;
      this.counter = 0;
      this.pending = new Map();
    }
    add(content) {
      this.counter += 1;
      const message = { type: "chat", id: `${this.prefix}-${this.counter}`, content };
      this.pending.set(message.id, message);
      return message;
    }
    ack(id) {
      this.pending.delete(id);
    }
    all() {
      return [...this.pending.values()];
    }
    get size() {
      return this.pending.size;
    }
  }

  /** The same text as wslab.typing_text in Python. */
  function typingText(names, me = null, several = 3) {
    const others = [...new Set(names)].filter((name) => name !== me);
    if (others.length === 0) return "";
    if (others.length >= several) return "Several people are typing…";
    if (others.length === 1) return `${others[0]} is typing…`;
    return `${others.slice(0, -1).join(", ")} and ${others[others.length - 1]} are typing…`;
  }

  /**
   * The seed's auto-reconnecting client with typed events, fixed.
   * Events: "connecting", "connect", "disconnect" {code, reason, retryIn (ms or null)},
   * "message" (every valid message), one event per message type ("chat", "welcome", …),
   * "bad-message" {data, error}.
   */
  class WebSocketClient {
    #url; #ws = null; #handlers = {}; #backoff; #timer = null; #stopped = false; #openedAt = null; #now;

    constructor(url, { backoff = new Backoff(), now = () => performance.now() } = {}) {
      this.#url = url;
      this.#backoff = backoff;
      this.#now = now;
      this.#connect();
    }

    #connect() {
      this.#timer = null;
      if (this.#stopped) return;
      this.#openedAt = null;
      this.#emit("connecting");
      const ws = new WebSocket(this.#url);
      this.#ws = ws;

      ws.onopen = () => {
        this.#openedAt = this.#now();
        this.#emit("connect");
      };

      ws.onmessage = (e) => {
        let msg;
        try {
          msg = JSON.parse(e.data);
        } catch (error) {
          this.#emit("bad-message", { data: String(e.data).slice(0, 200), error: String(error) });
          return;
        }
        if (msg === null || typeof msg !== "object" || typeof msg.type !== "string") {
          this.#emit("bad-message", { data: String(e.data).slice(0, 200), error: "no string 'type' field" });
          return;
        }
        this.#emit("message", msg);
        this.#emit(msg.type, msg);
      };

      ws.onclose = (e) => {
        if (this.#ws !== ws) return;
        this.#ws = null;
        this.#backoff.closed(this.#openedAt === null ? 0 : this.#now() - this.#openedAt);
        const final = this.#stopped || FINAL_CLOSE_CODES.has(e.code);
        const retryIn = final ? null : this.#backoff.next();
        this.#emit("disconnect", { code: e.code, reason: e.reason, retryIn });
        if (retryIn !== null) this.#timer = setTimeout(() => this.#connect(), retryIn);
      };
    }

    /** 0 CONNECTING, 1 OPEN, 2 CLOSING, 3 CLOSED (also while waiting to retry). */
    get readyState() {
      return this.#ws ? this.#ws.readyState : 3;
    }

    /** Send `data` as JSON if open; returns whether it was sent (the seed dropped it silently). */
    send(data) {
      if (this.#ws && this.#ws.readyState === 1) {
        this.#ws.send(JSON.stringify(data));
        return true;
      }
      return false;
    }

    /** Drop this connection and go through the backoff to a new one. */
    reconnect(reason = "reconnecting") {
      if (this.#ws) this.#ws.close(1000, reason);
    }

    /** Close for good: no more reconnects. */
    close(code = 1000, reason = "bye") {
      this.#stopped = true;
      if (this.#timer !== null) clearTimeout(this.#timer);
      this.#timer = null;
      if (this.#ws) this.#ws.close(code, reason);
    }

    on(event, fn) {
      (this.#handlers[event] = this.#handlers[event] || []).push(fn);
      return this;
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

  /**
   * The chat protocol over a WebSocketClient: join (and re-join with `since`),
   * history catch-up without duplicates, acks and resends, typing indicators.
   * Reports to the page through `view`, an object of callbacks.
   */
  class ChatSession {
    constructor({ url, name, room, view, now = () => performance.now() }) {
      Object.assign(this, { url, name, room, view, now });
      this.log = new SeqLog();
      this.outbox = new Outbox(Math.random().toString(36).slice(2, 10));
      this.typing = new TypingSender();
      this.typingTimer = null;
      this.joined = false;
      this.everJoined = false;
      this.client = new WebSocketClient(url, { now });
      this.#wire();
    }

    #wire() {
      const c = this.client;
      c.on("connecting", () => this.view.state("connecting", this.everJoined ? "reconnecting…" : "connecting…"));
      c.on("connect", () => {
        const join = { type: "join", name: this.name, room: this.room };
        if (this.everJoined) join.since = this.log.last;
        c.send(join);
      });
      c.on("welcome", (m) => this.#welcome(m));
      c.on("chat", (m) => {
        if (this.log.accept(m.seq)) this.view.chat(m);
      });
      c.on("ack", (m) => {
        this.outbox.ack(m.id);
        this.view.pending(this.outbox.size);
      });
      c.on("typing", (m) => this.view.typing(typingText(m.typing || [], this.name)));
      c.on("presence", (m) => {
        this.view.online(m.online || []);
        if (m.joined && m.joined !== this.name) this.view.notice(`${m.joined} joined`);
        if (m.left) this.view.notice(`${m.left} left`);
      });
      c.on("notice", (m) => this.view.notice(String(m.message)));
      c.on("error", (m) => this.#error(m));
      c.on("bad-message", (m) => this.view.notice(`ignored a message that is not valid chat JSON (${m.error})`));
      c.on("disconnect", (e) => this.#disconnect(e));
    }

    #welcome(m) {
      if (m.seq < this.log.last) {
        // A fresh server (not the same one back from an outage): its numbering starts again.
        this.view.notice("the server was restarted with an empty history; earlier messages stay above");
        this.log.reset();
      }
      if (this.everJoined && m.history_complete === false) {
        this.view.notice("some messages sent while you were away are no longer kept by the server");
      }
      for (const chat of m.history || []) {
        if (this.log.accept(chat.seq)) this.view.chat(chat);
      }
      this.joined = true;
      this.everJoined = true;
      this.view.online(m.online || []);
      this.view.typing(typingText(m.typing || [], this.name));
      this.view.state("online", `online as ${this.name}`);
      this.view.joined(m);
      for (const message of this.outbox.all()) this.client.send(message);
      this.view.pending(this.outbox.size);
    }

    #error(m) {
      if (m.code === "name-taken" && !this.everJoined) {
        this.client.close(1000, "name taken");
        this.view.nameRefused(String(m.message));
        return;
      }
      if (m.code === "name-taken") {
        // Our own old connection is still known to the server: try again shortly.
        this.view.state("connecting", "waiting for the old connection to time out…");
        this.client.reconnect("name still taken");
        return;
      }
      if (m.code === "name-invalid" && !this.everJoined) {
        this.client.close(1000, "invalid name");
        this.view.nameRefused(String(m.message));
        return;
      }
      if (m.code === "muted") {
        this.outbox.pending.clear();
        this.view.pending(0);
      }
      if (m.code === "rate-limited") {
        setTimeout(() => this.#resend(), 1000);
      }
      this.view.notice(String(m.message));
    }

    #resend() {
      if (this.joined) for (const message of this.outbox.all()) this.client.send(message);
    }

    #disconnect(e) {
      this.joined = false;
      this.typing.reset();
      this.#clearTypingTimer();
      this.view.typing("");
      if (e.retryIn === null) {
        const why = {
          4001: "the server refused the token: open the link with ?token=… that your instructor gave",
          4003: "an instructor removed you from the room",
          1008: "disconnected for sending too many messages",
        }[e.code] || `disconnected (${e.code} ${e.reason || ""})`.trim();
        if (this.everJoined || e.code !== 1000) this.view.state("closed", why);
        return;
      }
      const why = e.code === 4008 ? "you stopped reading for too long" : `connection lost (${e.code})`;
      this.view.state("reconnecting", `${why}; reconnecting in ${Math.ceil(e.retryIn / 1000)} s…`);
    }

    /** Queue and send a chat message; it is resent after a reconnect until acknowledged. */
    say(content) {
      const message = this.outbox.add(content);
      if (this.joined) this.client.send(message);
      const stop = this.typing.sent();
      this.#clearTypingTimer();
      if (stop === false && this.joined) this.client.send({ type: "typing", typing: false });
      this.view.pending(this.outbox.size);
    }

    /** The user typed something into the message box. */
    input() {
      if (!this.joined) return;
      if (this.typing.input(this.now()) === true) this.client.send({ type: "typing", typing: true });
      this.#armTypingTimer();
    }

    #armTypingTimer() {
      this.#clearTypingTimer();
      const deadline = this.typing.deadline();
      if (deadline === null) return;
      this.typingTimer = setTimeout(() => {
        this.typingTimer = null;
        if (this.typing.tick(this.now()) === false) {
          if (this.joined) this.client.send({ type: "typing", typing: false });
        } else {
          this.#armTypingTimer();
        }
      }, Math.max(0, deadline - this.now()) + 10);
    }

    #clearTypingTimer() {
      if (this.typingTimer !== null) clearTimeout(this.typingTimer);
      this.typingTimer = null;
    }

    leave() {
      this.client.close(1000, "left the page");
    }
  }

  global.wslab = { Backoff, TypingSender, SeqLog, Outbox, typingText, WebSocketClient, ChatSession, FINAL_CLOSE_CODES };
})(window);

// ---------------------------------------------------------------- the page

(function () {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  const room = params.get("room") || document.body.dataset.room || "lobby";
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const url = `${scheme}//${location.host}/chat${token ? `?token=${encodeURIComponent(token)}` : ""}`;

  $("room").textContent = room;
  const nameInput = $("name-input");
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

  function append(item) {
    const list = $("messages");
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(item);
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  let me = null;
  const view = {
    state: setState,
    chat(m) {
      const item = document.createElement("li");
      item.className = m.sender === me ? "message mine" : "message";
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
    },
    notice(text) {
      const item = document.createElement("li");
      item.className = "notice";
      item.textContent = text;
      append(item);
    },
    typing(text) {
      $("typing").textContent = text;
    },
    online(names) {
      const list = $("online-list");
      list.replaceChildren(
        ...names.map((name) => {
          const item = document.createElement("li");
          item.textContent = String(name);
          return item;
        }),
      );
      $("online-count").textContent = String(names.length);
    },
    pending(count) {
      $("pending").textContent = count ? `${count} message${count === 1 ? "" : "s"} waiting to be sent` : "";
    },
    joined() {
      $("join-form").hidden = true;
      $("chat").hidden = false;
      $("message-input").focus();
    },
    nameRefused(text) {
      session = null;
      $("join-error").textContent = text;
      $("join-form").hidden = false;
      $("chat").hidden = true;
      setState("idle", "choose a name");
      nameInput.focus();
    },
  };

  let session = null;
  $("join-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = nameInput.value.trim();
    if (!name) {
      $("join-error").textContent = "Please type a name first.";
      return;
    }
    $("join-error").textContent = "";
    sessionStorage.setItem("wslab-name", name);
    me = name;
    session = new window.wslab.ChatSession({ url, name, room, view });
    window.wslabChat = session;
  });

  const input = $("message-input");
  input.addEventListener("input", () => {
    if (session && input.value.trim()) session.input();
  });
  $("send-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const content = input.value;
    if (!session || !content.trim()) return;
    session.say(content);
    input.value = "";
  });

  if (!token) {
    setState("idle", "no token in the link (fine on your own machine; a classroom server needs ?token=…)");
  } else {
    setState("idle", "choose a name");
  }
  nameInput.focus();
})();
