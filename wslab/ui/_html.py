"""Small HTML and SVG helpers shared by the widgets. Every outside string goes through :func:`esc`."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Sequence

__all__ = ["esc", "sparkline", "running_loop"]


def esc(value: object) -> str:
    """``value`` as HTML text: ``<script>`` and ``<img onerror=…>`` show literally, run never."""
    return html.escape(str(value), quote=True)


def sparkline(values: Sequence[float], width: int = 320, height: int = 60, colour: str = "#1f77b4") -> str:
    """An inline SVG line of ``values`` (empty frame when fewer than two)."""
    box = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">'
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
