"""Static HTML snapshots of widgets, for readers of a saved notebook.

A live widget is drawn by JupyterLab from the kernel's state; a saved notebook
read without a kernel (GitHub's rendering, nbviewer, an exported page) shows
only the widget's *first* display. :func:`snapshot` returns the widget as it
looks now, as plain HTML: display it in the cell after the widget has done its
work and the saved notebook shows the result.

The snapshot walks the widget tree: ``HTML`` and ``Label`` values as they are,
text inputs as disabled inputs holding their value, each named as the live one
is (its description, else its placeholder), buttons as disabled buttons;
containers keep their children in order (an ``HBox`` side by side).
It is a picture: nothing in it runs. Its ``text/plain`` names the widget
(``snapshot of ChatUI(name='Learner', room='lobby')``), so nbval compares the
HTML and the name, both free of model ids.
"""

from __future__ import annotations

import html
from typing import Any

from wslab.ui._html import MUTED

__all__ = ["Snapshot", "snapshot", "widget_html"]


def widget_html(widget: Any) -> str:
    """``widget`` (an ipywidgets tree) as static HTML, as it looks now."""
    import ipywidgets as widgets

    if isinstance(widget, widgets.HTML):
        return str(widget.value)
    if isinstance(widget, widgets.Label):
        return f"<span>{html.escape(str(widget.value))}</span>"
    if isinstance(widget, (widgets.Text, widgets.Textarea)):
        value = html.escape(str(widget.value), quote=True)
        hint = html.escape(str(widget.placeholder), quote=True)
        name = html.escape(str(widget.description or widget.placeholder), quote=True)
        return (
            f'<input type="text" disabled value="{value}" placeholder="{hint}" aria-label="{name}" '
            'style="flex:1 1 auto">'
        )
    if isinstance(widget, widgets.Button):
        return f"<button disabled>{html.escape(str(widget.description))}</button>"
    if isinstance(widget, widgets.Box):
        inner = "".join(widget_html(child) for child in widget.children)
        row = isinstance(widget, widgets.HBox)
        style = "display:flex;gap:6px;align-items:center" if row else "display:flex;flex-direction:column;gap:4px"
        return f'<div style="{style}">{inner}</div>'
    return f"<pre>{html.escape(repr(widget))}</pre>"


class Snapshot:
    """A widget's look at one moment: ``text/html`` for readers, ``text/plain`` naming the widget."""

    def __init__(self, html_text: str, label: str) -> None:
        self.html = html_text
        self.label = label

    def _repr_html_(self) -> str:
        return (
            '<div class="wslab-snapshot" style="border:1px dashed #bbb;padding:6px;max-width:720px">'
            f'<div style="font:12px sans-serif;color:{MUTED}">snapshot (static): {html.escape(self.label)}</div>'
            f"{self.html}</div>"
        )

    def __repr__(self) -> str:
        return f"snapshot of {self.label}"


def snapshot(widget: Any) -> Snapshot:
    """The widget as it looks now, as static HTML (see the module's docstring)."""
    return Snapshot(widget_html(widget), repr(widget))
