"""Fan-out that frames once: one text message written to every open member of a room.

websockets' ``broadcast`` encodes a ``str`` once, then, for every connection, has
its protocol build a :class:`~websockets.frames.Frame`, serialise it, queue the
bytes and hand them to the transport (``send_text`` + ``send_data``): the same
bytes again for every member. A frame sent by a server is not masked (RFC 6455,
section 5.1), so without a per-connection extension it is the same bytes for
every member. :func:`fanout` builds those bytes once, with websockets' own
serialisation (``Frame.serialize``, the same call the protocol makes) and writes
them to each member's transport. No second frame writer: the header is websockets'.

Contracts of :func:`fanout`, the same as ``broadcast``'s for the members it skips:

* a member whose protocol is not ``OPEN`` (closing, closed) is skipped;
* a member in the middle of a fragmented send (``send_in_progress``, or its
  protocol expecting a continuation frame) is skipped, with a warning on that
  connection's logger, as ``broadcast`` logs it: a frame between the fragments
  would corrupt the message;
* a member with a negotiated extension (permessage-deflate: each connection has
  a compression context of its own) gets its own frame, built by its own protocol
  (``send_text``), so its context stays in step; so does a member whose protocol
  still holds unsent bytes (they go first, order kept) or whose debug logging is
  on (its ``> TEXT`` line is logged as usual);
* a failure to write to one member is logged on its logger and skipped: the
  others still get the frame;
* no backpressure, as ``broadcast``: bytes a member does not read pile up in its
  transport's write buffer, which is where the server's slow-consumer watchdog
  (``ChatServer._watchdog``, ``transport.get_write_buffer_size()``) sees them and
  closes the member.

This is for the hub's frames (chat, typing, presence, the welcome and acks): the
lessons teach websockets' own ``broadcast``, whose behaviour this keeps.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import OPEN

__all__ = ["fanout", "text_frame"]


def text_frame(text: str) -> bytes:
    """``text`` as one unmasked, unfragmented text frame with no extension, as a server sends it."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])


def fanout(members: Iterable[ServerConnection], text: str) -> int:
    """Send ``text`` as one text frame to every open member; return to how many it was written.

    The frame is encoded and serialised once and the same bytes written to each
    member's transport; members are skipped, or framed on their own, as the
    module's docstring says. Never raises for a member's failure.
    """
    data = text.encode()
    frame = Frame(Opcode.TEXT, data).serialize(mask=False, extensions=[])
    written = 0
    for conn in members:
        protocol = conn.protocol
        if protocol.state is not OPEN:
            continue
        if conn.send_in_progress is not None or protocol.expect_continuation_frame:
            conn.logger.warning("skipped broadcast: sending a fragmented message")
            continue
        try:
            if protocol.extensions or protocol.writes or conn.debug:
                protocol.send_text(data)  # its own frame: compression context, pending bytes, debug log
                conn.send_data()
            else:
                conn.transport.write(frame)
            written += 1
        except Exception as exc:
            conn.logger.warning(
                "skipped broadcast: failed to write message: %s",
                traceback.format_exception_only(exc)[0].strip(),
            )
    return written
