"""What the benchmark sends: chat content that carries its send time, and the chat frame as the hub delivers it.

Shared by the load client (:mod:`bench.dialects`, :mod:`bench.scenarios`) and the
sans-I/O measurement (:mod:`bench.hub_micro`), so both handle the same bytes.
"""

from __future__ import annotations

import json
import time

__all__ = ["FILLER", "FIXED_TIMESTAMP", "content", "stamp", "stamped_chat", "echo_body"]

FILLER = "hello from the wslab benchmark, padding to a chat-sized line"
"""The text of every chat message: a line of chat-like length."""

FIXED_TIMESTAMP = "2026-11-27T10:00:00.000Z"
"""The ``timestamp`` of a chat built by a client (the raw relay's and the JSON reference's)."""


def content(mark: int) -> str:
    """Chat content starting ``~T<mark>~``, where a receiver finds ``mark`` with one ``find``."""
    return f"~T{mark}~ {FILLER}"


def stamp() -> str:
    """Chat content carrying the send time (:func:`time.monotonic_ns`) as its mark."""
    return content(time.monotonic_ns())


def stamped_chat(room: str, seq: int, sender: str, text: str, message_id: str) -> str:
    """The ``chat`` frame the hub would deliver for ``text``, encoded as the hub encodes it (compact, UTF-8 kept)."""
    return json.dumps(
        {"type": "chat", "room": room, "seq": seq, "sender": sender, "content": text,
         "timestamp": FIXED_TIMESTAMP, "id": message_id},
        ensure_ascii=False, separators=(",", ":"),
    )


def echo_body() -> str:
    """The 100-character text of every echo round trip."""
    return FILLER + " " + "x" * (100 - len(FILLER) - 1)
