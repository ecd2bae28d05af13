"""The channels, sans I/O: opening, subscribing and unsubscribing alike, publishing with a gapless seq.

No hub and no sockets: connections are plain strings and the wall clock a plain number.
"""

from __future__ import annotations

import json

import pytest

from wslab.core import protocol as p
from wslab.core.channels import LISTED_CHANNELS, Channels

WALL = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def refusal(call: object) -> dict[str, object]:
    """The ``error`` frame of the ProtocolError that ``call()`` raises."""
    assert callable(call)
    with pytest.raises(p.ProtocolError) as info:
        call()
    return info.value.to_message()


def test_only_open_channels_can_be_subscribed_and_the_error_lists_them() -> None:
    channels = Channels()
    error = refusal(lambda: channels.subscribe("dash", "scores"))
    assert error == {
        "type": "error",
        "code": "unknown-channel",
        "message": "there is no channel 'scores'; the server has not opened any channel yet",
        "field": "channel",
        "channel": "scores",
    }
    assert channels.open("updates") == "updates"
    channels.publish("quiz", 1, WALL)  # publishing opens a channel too
    message = str(refusal(lambda: channels.subscribe("dash", "scores"))["message"])
    assert message == "there is no channel 'scores'; the channels are: 'updates', 'quiz'"
    assert channels.names() == ["updates", "quiz"] and channels.subscribers("updates") == ()
    assert json.loads(channels.subscribe("dash", "updates")) == {"type": "subscribed", "channel": "updates"}
    assert channels.subscribers("updates") == ("dash",)


def test_an_unsubscribe_from_a_channel_that_is_not_open_is_refused_as_a_subscribe_is() -> None:
    channels = Channels()
    channels.open("updates")
    channels.subscribe("dash", "updates")
    assert refusal(lambda: channels.unsubscribe("dash", "nowhere")) == refusal(
        lambda: channels.subscribe("dash", "nowhere")
    )
    assert channels.names() == ["updates"] and channels.subscribers("updates") == ("dash",)  # nothing changed


def test_unsubscribe_from_an_open_channel_whether_subscribed_or_not() -> None:
    channels = Channels()
    channels.open("updates")
    channels.subscribe("a", "updates")
    channels.subscribe("b", "updates")
    assert json.loads(channels.unsubscribe("a", "updates")) == {"type": "unsubscribed", "channel": "updates"}
    assert json.loads(channels.unsubscribe("a", "updates")) == {"type": "unsubscribed", "channel": "updates"}
    assert channels.subscribers("updates") == ("b",)


def test_the_error_lists_a_bounded_number_of_channels() -> None:
    channels = Channels()
    for i in range(LISTED_CHANNELS + 30):
        channels.open(f"c{i}")
    channels.open("c0")  # twice is harmless
    message = str(refusal(lambda: channels.subscribe("dash", "nope"))["message"])
    assert f"'c{LISTED_CHANNELS - 1}'" in message and f"'c{LISTED_CHANNELS}'" not in message
    assert message.endswith("and 30 more")


def test_publish_numbers_updates_per_channel_and_encodes_each_once() -> None:
    channels = Channels()
    channels.open("updates")
    for conn in ("a", "b", "c"):
        channels.subscribe(conn, "updates")
    to, frame = channels.publish("updates", {"price": 1}, WALL + 0.25)
    assert to == ("a", "b", "c")
    assert json.loads(frame) == {
        "type": "update", "channel": "updates", "seq": 1, "timestamp": "2023-11-14T22:13:20.250Z",
        "data": {"price": 1},
    }
    assert json.loads(channels.publish("updates", 2, WALL)[1])["seq"] == 2
    to, frame = channels.publish("other", 3, WALL)  # opens "other", which counts on its own
    assert to == () and json.loads(frame)["seq"] == 1 and channels.names() == ["updates", "other"]


def test_a_publish_that_cannot_be_sent_changes_nothing() -> None:
    channels = Channels()
    with pytest.raises(ValueError, match="channel"):
        channels.publish("a b", 1, WALL)
    with pytest.raises(ValueError):
        channels.publish("quiz", {"text": "\ud800"}, WALL)
    with pytest.raises(ValueError):
        channels.publish("quiz", float("nan"), WALL)
    assert channels.names() == []  # no channel opened by a failure
    channels.open("quiz")
    with pytest.raises(ValueError):
        channels.publish("quiz", {1, 2}, WALL)
    assert json.loads(channels.publish("quiz", "ok", WALL)[1])["seq"] == 1  # no seq used by a failure
    with pytest.raises(p.ProtocolError):
        channels.open("\ud800")


def test_forget_takes_a_connection_off_every_channel() -> None:
    channels = Channels()
    for name in ("updates", "scores"):
        channels.open(name)
        channels.subscribe("dash", name)
        channels.subscribe("other", name)
    channels.forget("dash")
    channels.forget("dash")  # twice is harmless
    assert channels.subscribers("updates") == channels.subscribers("scores") == ("other",)
    assert channels.publish("updates", 1, WALL)[0] == ("other",)
