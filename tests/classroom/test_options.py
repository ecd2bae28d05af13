"""``wslab serve``'s options, validated into ServeOptions: the classroom's rules, each refusal naming its option."""

from __future__ import annotations

import argparse
from argparse import Namespace

import pytest

from wslab.classroom.options import DEFAULT_PORT, add_arguments, classroom_options, options_from_args


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


def test_scaling_and_the_workers_internal_options_reach_the_options() -> None:
    options = options_from_args(parse("--workers", "3", "--data", "rooms", "--reuse-port", "--no-banner"))
    assert (options.workers, options.data, options.redis) == (3, "rooms", None)
    assert options.config.reuse_port is True and options.banner is False
    shared = options_from_args(parse("--redis", "valkey://127.0.0.1:6379/0"))
    assert shared.redis == "valkey://127.0.0.1:6379/0" and shared.config.reuse_port is False


def test_a_keyfile_needs_a_certfile() -> None:
    with pytest.raises(ValueError, match="--keyfile needs --certfile"):
        classroom_options("127.0.0.1", 0, keyfile="key.pem")
