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


def refused(frame: str | bytes) -> p.ProtocolError:
    with pytest.raises(p.ProtocolError) as info:
        p.parse_client_frame(frame)
    return info.value


def test_join_defaults_to_the_lobby() -> None:
    assert parse({"type": "join", "name": "Ada"}) == p.Join(name="Ada", room="lobby", since=None, epoch=None)


def test_join_with_room_since_and_epoch() -> None:
    assert parse({"type": "join", "name": "Ada", "room": "b-2", "since": 7}) == p.Join("Ada", "b-2", 7)
    assert parse({"type": "join", "name": "Ada", "since": 7, "epoch": "1a2b3c4d"}) == p.Join(
        "Ada", "lobby", 7, "1a2b3c4d"
    )
    assert parse({"type": "join", "name": "Ada", "epoch": None}) == p.Join("Ada")


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
        ('{"type": "join", "name": "Ada", "epoch": 5}', "bad-field"),
        ('{"type": "join", "name": "Ada", "epoch": ""}', "bad-field"),
        ('{"type": "chat", "content": "x", "id": ""}', "bad-field"),
        ('{"type": "typing", "typing": NaN}', "bad-json"),
        ('{"type": "chat", "content": "x", "extra": Infinity}', "bad-json"),
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


# ---------------------------------------------------------------- input hygiene: every string, every field

SURROGATE = "\\ud800"  # as JSON spells it: valid JSON, not valid Unicode


@pytest.mark.parametrize(
    ("frame", "code", "field"),
    [
        (f'{{"type":"chat","content":"{SURROGATE}"}}', "bad-field", "content"),
        (f'{{"type":"chat","content":"hi {SURROGATE} there","id":"c1"}}', "bad-field", "content"),
        (f'{{"type":"chat","content":"x","id":"{SURROGATE}"}}', "bad-field", "id"),
        (f'{{"type":"join","name":"Ada{SURROGATE}"}}', "name-invalid", "name"),
        (f'{{"type":"join","name":"Ada","room":"r{SURROGATE}"}}', "room-invalid", "room"),
        (f'{{"type":"join","name":"Ada","since":1,"epoch":"e{SURROGATE}"}}', "bad-field", "epoch"),
        (f'{{"type":"subscribe","channel":"{SURROGATE}x"}}', "bad-field", "channel"),
        (f'{{"type":"unsubscribe","channel":"x{SURROGATE}"}}', "bad-field", "channel"),
        ('{"type":"chat","content":"\\udfff\\ud800"}', "bad-field", "content"),  # reversed pair
    ],
)
def test_lone_surrogates_are_refused_in_every_field_naming_it(frame: str, code: str, field: str) -> None:
    error = refused(frame)
    assert (error.code, error.field) == (code, field)
    # The error frame itself is valid UTF-8 JSON: the bad value is never echoed raw.
    encoded = p.encode(error.to_message())
    encoded.encode("utf-8")
    assert json.loads(encoded)["field"] == field


def test_a_proper_surrogate_pair_is_just_an_emoji() -> None:
    assert parse({"type": "chat", "content": "\U0001f600"}) == p.Chat("\U0001f600")
    assert p.parse_client_frame('{"type":"chat","content":"\\ud83d\\ude00"}') == p.Chat("\U0001f600")


def test_raw_lone_surrogates_in_a_str_frame_are_refused_too() -> None:
    # An in-process peer hands the hub a str, which may hold a surrogate without JSON escaping.
    assert refused('{"type":"chat","content":"\ud800"}').field == "content"
    assert refused('{"type":"\ud800"}').code == "bad-type"
    assert "\ud800" not in refused('{"type":"\ud800"}').message


def test_a_refused_chat_names_its_id_when_the_id_could_be_read() -> None:
    assert refused(f'{{"type":"chat","content":"{SURROGATE}","id":"c1"}}').id == "c1"
    assert refused('{"type":"chat","content":"   ","id":7}').id == "7"
    assert refused(json.dumps({"type": "chat", "content": "x" * 3000, "id": "big"})).id == "big"
    assert refused('{"type":"chat","id":"c2"}').id == "c2"  # content missing
    assert refused(f'{{"type":"chat","content":"ok","id":"{SURROGATE}"}}').id is None
    assert refused('{"type":"chat","content":"","id":"i"}').to_message() == {
        "type": "error",
        "code": "bad-field",
        "message": "'chat' content must not be empty",
        "field": "content",
        "id": "i",
    }


def test_errors_name_the_field() -> None:
    assert refused('{"type":"join"}').field == "name"
    assert refused('{"type":"join","name":"Ada","since":-1}').field == "since"
    assert refused('{"type":"typing"}').field == "typing"
    assert refused('{"type":"typing","typing":"yes"}').field == "typing"
    assert refused('{"type":"shout"}').field == "type"
    assert refused('{"type":"join","name":"Ada","epoch":"' + "e" * 65 + '"}').field == "epoch"
    assert refused("not json").field is None


def test_trailing_newlines_do_not_sneak_past_the_patterns() -> None:
    # re's "$" matches before a final newline; the validators match the whole string.
    assert error_code('{"type":"join","name":"Ada","room":"lobby\\n"}') == "room-invalid"
    assert error_code('{"type":"subscribe","channel":"updates\\n"}') == "bad-field"
    assert error_code('{"type":"join","name":"Ada\\n"}') == "name-invalid"


def test_messages_built_by_hand_are_checked_too() -> None:
    with pytest.raises(p.ProtocolError, match="Unicode"):
        p.Chat("\ud800")
    with pytest.raises(p.ProtocolError):
        p.Join("Ada", room="\ud800")
    with pytest.raises(p.ProtocolError):
        p.Join("Ada", since=True)  # type: ignore[arg-type]
    with pytest.raises(p.ProtocolError):
        p.Typing(1)  # type: ignore[arg-type]
    with pytest.raises(p.ProtocolError):
        p.Subscribe("a b")
    assert not p.is_valid_unicode("\udc80") and p.is_valid_unicode("Zoë \U0001f600")


@pytest.mark.parametrize(
    "message",
    [
        {"content": "\ud800"},
        {"data": {"\udc00": 1}},  # a key
        {"data": float("nan")},
        {"data": float("inf")},
        {"data": {1, 2}},
        {"data": b"bytes"},
        {"data": object()},
    ],
)
def test_encode_refuses_what_cannot_be_sent(message: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="cannot be sent"):
        p.encode(message)


def test_encode_refuses_circular_and_absurdly_deep_data() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError):
        p.encode({"data": loop})
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError):
        p.encode({"data": deep})


@pytest.mark.parametrize("key", ["type", "online", "history_complete"])
def test_encode_spliced_is_encode_with_the_value_already_encoded(key: str) -> None:
    message = {"type": "welcome", "name": "Zoë", "online": ["ann", "Zoë", 'a "quoted" name'], "history_complete": True}
    text = p.encode({**message, key: message[key]})
    assert p.encode_spliced(message, key, p.encode({"v": message[key]})[len('{"v":') : -1]) == text
    assert p.encode_spliced({key: None}, key, "[]") == p.encode({key: []})


def test_encode_spliced_refuses_a_missing_key_and_what_encode_refuses() -> None:
    with pytest.raises(KeyError):
        p.encode_spliced({"type": "welcome"}, "online", "[]")
    with pytest.raises(ValueError, match="cannot be sent"):
        p.encode_spliced({"type": "welcome", "online": None, "bad": {1, 2}}, "online", "[]")


def test_encode_names_is_encode_of_the_list_and_refuses_a_lone_surrogate() -> None:
    names = ["ann", "Zoë", "名前", 'say "hi"', "back\\slash"]
    assert p.encode_names(names) == p.encode({"v": names})[len('{"v":') : -1]
    assert p.encode_names([]) == "[]"
    with pytest.raises(ValueError, match="not valid Unicode"):
        p.encode_names(["ann", "\ud800"])
