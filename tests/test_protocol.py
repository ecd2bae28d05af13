"""The chat protocol's parser and encoder, without sockets."""

from __future__ import annotations

import json

import pytest

from wslab.core import protocol as p


def parse(obj: object) -> p.ClientMessage:
    return p.parse_client_frame(json.dumps(obj))


def error_code(frame: str | bytes) -> str:
    with pytest.raises(p.ProtocolError) as info:
        p.parse_client_frame(frame)
    assert info.value.message  # always a sentence for a person
    return info.value.code


def test_join_defaults_to_the_lobby() -> None:
    assert parse({"type": "join", "name": "Ada"}) == p.Join(name="Ada", room="lobby", since=None)


def test_join_with_room_and_since() -> None:
    assert parse({"type": "join", "name": "Ada", "room": "b-2", "since": 7}) == p.Join("Ada", "b-2", 7)


def test_chat_typing_subscribe_unsubscribe() -> None:
    assert parse({"type": "chat", "content": "hi", "id": "c1"}) == p.Chat("hi", "c1")
    assert parse({"type": "chat", "content": "hi", "id": 3}) == p.Chat("hi", "3")
    assert parse({"type": "typing", "typing": True}) == p.Typing(True)
    assert parse({"type": "subscribe", "channel": "updates"}) == p.Subscribe("updates")
    assert parse({"type": "unsubscribe", "channel": "updates"}) == p.Unsubscribe("updates")


def test_the_seeds_subscribe_frame_parses_as_sent() -> None:
    # ws.send({ type: "subscribe", channel: "updates" }) in the seed lesson
    assert p.parse_client_frame('{"type":"subscribe","channel":"updates"}') == p.Subscribe("updates")


def test_unknown_extra_fields_are_ignored() -> None:
    assert parse({"type": "typing", "typing": False, "x": 1}) == p.Typing(False)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "bad-json"),
        ("{", "bad-json"),
        ("[1, 2]", "bad-json"),
        ('"chat"', "bad-json"),
        ("{}", "bad-type"),
        ('{"type": 5}', "bad-type"),
        ('{"type": "shout"}', "bad-type"),
        (b"\x00\x01", "binary-frame"),
        ('{"type": "chat"}', "bad-field"),
        ('{"type": "chat", "content": 5}', "bad-field"),
        ('{"type": "chat", "content": "   "}', "bad-field"),
        ('{"type": "chat", "content": "x", "id": true}', "bad-field"),
        ('{"type": "chat", "content": "x", "id": {}}', "bad-field"),
        ('{"type": "typing"}', "bad-field"),
        ('{"type": "typing", "typing": 1}', "bad-field"),
        ('{"type": "typing", "typing": "yes"}', "bad-field"),
        ('{"type": "join"}', "name-invalid"),
        ('{"type": "join", "name": ""}', "name-invalid"),
        ('{"type": "join", "name": " Ada"}', "name-invalid"),
        ('{"type": "join", "name": "<script>"}', "name-invalid"),
        ('{"type": "join", "name": 12}', "name-invalid"),
        ('{"type": "join", "name": "Ada", "room": "a b"}', "room-invalid"),
        ('{"type": "join", "name": "Ada", "since": -1}', "bad-field"),
        ('{"type": "join", "name": "Ada", "since": true}', "bad-field"),
        ('{"type": "join", "name": "Ada", "since": "3"}', "bad-field"),
        ('{"type": "subscribe"}', "bad-field"),
        ('{"type": "subscribe", "channel": "../x"}', "bad-field"),
    ],
)
def test_bad_frames_get_a_clear_error(frame: str | bytes, code: str) -> None:
    assert error_code(frame) == code


def test_limits_are_enforced() -> None:
    assert error_code(json.dumps({"type": "join", "name": "a" * (p.MAX_NAME_CHARS + 1)})) == "name-invalid"
    parse({"type": "join", "name": "a" * p.MAX_NAME_CHARS})
    too_long = {"type": "chat", "content": "x" * (p.MAX_CONTENT_CHARS + 1)}
    assert error_code(json.dumps(too_long)) == "bad-field"
    parse({"type": "chat", "content": "x" * p.MAX_CONTENT_CHARS})
    assert error_code(json.dumps({"type": "chat", "content": "x", "id": "i" * 65})) == "bad-field"


def test_deeply_nested_json_is_a_clear_error_not_a_crash() -> None:
    assert error_code("[" * 100_000 + "]" * 100_000) == "bad-json"


def test_names_allow_unicode_letters_and_common_punctuation() -> None:
    for name in ["Zoë", "José María", "O'Brien", "ann_1", "li.wei", "山田"]:
        assert p.validate_name(name) == name


def test_error_frames_are_json_with_code_and_message() -> None:
    frame = p.encode(p.ProtocolError("bad-json", "nope").to_message())
    assert json.loads(frame) == {"type": "error", "code": "bad-json", "message": "nope"}


def test_encode_is_compact_and_keeps_unicode() -> None:
    assert p.encode({"type": "chat", "content": "héllo"}) == '{"type":"chat","content":"héllo"}'
