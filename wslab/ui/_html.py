"""Small HTML and SVG helpers shared by the widgets. Every outside string goes through :func:`esc`.

The widgets' colours are here, once, as CSS values (:data:`TEXT`, :data:`MUTED`,
:data:`ACCENT`, :data:`ERROR`): JupyterLab's theme
variables, which meet WCAG AA (4.5:1) against the notebook's background in its
light and its dark theme, each with a fallback that meets it on white (a saved
notebook read on GitHub or nbviewer). A state is never told by colour alone: a
word says it too. Text is at least :data:`SMALL` (12 px).
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Sequence

__all__ = ["ACCENT", "ERROR", "MUTED", "SMALL", "TEXT", "esc", "sparkline", "running_loop"]

TEXT = "var(--jp-content-font-color1, #1a1a1a)"
"""Body text (light theme: 87% black on white; dark: white on #111)."""

MUTED = "var(--jp-content-font-color2, #595959)"
"""Secondary text: times, hints, counts (light: 54% black, 4.6:1 on white; dark: 70% white)."""

ACCENT = "var(--jp-content-link-color, #0d47a1)"
"""Your own name, links (light: #0d47a1, 8.6:1; dark: #64b5f6)."""

ERROR = "var(--jp-error-color1, #b91c1c)"
"""Errors and refusals (light: #d32f2f, 5.0:1; dark: #f44336, 5.1:1 on #111)."""

SMALL = "12px"
"""The smallest text any widget shows."""


def esc(value: object) -> str:
    """``value`` as HTML text: ``<script>`` and ``<img onerror=…>`` show literally, run never."""
    return html.escape(str(value), quote=True)


def sparkline(
    values: Sequence[float], width: int = 320, height: int = 60, colour: str = "#1f77b4", *, label: str = "a chart"
) -> str:
    """An inline SVG line of ``values`` (empty frame when fewer than two), named ``label`` for a screen reader."""
    box = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(label)}">'
    )
    frame = f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fafafa" stroke="#ddd"/>'
    if len(values) < 2:
        return box + frame + "</svg>"
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = (width - 8) / (len(values) - 1)
    points = " ".join(
        f"{4 + i * step:.1f},{height - 4 - (v - low) / span * (height - 8):.1f}" for i, v in enumerate(values)
    )
    return box + frame + f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/></svg>'


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread (the kernel's, in a notebook), or None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
