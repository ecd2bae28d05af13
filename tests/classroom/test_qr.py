"""The join link's QR code: in text for the terminal, in SVG for a projector, and each decodes back to the link."""

from __future__ import annotations

import re

from support.qr import decode_text
from wslab.classroom.qr import qr_svg, qr_text

LINK = "http://192.0.2.20:8765/?token=R-IEdLtWSiYKMS5qfA0Keg&room=workshop"


def test_the_text_code_decodes_to_the_link_and_uses_only_half_blocks() -> None:
    text = qr_text(LINK, indent="  ")
    lines = text.splitlines()
    assert text.endswith("\n") and all(line.startswith("  ") for line in lines)
    assert set("".join(lines)) <= set(" ▀▄█")  # no ANSI colours: it reads the same in a log file
    assert decode_text(lines) == [LINK]
    assert qr_text(LINK) == text  # the same link gives the same code


def test_the_svg_scales_to_its_container_black_on_white() -> None:
    svg = qr_svg(LINK)
    assert svg.startswith("<svg") and re.search(r'viewBox="0 0 \d+ \d+"', svg)
    assert 'width="' not in svg.split(">")[0]  # sized by CSS: full-screen on a projector
    assert "<title>QR code of the join link</title>" in svg and 'stroke="#000"' in svg
