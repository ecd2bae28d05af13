"""Notebooks for tests: a course notebook's definitions as a learner has them, and small notebooks made on the spot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat

from support import ROOT


def definitions(folder: str, notebook: str) -> dict[str, Any]:
    """The namespace a learner has after running the definition cells of a notebook.

    Only cells that define things are run (no top-level ``await``, no server, no ``check``),
    and the cell where exercise 4 pastes the pieces of earlier exercises.
    """
    nb = json.loads((ROOT / folder / f"{notebook}.ipynb").read_text())
    ns: dict[str, Any] = {"__name__": "__main__"}
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        defines = src.lstrip().startswith(("def ", "async def ", "class ", "TYPING_ON", "OWN_EVENTS"))
        if cell["cell_type"] == "code" and (cell["id"] in ("setup", "pieces") or defines):
            code = compile(src.replace("server = wslab.start_server()", ""), f"<{cell['id']}>", "exec")
            try:
                exec(code, ns)
            except NotImplementedError:  # the released pieces cell: nothing pasted yet
                if cell["id"] != "pieces":
                    raise
    return ns


class Markdown(str):
    """A markdown cell's text, among the code cells given to :func:`notebook`."""


def notebook(*cells: str) -> Any:
    """A notebook (nbformat 4) of these cells in order: a string is a code cell, a :class:`Markdown` a markdown one."""
    return nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell(cell) if isinstance(cell, Markdown) else nbformat.v4.new_code_cell(cell)
            for cell in cells
        ]
    )


def write_notebook(path: Path, *cells: str) -> Any:
    """:func:`notebook` of ``cells``, written to ``path``; returns it."""
    nb = notebook(*cells)
    nbformat.write(nb, path)
    return nb
