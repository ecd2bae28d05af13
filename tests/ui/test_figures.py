"""The reconnect figures, simulated with the sans-I/O backoff: a herd, and a flapping server."""

from __future__ import annotations

from wslab.core.backoff import BackoffPolicy, seed_backoff
from wslab.ui.figures import flapping_timeline, herd_histogram, simulate_flapping, simulate_herd


def test_without_jitter_a_class_reconnects_in_the_same_instant_with_jitter_it_spreads() -> None:
    herd = simulate_herd(seed_backoff, clients=50, attempts=4)
    assert sorted(set(herd)) == [1.0, 3.0, 7.0, 15.0] and len(herd) == 200
    spread = simulate_herd(BackoffPolicy(seed=1), clients=50, attempts=4)
    assert len(set(spread)) == 200 and spread == simulate_herd(BackoffPolicy(seed=1), clients=50, attempts=4)
    figure = herd_histogram({"no jitter": seed_backoff, "full jitter": BackoffPolicy(seed=1)}, clients=50)
    assert "no jitter: at most 50 of 50" in repr(figure), repr(figure)
    busiest_with_jitter = int(repr(figure).split("full jitter: at most ")[1].split()[0])
    assert busiest_with_jitter < 25, repr(figure)
    assert figure._repr_html_().startswith('<img src="data:image/svg+xml;base64,') and figure._repr_html_() == (
        herd_histogram({"no jitter": seed_backoff, "full jitter": BackoffPolicy(seed=1)}, clients=50)._repr_html_())


def test_against_a_flapping_server_the_seed_retries_every_second_and_the_fix_backs_off() -> None:
    seed = simulate_flapping(seed_backoff, seconds=30, up=0.5)
    fixed = simulate_flapping(BackoffPolicy(jitter="none"), seconds=30, up=0.5)
    assert [w.delay for w in seed] == [1.0] * 20
    assert [w.delay for w in fixed] == [1.0, 2.0, 4.0, 8.0]
    figure = flapping_timeline({"seed": seed_backoff, "fixed": BackoffPolicy(jitter="none")})
    assert "seed: 20 connections in 30 s" in repr(figure) and "fixed: 4 connections" in repr(figure)


def test_every_figure_has_an_accessible_name_and_renders_as_an_image_with_that_name() -> None:
    import base64
    import html
    import re

    figure = flapping_timeline({"seed": seed_backoff, "fixed": BackoffPolicy(jitter="none")})
    shown = figure._repr_html_()
    alt = html.unescape(re.search(r'alt="([^"]*)"', shown).group(1))  # type: ignore[union-attr]
    assert alt == repr(figure)
    svg = base64.b64decode(re.search(r"base64,([^\"]*)", shown).group(1)).decode()  # type: ignore[union-attr]
    assert svg == figure.svg and 'role="img" aria-label="a server that drops' in svg.split(">")[0]
    assert "<title>a server that drops" in svg
    assert 'width="640"' in shown
