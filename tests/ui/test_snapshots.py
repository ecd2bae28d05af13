"""Static pictures of widgets for readers of a saved notebook: the tree as it is now, as HTML."""

from __future__ import annotations

import ipywidgets as widgets

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
