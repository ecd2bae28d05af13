"""Reading QR codes back, as a phone would: pixels into zxing-cpp, a real decoder (the ``test`` extra).

* :func:`decode_gray`: a grayscale image (one byte a pixel, rows top to bottom);
* :func:`decode_text`: the half-block drawing ``wslab serve`` prints (``▀▄█``),
  turned back into pixels first;
* :func:`decode_rgba`: an RGBA image, such as a canvas's ``getImageData`` in
  Chromium (what the screen shows).

Each returns the texts of every QR code found (an empty list for none).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

SCALE = 8
"""Pixels a module, when drawing a text QR code back into an image."""

_HALVES = {"█": (1, 1), "▀": (1, 0), "▄": (0, 1), " ": (0, 0)}


def decode_gray(pixels: bytes, width: int, height: int) -> list[str]:
    zxingcpp = pytest.importorskip("zxingcpp")
    image = memoryview(pixels).cast("B", (height, width))
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    return [barcode.text for barcode in found]


def decode_text(lines: Sequence[str]) -> list[str]:
    """Decode a QR code drawn with half blocks, two modules a character (lit = ``█``), any indent."""
    rows = [line.strip("\n") for line in lines if line.strip()]
    indent = min(len(row) - len(row.lstrip(" ")) for row in rows if set(row.strip()) <= set(_HALVES))
    rows = [row[indent:] for row in rows]
    width = max(len(row) for row in rows)
    modules: list[list[int]] = []
    for row in rows:
        top, bottom = [], []
        for ch in row.ljust(width):
            upper, lower = _HALVES[ch]
            top.append(upper)
            bottom.append(lower)
        modules += [top, bottom]
    pixels = bytearray()
    for module_row in modules:
        line = bytes(255 if lit else 0 for lit in module_row for _ in range(SCALE))
        pixels += line * SCALE
    return decode_gray(bytes(pixels), width * SCALE, len(modules) * SCALE)


def decode_rgba(rgba: Sequence[int] | bytes, width: int, height: int) -> list[str]:
    """Decode an RGBA image (4 values a pixel), made gray by its green channel."""
    gray = bytes(rgba[i + 1] for i in range(0, width * height * 4, 4))
    return decode_gray(gray, width, height)
