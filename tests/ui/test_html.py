"""The widgets' HTML helpers: every outside string escaped, a sparkline, the loop running in this thread."""

from __future__ import annotations

import asyncio
import re

import pytest

from support.fakes import XSS
from wslab.ui._html import esc, running_loop, sparkline


@pytest.mark.parametrize("evil", XSS)
def test_esc_shows_markup_as_text(evil: str) -> None:
    shown = esc(evil)
    assert "<" not in shown and ">" not in shown and shown.startswith("&lt;")
    assert esc('a "quoted" \'one\' & more') == "a &quot;quoted&quot; &#x27;one&#x27; &amp; more"
    assert esc(42) == "42"


def test_a_sparkline_spans_its_box_from_the_lowest_to_the_highest_value() -> None:
    svg = sparkline([1.0, 3.0, 2.0], width=104, height=28)
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" width="104" height="28"') and svg.endswith("</svg>")
    points = re.search(r'points="([^"]+)"', svg)
    assert points, svg
    xy = [tuple(float(n) for n in pair.split(",")) for pair in points.group(1).split()]
    assert xy == [(4.0, 24.0), (52.0, 4.0), (100.0, 14.0)]  # 4 px margins; the lowest at the bottom


def test_fewer_than_two_values_or_a_flat_line_draw_safely() -> None:
    assert "<polyline" not in sparkline([]) and "<polyline" not in sparkline([5.0])
    flat = sparkline([2.0, 2.0, 2.0], width=20, height=10)
    assert 'points="4.0,6.0 10.0,6.0 16.0,6.0"' in flat  # no division by zero


def test_running_loop_is_the_loop_of_this_thread_or_none() -> None:
    assert running_loop() is None

    async def inside() -> asyncio.AbstractEventLoop | None:
        return running_loop()

    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(inside()) is loop
    finally:
        loop.close()
