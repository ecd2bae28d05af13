"""The room's secrets kept in ``--data DIR``: the same after a restart, mode 0600, given ones win and say so."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from wslab.classroom.room_state import STATE_FILE, keep_secrets, read_state, write_state


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generated_secrets_are_kept_and_read_back_unchanged(tmp_path: Path) -> None:
    data = tmp_path / "rooms"
    first = keep_secrets(data, token=None, admin_token=None, needs_token=True)
    assert first.token and first.admin_token and first.join_code and first.token != first.admin_token
    assert first.origins == {"token": "generated", "admin_token": "generated", "join_code": "generated"}
    assert first.path == data / STATE_FILE and mode(first.path) == 0o600 and mode(data) == 0o700
    again = keep_secrets(data, token=None, admin_token=None, needs_token=True)
    assert (again.token, again.admin_token, again.join_code) == (first.token, first.admin_token, first.join_code)
    assert again.origins == {"token": "kept", "admin_token": "kept", "join_code": "kept"} and again.replaced == ()


def test_a_given_secret_wins_is_kept_and_says_what_it_replaced(tmp_path: Path) -> None:
    first = keep_secrets(tmp_path, token=None, admin_token=None, needs_token=True)
    given = keep_secrets(tmp_path, token="s3cret", admin_token=first.admin_token, needs_token=True)
    assert given.token == "s3cret" and given.origins["token"] == "given" and given.replaced == ("token",)
    assert given.join_code != first.join_code  # a new token is a new room: the old code goes with the old token
    assert given.admin_token == first.admin_token and "admin_token" not in given.replaced  # the same: no news
    later = keep_secrets(tmp_path, token=None, admin_token=None, needs_token=True)
    assert (later.token, later.join_code, later.origins["token"]) == ("s3cret", given.join_code, "kept")


def test_on_loopback_no_token_is_made_but_a_kept_one_is_used(tmp_path: Path) -> None:
    alone = keep_secrets(tmp_path / "a", token=None, admin_token=None, needs_token=False)
    assert alone.token is None and alone.join_code is None and "token" not in alone.origins
    room = keep_secrets(tmp_path / "b", token=None, admin_token=None, needs_token=True)
    back = keep_secrets(tmp_path / "b", token=None, admin_token=None, needs_token=False)
    assert back.token == room.token  # the links keep working whatever --host says this time


def test_the_file_is_rewritten_with_mode_0600_even_when_it_had_another(tmp_path: Path) -> None:
    path = tmp_path / STATE_FILE
    write_state(path, {"token": "t", "admin_token": "a", "join_code": None})
    path.chmod(0o644)
    keep_secrets(tmp_path, token=None, admin_token=None, needs_token=True)
    assert mode(path) == 0o600
    assert json.loads(path.read_text())["token"] == "t"
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]  # no temporary file left


@pytest.mark.parametrize(
    ("text", "message"),
    [("not json", "not JSON"), ('{"token": "t"}', "version 1"), ('{"version": 1, "token": 5}', "must be text")],
)
def test_a_file_that_is_not_ours_is_named_and_left_alone(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / STATE_FILE
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as caught:
        keep_secrets(tmp_path, token=None, admin_token=None, needs_token=True)
    assert str(path) in str(caught.value)
    assert path.read_text() == text
    assert read_state(tmp_path / "none.json") == {}


def test_a_data_path_that_cannot_be_a_folder_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="--data .*cannot create the folder"):
        keep_secrets(blocker / "rooms", token=None, admin_token=None, needs_token=True)
