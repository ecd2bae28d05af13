"""The reconnect timeline: a client's outages, attempts and connects drawn as SVG."""

from __future__ import annotations

from support.fakes import FakeClient
from wslab.ui.models import ReconnectTimeline
from wslab.ui.timeline import TimelinePlot, timeline_svg


def test_timeline_plot_draws_outages_attempts_and_connects() -> None:
    client = FakeClient()
    client.history = [(10.0, "connect", None)]
    plot = TimelinePlot(client)
    assert plot.timeline.summary().startswith("1 connect(s)")
    client.history += [(11.0, "disconnect", {"code": 1012}), (11.0, "reconnecting", (1, 0.25)),
                       (11.3, "reconnecting", {"attempt": 2, "delay": 0.5}), (11.9, "connect", None)]
    client.emit("connect")
    svg = plot.plot.value
    assert svg.startswith("<svg") and "outage (close 1012)" in svg
    assert "#1 0.25s" in svg and "#2 0.50s" in svg
    # Connects are circles, the disconnect a square: told apart by shape, not only colour; named by the summary.
    assert svg.count("<circle") == 2 and svg.count("<title>disconnect</title></rect>") == 1
    assert f'aria-label="{plot.timeline.summary()}"' in svg
    assert "Delays: 0.25s, 0.50s" in plot.caption.value
    assert repr(plot) == "TimelinePlot(reconnects of a client)"
    assert "still down" not in plot.caption.value


def test_timeline_svg_of_nothing_is_an_empty_axis() -> None:
    svg = timeline_svg(ReconnectTimeline())
    assert svg.startswith("<svg") and "<circle" not in svg
