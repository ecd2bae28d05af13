"""The frame inspector's model: websockets' log records of one connection, as rows, fed by hand."""

from __future__ import annotations

import logging

import pytest
from websockets.frames import Close, Frame, Opcode

from wslab.core.clock import FakeClock
from wslab.ui.frame_log import FrameLog, FrameRow, describe_frame


def record(msg: str, *args: object, level: int = logging.DEBUG) -> logging.LogRecord:
    return logging.LogRecord("test", level, __file__, 1, msg, args, None)


def test_each_frame_is_a_row_with_time_direction_opcode_length_and_mask() -> None:
    clock = FakeClock()
    log = FrameLog("client", clock=clock)
    clock.advance(0.5)
    log.handle(record("> %s", Frame(Opcode.TEXT, b"hello")))
    clock.advance(0.25)
    log.handle(record("< %s", Frame(Opcode.BINARY, bytes([0, 1, 2, 255]))))
    assert log.rows == [
        FrameRow(0.5, "sent", "TEXT", "'hello'", length=5, masked=True),
        FrameRow(0.75, "received", "BINARY", "00 01 02 ff", length=4, masked=False),
    ]


def test_a_server_masks_nothing_it_sends_and_reads_masked_frames() -> None:
    log = FrameLog("server", clock=FakeClock())
    log.handle(record("< %s", Frame(Opcode.TEXT, b"from a client")))
    log.handle(record("> %s", Frame(Opcode.TEXT, b"to a client")))
    assert [(row.direction, row.masked) for row in log.rows] == [("received", True), ("sent", False)]


def test_a_close_frame_shows_its_code_and_reason_and_a_bare_one_says_1005() -> None:
    log = FrameLog(clock=FakeClock())
    log.handle(record("> %s", Frame(Opcode.CLOSE, Close(1000, "Normal closure").serialize())))
    log.handle(record("< %s", Frame(Opcode.CLOSE, b"")))
    sent, received = log.rows
    assert (sent.kind, sent.close_code, sent.close_reason, sent.length) == ("CLOSE", 1000, "Normal closure", 16)
    assert (received.close_code, received.preview) == (None, "no code (1005)")
    assert log.lines() == [
        "sent     CLOSE      16 B  masked    1000 'Normal closure'",
        "received CLOSE       0 B  unmasked  no code (1005)",
    ]


def test_pings_and_pongs_are_counted_and_their_random_ids_stay_out_of_the_text() -> None:
    log = FrameLog(clock=FakeClock())
    log.handle(record("> %s", Frame(Opcode.PING, b"\x12\x34\x56\x78")))
    log.handle(record("< %s", Frame(Opcode.PONG, b"\x12\x34\x56\x78")))
    log.handle(record("- timed out waiting for keepalive pong"))
    assert log.counts[("sent", "PING")] == 1 and log.counts[("received", "PONG")] == 1
    assert log.lines() == [
        "sent     PING        4 B  masked",
        "received PONG        4 B  unmasked",
        "         NOTE   no pong in time: the heartbeat gives up",
    ]
    assert "<code class='wslab-ping-id'>12 34 56 78</code>" in log.html()


def test_the_handshake_states_and_the_end_of_tcp_are_rows_and_headers_are_not() -> None:
    log = FrameLog(clock=FakeClock())
    for rec in (record("= connection is %s", "CONNECTING"), record("> GET %s HTTP/1.1", "/echo"),
                record("> %s: %s", "Host", "127.0.0.1:1234"), record("< HTTP/1.1 %d %s", 101, "Switching Protocols"),
                record("= connection is %s", "OPEN"), record("< EOF"), record("> EOF"),
                record("x half-closing TCP connection")):
        log.handle(rec)
    assert [(row.direction, row.kind, row.preview) for row in log.rows] == [
        ("", "STATE", "connection is CONNECTING"),
        ("sent", "HTTP", "GET /echo HTTP/1.1 (Upgrade: websocket)"),
        ("received", "HTTP", "HTTP/1.1 101 Switching Protocols"),
        ("", "STATE", "connection is OPEN"),
        ("received", "TCP", "end of stream: the other side closed its half"),
        ("sent", "TCP", "FIN: this side closed its half"),  # "> EOF" is logged even after an abort: not a row
    ]
    assert log.frames() == [] and log.lines(frames_only=True) == []
    quiet = FrameLog(clock=FakeClock(), handshake=False)
    quiet.handle(record("> GET %s HTTP/1.1", "/echo"))
    assert quiet.rows == []


def test_long_text_is_cut_and_a_fragment_says_more_follow() -> None:
    log = FrameLog(clock=FakeClock(), preview=5)
    log.handle(record("> %s", Frame(Opcode.TEXT, b"abcdefgh", fin=False)))
    log.handle(record("> %s", Frame(Opcode.CONT, b"ij")))
    first, second = log.rows
    assert first.preview == "'abcde…'" and not first.fin and first.line().endswith("(more fragments follow)")
    assert second.kind == "CONT" and second.preview == "'ij'"
    assert describe_frame(Frame(Opcode.BINARY, bytes(20)))[0].endswith(" …")


def test_people_see_payloads_as_text_never_as_markup() -> None:
    log = FrameLog(clock=FakeClock())
    log.handle(record("< %s", Frame(Opcode.TEXT, b"<img src=x onerror=alert(1)>")))
    assert "<img" not in log.html() and "&lt;img" in log.html()


def test_warnings_go_on_to_websockets_own_logger(caplog: pytest.LogCaptureFixture) -> None:
    log = FrameLog(clock=FakeClock())
    with caplog.at_level(logging.WARNING, logger="websockets.client"):
        log.logger.error("keepalive ping failed")
    assert log.rows == [] and [r.getMessage() for r in caplog.records] == ["keepalive ping failed"]


def test_the_oldest_rows_go_first_and_the_counts_keep_counting() -> None:
    log = FrameLog(clock=FakeClock(), limit=2)
    for text in (b"a", b"b", b"c"):
        log.handle(record("> %s", Frame(Opcode.TEXT, text)))
    assert [row.preview for row in log.rows] == ["'b'", "'c'"] and log.counts[("sent", "TEXT")] == 3
    log.clear()
    assert log.rows == [] and not log.counts


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="side"):
        FrameLog("browser")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit"):
        FrameLog(limit=0)
