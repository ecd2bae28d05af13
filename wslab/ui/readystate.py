"""A readyState light: the four states of a WebSocket, live, with a log of its events."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from wslab.core.clock import SYSTEM_CLOCK, Clock
from wslab.ui._html import TEXT, esc
from wslab.ui.models import READY_STATE_NAMES, ReadyStateModel

__all__ = ["ReadyStateLight"]

_COLOURS = ("#f0ad4e", "#5cb85c", "#f0ad4e", "#d9534f")
"""Amber while CONNECTING, green when OPEN, amber while CLOSING, red once CLOSED."""


class ReadyStateLight(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped: VBox is Any
    """A light showing a WebSocket's ``readyState``, and the log of what happened to it.

    ``ReadyStateLight(ws)`` listens to ``ws``'s four events. Use
    :meth:`send` and :meth:`close` instead of ``ws.send``/``ws.close`` to see
    what each call does in each state (the browser's rules: ``send()`` while
    CONNECTING raises, while CLOSING or CLOSED it silently does nothing).
    The state shown is read from ``ws.ready_state`` after every event.
    """

    def __init__(self, ws: Any = None, *, clock: Clock = SYSTEM_CLOCK, title: str = "readyState") -> None:
        self.model = ReadyStateModel(clock)
        self.ws: Any = None
        self.title = title
        self.light = widgets.HTML()
        self.log_view = widgets.HTML()
        super().__init__([self.light, self.log_view])
        self.model.observe(lambda _kind: self._render())
        self._render()
        if ws is not None:
            self.watch(ws)

    # ------------------------------------------------------------ wiring

    def watch(self, ws: Any) -> None:
        """Follow ``ws`` (a :class:`wslab.WebSocket`): log its open, message, close and error events."""
        self.ws = ws
        for event in ("open", "message", "close", "error"):
            ws.add_event_listener(event, lambda e, event=event: self.record(event, _describe(event, e)))
        self.model.record("new", "WebSocket(url)", self._state())

    def _state(self) -> int | None:
        state = getattr(self.ws, "ready_state", None)
        return state if isinstance(state, int) and 0 <= state <= 3 else None

    def record(self, event: str, detail: str = "") -> None:
        """Log ``event`` with the socket's current readyState."""
        self.model.record(event, detail, self._state())

    def refresh(self) -> int:
        """Read ``ws.ready_state`` again (states change between events, e.g. on close()); returns it."""
        state = self._state()
        if state is not None and state != self.model.state:
            self.model.record("state", "", state)
        return self.model.state

    def send(self, data: Any) -> str:
        """Call ``ws.send(data)`` and log what happened; returns the outcome in words."""
        name = READY_STATE_NAMES[self.refresh()]
        try:
            self.ws.send(data)
        except Exception as exc:  # the browser raises InvalidStateError while CONNECTING
            outcome = f"raised {type(exc).__name__}"
        else:
            outcome = "sent" if name == "OPEN" else "ignored: nothing was sent"
        self.record("send()", f"{_short(data)} in {name}: {outcome}")
        return outcome

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Call ``ws.close(code, reason)`` and log it."""
        self.ws.close(code, reason)
        self.record("close()", f"{code} {reason!r}")

    # ------------------------------------------------------------ view

    @property
    def state(self) -> str:
        return self.model.name

    def lines(self) -> list[str]:
        """The event log without times (the same on every run)."""
        return self.model.lines()

    def _render(self) -> None:
        state = self.model.state
        self.light.value = (
            f'<div style="display:flex;align-items:center;gap:8px;font-family:sans-serif;color:{TEXT}">'
            f'<span aria-hidden="true" style="display:inline-block;width:18px;height:18px;border-radius:50%;'
            f'background:{_COLOURS[state]};box-shadow:0 0 6px {_COLOURS[state]}"></span>'
            f"<b>{esc(self.title)}</b> = {state} <code>{READY_STATE_NAMES[state]}</code></div>"
        )
        rows = "\n".join(esc(line) for line in self.model.lines(times=True)[-12:])
        self.log_view.value = (
            f'<pre role="log" aria-label="{esc(self.title)} events" tabindex="0" '
            f'style="margin:4px 0;font-size:12px;max-height:14em;overflow:auto;color:{TEXT}">'
            f"{rows or '(no events yet)'}</pre>"
        )

    def __repr__(self) -> str:
        return f"ReadyStateLight(state={self.model.state} {self.model.name})"


def _short(data: Any, limit: int = 40) -> str:
    text = repr(data)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(event: str, e: Any) -> str:
    if event == "message":
        return _short(getattr(e, "data", e))
    if event == "close":
        code, reason = getattr(e, "code", None), getattr(e, "reason", "")
        clean = getattr(e, "was_clean", None)
        return f"code={code} reason={reason!r}" + ("" if clean is None else f" was_clean={clean}")
    return ""
