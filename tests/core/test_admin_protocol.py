"""The admin channel's protocol, sans I/O: requests parsed (or refused with the field), reports to JSON and back."""

from __future__ import annotations

import json

import pytest

from wslab.core import admin_protocol as core_admin
from wslab.core import protocol as p
from wslab.core.admin_protocol import AdminReport, AdminRequest, AdminRequestError, Health, MemberInfo, parse_request
from wslab.core.errors import ProtocolError
from wslab.core.hub import RoomSnapshot


def test_each_request_type_parses_with_the_lobby_by_default() -> None:
    assert parse_request('{"type": "report"}') == AdminRequest("report", None, p.DEFAULT_ROOM)
    assert parse_request('{"type": "report", "id": 7, "room": "workshop"}') == AdminRequest("report", 7, "workshop")
    assert parse_request('{"type": "kick", "id": "k1", "name": "Ada"}') == AdminRequest(
        "kick", "k1", p.DEFAULT_ROOM, name="Ada"
    )
    assert parse_request('{"type": "mute", "name": "Bob"}').muted is True  # muting is what a mute request means
    assert parse_request('{"type": "mute", "name": "Bob", "muted": false}') == AdminRequest(
        "mute", None, p.DEFAULT_ROOM, name="Bob", muted=False
    )
    assert parse_request('{"type": "announce", "content": "Break until 11:00"}') == AdminRequest(
        "announce", None, p.DEFAULT_ROOM, content="Break until 11:00"
    )
    assert parse_request('{"type": "ban", "name": "Eve"}') == AdminRequest(
        "ban", None, p.DEFAULT_ROOM, name="Eve", banned=True
    )
    assert parse_request('{"type": "ban", "name": "Eve", "banned": false}').banned is False  # lifts it
    assert set(core_admin.ADMIN_REQUESTS) == {"report", "kick", "ban", "mute", "announce"}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b'{"type": "report"}', p.ErrorCode.BINARY),
        ("not json", p.ErrorCode.BAD_JSON),
        ("[1, 2]", p.ErrorCode.BAD_JSON),
        ('{"type": "explode"}', p.ErrorCode.BAD_TYPE),
        ('{"type": "kick", "name": "<b>"}', p.ErrorCode.NAME_INVALID),
        ('{"type": "report", "room": "no such room!"}', p.ErrorCode.ROOM_INVALID),
        ('{"type": "announce", "content": "   "}', p.ErrorCode.BAD_FIELD),
        ('{"type": "mute", "name": "Ada", "muted": "yes"}', p.ErrorCode.BAD_FIELD),
        ('{"type": "ban", "name": "Ada", "banned": 1}', p.ErrorCode.BAD_FIELD),
        ('{"type": "report", "id": 1.5}', p.ErrorCode.BAD_FIELD),
    ],
)
def test_a_bad_request_is_refused_with_its_code(frame: str | bytes, code: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_request(frame)
    assert caught.value.code == code and caught.value.message


def test_a_refused_request_repeats_its_id_when_it_could_be_read() -> None:
    with pytest.raises(AdminRequestError) as caught:
        parse_request('{"type": "kick", "id": "k9"}')  # no name: refused, but the id is readable
    assert caught.value.request_id == "k9" and caught.value.field == "name"
    with pytest.raises(AdminRequestError) as caught:
        parse_request('{"type": "explode", "id": 3}')
    assert caught.value.request_id == 3
    with pytest.raises(AdminRequestError) as caught:
        parse_request(json.dumps({"type": "explode", "id": "x" * (p.MAX_CLIENT_ID_CHARS + 1)}))
    assert caught.value.request_id is None  # too long to be an id: not repeated
    with pytest.raises(AdminRequestError) as caught:
        parse_request('{"type": "explode", "id": true}')
    assert caught.value.request_id is None  # a boolean is not an id


def test_an_announcement_longer_than_a_chat_is_refused() -> None:
    longest = "x" * p.MAX_CONTENT_CHARS
    assert parse_request(json.dumps({"type": "announce", "content": longest})).content == longest
    with pytest.raises(ProtocolError, match=f"the limit is {p.MAX_CONTENT_CHARS}") as caught:
        parse_request(json.dumps({"type": "announce", "content": longest + "x"}))
    assert caught.value.field == "content"


def test_a_member_is_flooding_once_over_the_rate_limit() -> None:
    assert MemberInfo("Cy", False, False, 1, 0, False).flooding
    assert not MemberInfo("Ada", False, False, 0, 0, False).flooding


def test_report_round_trips_through_json() -> None:
    report = AdminReport(
        RoomSnapshot("lobby", ("Ada",), (), ("ada",), 3, 1, banned=("eve",)),
        (MemberInfo("Ada", True, False, 0, 12, False),),
        Health(12.5, 1, ("lobby",), True, 20, 1 << 20, ("admin: x",)),
    )
    assert AdminReport.from_json(json.loads(json.dumps(report.to_json()))) == report
    with pytest.raises(ValueError, match="not an admin report"):
        AdminReport.from_json({"room": "lobby"})


@pytest.mark.parametrize(
    "frame, field",
    [
        ('{"type": "kick"}', "name"),
        ('{"type": "report", "id": true}', "id"),
        ('{"type": "announce", "content": 5}', "content"),
        ('{"type": "report", "room": NaN}', None),
    ],
)
def test_parse_request_refuses_with_the_field(frame: str, field: str | None) -> None:
    with pytest.raises(ProtocolError) as caught:
        core_admin.parse_request(frame)
    assert caught.value.field == field
