"""QR codes of the join link, for phones: in the terminal, and as SVG for the dashboard and the chat page.

Made with `segno <https://segno.readthedocs.io>`_ (pure Python, no dependencies).
Error correction M (15 % of the code may be unreadable: a projector's glare,
a crease), never boosted, so the same link always gives the same code.

* :func:`qr_text`: the code drawn with half blocks (``▀▄█``), two modules a
  character, for ``wslab serve``'s banner. It is light-on-dark as terminals
  usually are; phone cameras read either way round.
* :func:`qr_svg`: an SVG that scales to any size (a ``viewBox``, no width or
  height), black on white: served at ``/join.svg`` and shown full-screen by the
  dashboard and the chat page for a projector.
"""

from __future__ import annotations

import io

import segno

__all__ = ["ERROR_LEVEL", "qr_svg", "qr_text"]

ERROR_LEVEL = "m"
"""segno's error-correction level for join codes."""


def _make(data: str) -> segno.QRCode:
    return segno.make(data, error=ERROR_LEVEL, boost_error=False, micro=False)


def qr_text(data: str, indent: str = "  ") -> str:
    """``data`` as a QR code in text, each line starting with ``indent``; ends with a newline."""
    out = io.StringIO()
    _make(data).terminal(out=out, compact=True, border=2)
    return "".join(f"{indent}{line}\n" for line in out.getvalue().splitlines() if line)


def qr_svg(data: str, title: str = "QR code of the join link") -> str:
    """``data`` as a QR code in SVG, black on white, sized by its container (``viewBox`` only)."""
    out = io.BytesIO()
    _make(data).save(out, kind="svg", border=4, xmldecl=False, omitsize=True, title=title, dark="#000", light="#fff")
    return out.getvalue().decode()
