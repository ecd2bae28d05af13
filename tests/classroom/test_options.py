"""``wslab serve``'s options, validated into ServeOptions: the classroom's rules, each refusal naming its option."""

from __future__ import annotations

import argparse
from argparse import Namespace
from pathlib import Path

import pytest

from support.tls import cert_files, self_signed
from wslab.classroom.options import DEFAULT_PORT, SECRET_ENV, add_arguments, classroom_options, options_from_args
from wslab.core.admission import JOIN_CODE_LENGTH


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="wslab serve")
    add_arguments(parser)
    return parser.parse_args(argv)


def test_admin_token_must_differ_from_the_learners() -> None:
    with pytest.raises(ValueError, match="must differ"):
        classroom_options("0.0.0.0", 0, token="same", admin_token="same")
    with pytest.raises(ValueError, match="no spaces"):
        classroom_options("127.0.0.1", 0, admin_token="two words")
    options = classroom_options("127.0.0.1", 0)
    assert options.admin_token and options.admin_token_generated and options.config.token is None


def test_options_off_loopback_always_have_a_token() -> None:
    args = Namespace(host="0.0.0.0", port=0, token=None, room="lobby", origin=["http://a.example:8888/"])
    options = options_from_args(args)
    assert options.token_generated and options.config.token and len(options.config.token) >= 20
    assert options.config.allowed_origins == ("http://a.example:8888",)
    loopback = options_from_args(Namespace(host="127.0.0.1", port=0, token=None, room="lobby", origin=[]))
    assert loopback.config.token is None and not loopback.token_generated


def test_the_defaults_are_loopback_the_lobby_and_one_process() -> None:
    options = options_from_args(parse())
    config = options.config
    assert (config.host, config.port, options.room, options.workers) == ("127.0.0.1", DEFAULT_PORT, "lobby", 1)
    assert config.token is None and config.allowed_origins == () and config.certfile is None
    assert options.redis is None and options.data is None and options.banner is True
    assert 'data-room="lobby"' in (config.index_html or "")  # / serves the chat page for the room


def test_a_given_token_is_kept_and_never_called_generated() -> None:
    options = options_from_args(parse("--host", "0.0.0.0", "--token", "s3cret", "--admin-token", "teacher"))
    assert options.config.token == "s3cret" and not options.token_generated
    assert options.admin_token == "teacher" and not options.admin_token_generated


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"host": " "}, "--host must not be empty"),
        ({"host": "127.0.0.1", "port": 65536}, "--port must be 0 to 65535"),
        ({"host": "127.0.0.1", "port": -1}, "--port must be 0 to 65535"),
        ({"host": "127.0.0.1", "room": "two words"}, "--room: room must be"),
        ({"host": "127.0.0.1", "token": ""}, "--token must be 1 to 256"),
        ({"host": "127.0.0.1", "token": "x" * 257}, "--token must be 1 to 256"),
        ({"host": "127.0.0.1", "admin_token": ""}, "--admin-token must be 1 to 256"),
        ({"host": "127.0.0.1", "origins": ["ftp://a.example"]}, "is not an origin"),
        ({"host": "127.0.0.1", "origins": ["http://a.example/path"]}, "is not an origin"),
        ({"host": "127.0.0.1", "origins": ["http://a.example?x=1"]}, "is not an origin"),
    ],
)
def test_each_bad_value_is_a_value_error_naming_its_option(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        classroom_options(**kwargs)


def test_origins_are_normalised_and_a_star_allows_any() -> None:
    options = classroom_options("127.0.0.1", 0, origins=["https://lab.example:8888/", "*"])
    assert options.config.allowed_origins == ("https://lab.example:8888", "*")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--workers", "0"], "--workers must be 1 to 64"),
        (["--workers", "65"], "--workers must be 1 to 64"),
        (["--redis", "http://x"], "is not a Redis URL"),
        (["--redis", "redis://127.0.0.1:1/0", "--data", "d"], "with --redis the data lives in that engine"),
        (["--data", "  "], "--data must name a directory"),
    ],
)
def test_scaling_options_are_checked_together(argv: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        options_from_args(parse(*argv))


def test_scaling_and_the_workers_internal_options_reach_the_options(tmp_path: Path) -> None:
    rooms = str(tmp_path / "rooms")
    options = options_from_args(parse("--workers", "3", "--data", rooms, "--reuse-port", "--no-banner"))
    assert (options.workers, options.data, options.redis) == (3, rooms, None)
    assert options.config.reuse_port is True and options.banner is False
    shared = options_from_args(parse("--redis", "valkey://127.0.0.1:6379/0"))
    assert shared.redis == "valkey://127.0.0.1:6379/0" and shared.config.reuse_port is False


def test_a_keyfile_needs_a_certfile() -> None:
    with pytest.raises(ValueError, match="--keyfile needs --certfile"):
        classroom_options("127.0.0.1", 0, keyfile="key.pem")


def test_secrets_may_come_from_the_environment_so_ps_does_not_show_them() -> None:
    env = {
        SECRET_ENV["token"]: "from-env", SECRET_ENV["admin_token"]: "admin-env",
        SECRET_ENV["redis"]: "redis://:pw@127.0.0.1:6379/0", SECRET_ENV["join_code"]: "k7q-p3m",
    }
    options = options_from_args(parse("--host", "0.0.0.0"), env)
    assert (options.config.token, options.admin_token, options.redis) == (
        "from-env", "admin-env", "redis://:pw@127.0.0.1:6379/0"
    )
    assert options.join_code == options.config.join_code == "K7QP3M" and not options.token_generated
    given = options_from_args(parse("--host", "0.0.0.0", "--token", "typed"), env)
    assert given.config.token == "typed"  # the command line wins over the environment
    with pytest.raises(ValueError, match="WSLAB_JOIN_CODE: a join code is 6 characters"):
        options_from_args(parse("--host", "0.0.0.0"), {SECRET_ENV["join_code"]: "0000"})


def test_a_token_comes_with_a_join_code_and_loopback_without_a_token_has_none() -> None:
    options = options_from_args(parse("--host", "0.0.0.0"), {})
    assert options.join_code and len(options.join_code) == JOIN_CODE_LENGTH
    assert options.config.join_code == options.join_code
    assert options_from_args(parse(), {}).join_code is None


def test_with_data_the_secrets_survive_a_restart_and_a_given_token_replaces_the_kept_one(tmp_path: Path) -> None:
    data = str(tmp_path / "rooms")
    first = options_from_args(parse("--host", "0.0.0.0", "--data", data), {})
    second = options_from_args(parse("--host", "0.0.0.0", "--data", data), {})
    assert first.kept is not None and second.kept is not None
    assert (second.config.token, second.admin_token, second.join_code) == (
        first.config.token, first.admin_token, first.join_code
    )
    assert not second.token_generated and not second.admin_token_generated
    assert second.kept.origins["token"] == "kept"
    third = options_from_args(parse("--host", "0.0.0.0", "--data", data, "--token", "new-one"), {})
    assert third.config.token == "new-one" and third.kept is not None and third.kept.replaced == ("token",)
    with pytest.raises(ValueError, match="must differ"):
        options_from_args(parse("--host", "0.0.0.0", "--data", data, "--admin-token", "new-one"), {})


def test_tls_options_name_the_ca_file_notebooks_need(tmp_path: Path) -> None:
    files = cert_files(tmp_path / "tls")
    cert, key, ca = str(files.certfile), str(files.keyfile), str(files.cafile)
    with_ca = classroom_options("127.0.0.1", 0, certfile=cert, keyfile=key, cafile=ca)
    assert with_ca.cafile == str(files.cafile.resolve()) and with_ca.tls_note is None
    without = classroom_options("127.0.0.1", 0, certfile=cert, keyfile=key)
    assert without.cafile is None and "--cafile" in (without.tls_note or "")
    other = cert_files(tmp_path / "other")
    with pytest.raises(ValueError, match="does not vouch for --certfile"):
        classroom_options("127.0.0.1", 0, certfile=cert, keyfile=key, cafile=str(other.cafile))
    with pytest.raises(ValueError, match="--cafile goes with --certfile"):
        classroom_options("127.0.0.1", 0, cafile=ca)
    with pytest.raises(ValueError, match="--cafile '.*missing.pem' does not exist"):
        classroom_options("127.0.0.1", 0, certfile=cert, keyfile=key, cafile=str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="no private key: give the key file too .*--keyfile"):
        classroom_options("127.0.0.1", 0, certfile=cert)
    far = cert_files(tmp_path / "far", "chat.example.org")
    elsewhere = classroom_options("127.0.0.1", 0, certfile=str(far.certfile), keyfile=str(far.keyfile),
                                  cafile=str(far.cafile))
    assert "not for 127.0.0.1" in (elsewhere.tls_note or "")


def test_a_self_signed_certificate_is_its_own_ca_file(tmp_path: Path) -> None:
    certfile, keyfile = self_signed(tmp_path)
    options = classroom_options("127.0.0.1", 0, certfile=str(certfile), keyfile=str(keyfile))
    assert options.cafile == str(certfile.resolve()) and options.tls_note is None
