"""The reconnect timeline: connects, the outage, and every attempt with its delay, as a plot."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import ipywidgets as widgets

from wslab.ui._html import TEXT, esc
from wslab.ui.models import ReconnectTimeline

__all__ = ["TimelinePlot", "timeline_svg"]


def timeline_svg(timeline: ReconnectTimeline, width: int = 640, height: int = 150) -> str:
    """Draw ``timeline`` as SVG: red outage spans, green connects, one bar per reconnect delay.

    Named for a screen reader by the timeline's summary; a disconnect is a square and a connect a
    circle, so the shapes tell them apart without the colours.
    """
    span = max(timeline.end, max((a.at + a.delay for a in timeline.attempts), default=0.0), 1.0)
    left, right = 30, width - 75  # room on the right for the last delay label
    scale = (right - left) / span

    def x(t: float) -> float:
        return left + t * scale

    axis_y = height - 25
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(timeline.summary())}" '
        'style="font-family:sans-serif;font-size:12px">',
        f"<title>{esc(timeline.summary())}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>',
        f'<line x1="{left}" y1="{axis_y}" x2="{right}" y2="{axis_y}" stroke="#888"/>',
    ]
    step = next(s for s in (0.5, 1, 2, 5, 10, 30, 60, 300, 3600) if span / s <= 12)
    t = 0.0
    while t <= span + 1e-9:
        parts.append(f'<line x1="{x(t):.1f}" y1="{axis_y}" x2="{x(t):.1f}" y2="{axis_y + 4}" stroke="#888"/>')
        parts.append(f'<text x="{x(t):.1f}" y="{axis_y + 16}" text-anchor="middle" fill="#555">{t:g}s</text>')
        t += step
    for outage in timeline.outages:
        end = outage.end if outage.end is not None else span
        label = "outage" + (f" (close {outage.code})" if outage.code else "")
        parts.append(
            f'<rect x="{x(outage.start):.1f}" y="10" width="{max(1.0, (end - outage.start) * scale):.1f}" '
            f'height="{axis_y - 10}" fill="#d9534f" fill-opacity="0.15"/>'
            f'<text x="{x(outage.start) + 3:.1f}" y="22" fill="#a12622">{esc(label)}</text>'
        )
    for i, attempt in enumerate(timeline.attempts):
        y = 34 + (i % 6) * 12
        parts.append(
            f'<line x1="{x(attempt.at):.1f}" y1="{y}" x2="{x(attempt.at + attempt.delay):.1f}" y2="{y}" '
            f'stroke="#f0ad4e" stroke-width="6"/>'
            f'<text x="{x(attempt.at + attempt.delay) + 4:.1f}" y="{y + 4}" fill="#8a5a00">'
            f"#{attempt.attempt} {attempt.delay:.2f}s</text>"
        )
    for at in timeline.connects:
        parts.append(f'<circle cx="{x(at):.1f}" cy="{axis_y}" r="6" fill="#5cb85c"><title>connect</title></circle>')
    for at, _code in timeline.disconnects:
        parts.append(
            f'<rect x="{x(at) - 5:.1f}" y="{axis_y - 5}" width="10" height="10" fill="#c9302c">'
            "<title>disconnect</title></rect>"
        )
    parts.append("</svg>")
    return "".join(parts)


class TimelinePlot(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped: VBox is Any
    """A plot of a :class:`wslab.ReconnectingClient`'s reconnects, redrawn as they happen.

    ``TimelinePlot(client)`` redraws on the client's connect, disconnect and
    reconnecting events; ``TimelinePlot(history=...)`` draws a history once.
    :attr:`timeline` is the :class:`~wslab.ui.models.ReconnectTimeline` drawn.
    """

    def __init__(self, client: Any = None, *, history: Iterable[tuple[float, str, Any]] | None = None) -> None:
        self.client = client
        self._history = list(history) if history is not None else None
        self.plot = widgets.HTML()
        self.caption = widgets.HTML()
        super().__init__([self.plot, self.caption])
        self.timeline = ReconnectTimeline()
        if client is not None:
            for event in ("connect", "disconnect", "reconnecting"):
                client.on(event, lambda *args: self.update())
        self.update()

    def update(self) -> ReconnectTimeline:
        """Read the history again and redraw; returns the timeline."""
        history = self._history if self._history is not None else list(getattr(self.client, "history", []))
        self.timeline = ReconnectTimeline.from_history(history)
        self.plot.value = timeline_svg(self.timeline)
        delays = ", ".join(f"{d:.2f}s" for d in self.timeline.delays) or "none yet"
        self.caption.value = (
            f'<div style="font-family:sans-serif;font-size:12px;color:{TEXT}">{esc(self.timeline.summary())}. '
            f"Delays: {esc(delays)}</div>"
        )
        return self.timeline

    def __repr__(self) -> str:
        return "TimelinePlot(reconnects of " + ("a client" if self.client is not None else "a history") + ")"
