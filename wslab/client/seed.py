"""The seed lesson's ``WebSocketClient``, ported line for line, flaws included.

This is the class from the JavaScript lesson (``docs/reconnect.md`` quotes it),
written with :class:`wslab.WebSocket` so each Python line matches a JavaScript
one. It exists so lessons and tests can *show* its flaws next to
:class:`wslab.ReconnectingClient`, which fixes them:

1. ``send()`` while not OPEN does nothing at all: the message is lost and
   nobody is told;
2. ``catch {}`` swallows malformed JSON *and* any exception raised by your own
   handlers;
3. the backoff resets in ``onopen``, so a server that accepts and closes at
   once is retried every ``delay`` seconds forever;
4. no jitter: every client of a restarted server computes the same delays
   and comes back at the same instants.

Two additions that are not in the seed, both marked "not in the seed": the
:attr:`SeedClient.delays` list (what ``setTimeout`` was given, for lessons to
plot) and :meth:`SeedClient.stop` (the seed has no way to stop, which is a
fifth flaw; a notebook needs one to clean up). Delays are in seconds, not ms.
Do not use this class for real work.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from wslab.client.websocket import CloseEvent, Event, MessageEvent, WebSocket

__all__ = ["SeedClient"]


class SeedClient:
    """``class WebSocketClient`` from the seed: auto-reconnect with the seed's flaws."""

    def __init__(self, url: str, *, delay: float = 1.0, cap: float = 30.0) -> None:
        self._url = url  # this.#url = url;
        self._handlers: dict[str, list[Callable[..., Any]]] = {}  # #handlers = {}
        self._initial = delay
        self._delay = delay  # #delay = 1000
        self._cap = cap
        self._loop = asyncio.get_running_loop()
        self._stopped = False
        self._timer: asyncio.TimerHandle | None = None
        self.delays: list[float] = []  # not in the seed: every delay given to setTimeout
        self.connects = 0  # not in the seed: how many times #connect() ran
        self._connect()  # this.#connect();

    @property
    def ws(self) -> WebSocket:
        """Not in the seed (there it is the private ``#ws``): the current socket, for lessons to watch."""
        return self._ws

    def _connect(self) -> None:
        if self._stopped:  # not in the seed
            return
        self.connects += 1
        self._ws = WebSocket(self._url)  # this.#ws = new WebSocket(this.#url);

        def onopen(event: Event) -> None:
            self._delay = self._initial  # this.#delay = 1000;  // reset backoff  (flaw 3)
            self._emit("connect")

        def onmessage(event: MessageEvent) -> None:
            try:
                msg = json.loads(event.data)
                self._emit("message", msg)
                self._emit(msg.get("type") if isinstance(msg, dict) else None, msg)
            except Exception:  # catch {}  (flaw 2)
                pass

        def onclose(event: CloseEvent) -> None:
            self._emit("disconnect")
            if self._stopped:  # not in the seed
                return
            self.delays.append(self._delay)
            # setTimeout(() => this.#connect(), this.#delay);
            self._timer = self._loop.call_later(self._delay, self._connect)
            self._delay = min(self._delay * 2, self._cap)  # exponential backoff, no jitter (flaw 4)

        self._ws.onopen = onopen
        self._ws.onmessage = onmessage
        self._ws.onclose = onclose

    def send(self, data: Any) -> None:
        if self._ws.ready_state == 1:  # if (this.#ws.readyState === 1)
            self._ws.send(json.dumps(data))
        # else: nothing. The message is gone and nobody knows.  (flaw 1)

    def on(self, event: str, fn: Callable[..., Any]) -> SeedClient:
        self._handlers.setdefault(event, []).append(fn)
        return self

    def _emit(self, event: str | None, data: Any = None) -> None:
        for fn in self._handlers.get(event or "", []):  # .forEach(fn => fn(data))
            fn(data)

    @property
    def ready_state(self) -> int:
        """The current socket's ready_state (not in the seed; for lessons)."""
        return self._ws.ready_state

    def stop(self) -> None:
        """Not in the seed: stop reconnecting and close the socket."""
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
        self._ws.close()
