"""ServerConfig: every bad value refused when the config is made; where a server may listen without a token."""

from __future__ import annotations

import pytest

from wslab.server.config import ServerConfig, generate_token, is_loopback


def test_is_loopback() -> None:
    for host in ("127.0.0.1", "127.8.9.10", "::1", "localhost", "LOCALHOST", "[::1]"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.5", "10.0.0.1", "example.org", ""):
        assert not is_loopback(host), host


def test_a_server_others_can_reach_needs_a_token_and_loopback_does_not() -> None:
    assert ServerConfig().token is None
    with pytest.raises(ValueError, match="needs a token"):
        ServerConfig(host="0.0.0.0")
    assert ServerConfig(host="0.0.0.0", token="t").token == "t"
    with pytest.raises(ValueError, match="must not be empty"):
        ServerConfig(token="")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"port": -1}, "port must be 0 to 65535"),
        ({"port": 70000}, "port must be 0 to 65535"),
        ({"update_interval": 0}, "update_interval must be > 0 or None"),
        ({"keyfile": "key.pem"}, "keyfile needs certfile"),
    ],
)
def test_nonsense_values_are_refused_with_a_sentence(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServerConfig(**options)  # type: ignore[arg-type]


def test_an_epoch_must_be_valid() -> None:
    with pytest.raises(ValueError):
        ServerConfig(epoch="")
    assert ServerConfig(epoch="run-1").epoch == "run-1"


def test_generated_tokens_are_long_random_and_url_safe() -> None:
    tokens = {generate_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(len(t) >= 22 and all(c.isalnum() or c in "-_" for c in t) for t in tokens)
