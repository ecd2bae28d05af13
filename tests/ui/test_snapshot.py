"""Static pictures for readers of a saved notebook: widget snapshots and the reconnect figures."""

from __future__ import annotations

import ipywidgets as widgets

from wslab.core.backoff import BackoffPolicy, seed_backoff
from wslab.ui.figures import flapping_timeline, herd_histogram, simulate_flapping, simulate_herd
from wslab.ui.live_dashboard import LiveDashboard
from wslab.ui.snapshots import snapshot, widget_html


def test_a_snapshot_shows_the_widget_tree_as_it_is_now_and_names_it() -> None:
    board = widgets.HTML("<b>first</b>")
    box = widgets.Text(value='say "<hi>"', placeholder="type")
    app = widgets.VBox([board, widgets.HBox([box, widgets.Button(description="Send")])])
    board.value = "<b>final</b>"
    html = widget_html(app)
    assert "<b>final</b>" in html and "first" not in html
    assert 'value="say &quot;&lt;hi&gt;&quot;"' in html, html  # what a person typed stays text
    assert "<button disabled>Send</button>" in html
    shot = snapshot(app)
    assert repr(shot).startswith("snapshot of VBox(")
    assert "<b>final</b>" in shot._repr_html_() and "model_id" not in shot._repr_html_()


def test_without_jitter_a_class_reconnects_in_the_same_instant_with_jitter_it_spreads() -> None:
    herd = simulate_herd(seed_backoff, clients=50, attempts=4)
    assert sorted(set(herd)) == [1.0, 3.0, 7.0, 15.0] and len(herd) == 200
    spread = simulate_herd(BackoffPolicy(seed=1), clients=50, attempts=4)
    assert len(set(spread)) == 200 and spread == simulate_herd(BackoffPolicy(seed=1), clients=50, attempts=4)
    figure = herd_histogram({"no jitter": seed_backoff, "full jitter": BackoffPolicy(seed=1)}, clients=50)
    assert "no jitter: at most 50 of 50" in repr(figure), repr(figure)
    busiest_with_jitter = int(repr(figure).split("full jitter: at most ")[1].split()[0])
    assert busiest_with_jitter < 25, repr(figure)
    assert figure._repr_html_().startswith("<svg") and figure._repr_html_() == herd_histogram(
        {"no jitter": seed_backoff, "full jitter": BackoffPolicy(seed=1)}, clients=50)._repr_html_()


def test_against_a_flapping_server_the_seed_retries_every_second_and_the_fix_backs_off() -> None:
    seed = simulate_flapping(seed_backoff, seconds=30, up=0.5)
    fixed = simulate_flapping(BackoffPolicy(jitter="none"), seconds=30, up=0.5)
    assert [w.delay for w in seed] == [1.0] * 20
    assert [w.delay for w in fixed] == [1.0, 2.0, 4.0, 8.0]
    figure = flapping_timeline({"seed": seed_backoff, "fixed": BackoffPolicy(jitter="none")})
    assert "seed: 20 connections in 30 s" in repr(figure) and "fixed: 4 connections" in repr(figure)


class _Client:
    def __init__(self) -> None:
        self.handlers: dict[str, list] = {}

    def on(self, event: str, fn: object) -> _Client:
        self.handlers.setdefault(event, []).append(fn)
        return self

    def subscribe(self, channel: str) -> bool:
        return True

    def emit(self, event: str, data: object = None) -> None:
        for fn in self.handlers.get(event, []):
            fn(data)


def test_the_dashboard_shows_its_connection_state() -> None:
    client = _Client()
    board = LiveDashboard(client=client, channel="scores")
    assert "● connecting" in board.headline.value
    client.emit("connect")
    assert "● connected" in board.headline.value
    client.emit("message", {"type": "subscribed", "channel": "scores"})
    assert "subscribed" in board.headline.value
    client.emit("disconnect")
    assert "● offline, reconnecting…" in board.headline.value and "subscribed" not in board.headline.value
    client.emit("closed")
    assert "● closed" in board.headline.value
    assert "● closed" in snapshot(board)._repr_html_()
