"""Stand-ins the widgets drive in tests: a client made of a real ClientSession, and strings that must stay text."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from wslab.core.clock import FakeClock
from wslab.core.session import ClientSession, Emit, Send

XSS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"]
"""What a person may type that a page must show as text and never run."""


class FakeClient:
    """A shell for tests: a real ClientSession, its Send actions recorded, its events dispatched.

    The test plays the server by calling message(frame); connected() opens the "connection".
    """

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        self.session = ClientSession(id_prefix="t")
        self.handlers: dict[str, list[Callable[..., Any]]] = {}
        self.sent: list[dict[str, Any]] = []
        self.subscribed: list[str] = []
        self.started = self.closed = False
        self.history: list[tuple[float, str, Any]] = []

    @property
    def state(self) -> str:
        return self.session.state

    @property
    def joined(self) -> tuple[str, str] | None:
        return (self.session.name, self.session.room) if self.session.name else None

    def on(self, event: str, fn: Callable[..., Any]) -> FakeClient:
        self.handlers.setdefault(event, []).append(fn)
        return self

    def emit(self, event: str, *args: Any) -> None:
        for fn in self.handlers.get(event, []):
            fn(*args)

    def do(self, actions: list[Any]) -> None:
        for action in actions:
            if isinstance(action, Send):
                self.sent.append(action.message)
            elif isinstance(action, Emit):
                self.emit(action.event, action.data)

    def connected(self) -> None:
        self.do(self.session.connected(self.clock.monotonic()))
        self.sent.clear()  # the join: not what these tests look at

    def message(self, frame: dict[str, Any]) -> None:
        self.do(self.session.on_frame(json.dumps(frame), self.clock.monotonic()))

    def tick(self) -> None:
        self.do(self.session.tick(self.clock.monotonic()))

    def send(self, frame: dict[str, Any]) -> None:
        self.do(self.session.send(frame, self.clock.monotonic()))

    def say(self, content: str) -> str:
        id_ = self.session.new_id()
        self.do(self.session.say(content, self.clock.monotonic(), id=id_))
        return id_

    def keystroke(self, text: str | None = None) -> None:
        self.do(self.session.keystroke(text, self.clock.monotonic()))

    def join(self, name: str, room: str) -> None:
        self.do(self.session.join(name, room, self.clock.monotonic()))

    def subscribe(self, channel: str) -> None:
        self.subscribed.append(channel)

    def start(self) -> None:
        self.started = True

    def close(self) -> None:
        self.closed = True
