"""Pictures for the reconnect lesson, simulated with the sans-I/O :class:`~wslab.core.backoff.Backoff`.

Nothing here opens a socket or reads a clock: a figure is computed from
policies (seeded, so the same policies draw the same SVG on every run, and a
saved notebook validates strictly), and returned as a small inline SVG in a
:class:`Figure` (``text/html`` for readers, a ``text/plain`` summary for
nbval and for screen readers).

* :func:`simulate_herd` / :func:`herd_histogram`: a class of clients that all
  lost the server at the same moment, and when their reconnect attempts land,
  with and without jitter;
* :func:`simulate_flapping` / :func:`flapping_timeline`: one client against a
  server that accepts each connection and drops it half a second later, the
  seed's backoff (reset on every open) beside the fixed one, on one time axis.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from wslab.core.backoff import Backoff, BackoffPolicy
from wslab.ui._html import esc

__all__ = ["Figure", "simulate_herd", "herd_histogram", "simulate_flapping", "flapping_timeline", "Wait"]


class Figure:
    """An SVG picture with a plain-text summary, which is also its accessible name.

    In a notebook it shows as ``<img src="data:image/svg+xml;base64,..." alt="summary">``
    (``text/html``): an image with an ``alt`` text renders the same in JupyterLab (trusted or
    not), on GitHub and in nbviewer, and screen readers read the summary. The SVG itself
    carries the same name (``role="img"``, ``aria-label`` and a ``<title>``), for who opens it
    alone. Its ``text/plain`` is the summary, which nbval compares too.
    """

    def __init__(self, svg: str, summary: str) -> None:
        self.summary = summary
        self.svg = _named(svg, summary)

    def _repr_html_(self) -> str:
        size = re.search(r'width="(\d+)" height="(\d+)"', self.svg)
        width, height = size.groups() if size else ("640", "200")
        data = base64.b64encode(self.svg.encode("utf-8")).decode("ascii")
        return (
            f'<img src="data:image/svg+xml;base64,{data}" alt="{esc(self.summary)}" '
            f'width="{width}" height="{height}" style="max-width:100%;height:auto">'
        )

    def __repr__(self) -> str:
        return self.summary


def _named(svg: str, name: str) -> str:
    """``svg`` with ``role="img"``, an ``aria-label`` and a ``<title>``: its accessible name."""
    head_end = svg.index(">") + 1
    head = svg[:head_end]
    if 'role="img"' not in head:
        head = head.replace("<svg ", '<svg role="img" ', 1)
    if "aria-label=" not in head:
        head = head.replace('role="img"', f'role="img" aria-label="{esc(name)}"', 1)
    rest = svg[head_end:]
    if not rest.startswith("<title>"):
        rest = f"<title>{esc(name)}</title>" + rest
    return head + rest


def simulate_herd(policy: BackoffPolicy, clients: int = 50, attempts: int = 4) -> list[float]:
    """When each of ``clients`` clients makes each of its first ``attempts`` reconnect tries.

    All lost the server at t = 0 and every try fails (the server is still down),
    so try ``n`` happens at the sum of the first ``n`` delays. Client ``i`` uses
    ``policy`` with ``seed=policy.seed + i`` (or ``i``), so each client draws its
    own jitter and the result repeats.
    """
    times = []
    for i in range(clients):
        own = policy(seed=(policy.seed or 0) * 1000 + i)
        backoff, t = Backoff(own), 0.0
        for _ in range(attempts):
            t += backoff.next_delay()
            times.append(t)
    return times


def _histogram_svg(rows: Mapping[str, list[float]], *, bin_width: float, span: float,
                   width: int = 640, row_height: int = 90) -> tuple[str, dict[str, int]]:
    bins = max(1, int(span / bin_width + 0.5))
    left, right, top = 150, width - 10, 8
    height = top + row_height * len(rows) + 24
    bar_w = (right - left) / bins
    counts_by_row = {}
    for times in rows.values():
        counts = [0] * bins
        for t in times:
            if 0 <= t < span:
                counts[min(bins - 1, int(t / bin_width))] += 1
        counts_by_row[id(times)] = counts
    peak = max((max(c) for c in counts_by_row.values()), default=1) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'role="img" style="font-family:sans-serif;font-size:11px">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>',
    ]
    busiest = {}
    for r, (label, times) in enumerate(rows.items()):
        counts = counts_by_row[id(times)]
        busiest[label] = max(counts, default=0)
        base = top + (r + 1) * row_height - 8
        parts.append(f'<text x="4" y="{base - row_height / 2 + 10:.0f}" fill="#333">{esc(label)}</text>')
        parts.append(f'<text x="4" y="{base - row_height / 2 + 24:.0f}" fill="#888">busiest {bin_width:g} s: '
                     f"{busiest[label]}</text>")
        parts.append(f'<line x1="{left}" y1="{base}" x2="{right}" y2="{base}" stroke="#888"/>')
        for b, count in enumerate(counts):
            if count:
                h = (row_height - 16) * count / peak
                parts.append(f'<rect x="{left + b * bar_w:.1f}" y="{base - h:.1f}" width="{max(1.0, bar_w - 1):.1f}" '
                             f'height="{h:.1f}" fill="#f0ad4e"><title>{count}</title></rect>')
    axis = top + row_height * len(rows) + 4
    step = next(s for s in (0.5, 1, 2, 5, 10, 30, 60) if span / s <= 16)
    t = 0.0
    while t <= span + 1e-9:
        x = left + t / span * (right - left)
        parts.append(f'<text x="{x:.1f}" y="{axis + 12}" text-anchor="middle" fill="#555">{t:g}s</text>')
        t += step
    parts.append("</svg>")
    return "".join(parts), busiest


def herd_histogram(policies: Mapping[str, BackoffPolicy], clients: int = 50, attempts: int = 4,
                   bin_width: float = 0.25) -> Figure:
    """A histogram per policy: how many of ``clients`` reconnect tries land in each ``bin_width`` s."""
    rows = {label: simulate_herd(policy, clients, attempts) for label, policy in policies.items()}
    span = max((max(times) for times in rows.values() if times), default=1.0)
    span = float(int(span) + 1)
    svg, busiest = _histogram_svg(rows, bin_width=bin_width, span=span)
    summary = "; ".join(f"{label}: at most {n} of {clients} clients' tries in one {bin_width:g} s"
                        for label, n in busiest.items())
    return Figure(svg, f"reconnect tries of {clients} clients over time ({summary})")


@dataclass(frozen=True)
class Wait:
    """One wait before a reconnect try, and the connection that followed (``up`` s long)."""

    start: float
    delay: float
    up: float


def simulate_flapping(policy: BackoffPolicy, seconds: float = 30.0, up: float = 0.5) -> list[Wait]:
    """A server that accepts each connection and drops it ``up`` s later: the waits of one client."""
    backoff, t, waits = Backoff(policy), 0.0, []
    while True:
        delay = backoff.next_delay()
        if t + delay + up > seconds:
            break
        waits.append(Wait(t, delay, up))
        t += delay
        backoff.on_open(t)
        t += up
        backoff.on_close(t)
    return waits


def flapping_timeline(policies: Mapping[str, BackoffPolicy], seconds: float = 30.0, up: float = 0.5,
                      width: int = 640) -> Figure:
    """The clients' waits (orange) and short-lived connections (green) on one time axis."""
    rows = {label: simulate_flapping(policy, seconds, up) for label, policy in policies.items()}
    left, right, row_h = 150, width - 10, 34
    height = 10 + row_h * len(rows) + 24
    scale = (right - left) / seconds
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'role="img" style="font-family:sans-serif;font-size:11px">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>',
    ]
    for r, (label, waits) in enumerate(rows.items()):
        y = 10 + r * row_h
        parts.append(f'<text x="4" y="{y + 12}" fill="#333">{esc(label)}</text>')
        parts.append(f'<text x="4" y="{y + 25}" fill="#888">{len(waits)} connections</text>')
        for w in waits:
            wait_w, up_w = max(0.5, w.delay * scale - 0.5), max(0.5, w.up * scale)
            parts.append(f'<rect x="{left + w.start * scale:.1f}" y="{y + 4}" width="{wait_w:.1f}" '
                         f'height="14" fill="#f0ad4e"><title>wait {w.delay:.2f} s</title></rect>')
            parts.append(f'<rect x="{left + (w.start + w.delay) * scale:.1f}" y="{y + 4}" '
                         f'width="{up_w:.1f}" height="14" fill="#5cb85c"><title>connected</title></rect>')
    axis = 10 + row_h * len(rows)
    parts.append(f'<line x1="{left}" y1="{axis}" x2="{right}" y2="{axis}" stroke="#888"/>')
    step = next(s for s in (1, 2, 5, 10, 30, 60) if seconds / s <= 12)
    t = 0.0
    while t <= seconds + 1e-9:
        parts.append(f'<text x="{left + t * scale:.1f}" y="{axis + 14}" text-anchor="middle" fill="#555">{t:g}s</text>')
        t += step
    parts.append("</svg>")
    summary = "; ".join(
        f"{label}: {len(waits)} connections in {seconds:g} s, waits {_short([w.delay for w in waits])}"
        for label, waits in rows.items()
    )
    return Figure("".join(parts), f"a server that drops each connection after {up:g} s ({summary})")


def _short(delays: Sequence[float], keep: int = 6) -> str:
    shown = ", ".join(f"{d:g}" for d in delays[:keep])
    return f"[{shown}{', …' if len(delays) > keep else ''}]"
