"""Typing indicators, sans I/O: who is shown as typing, and when a client says it is typing."""

from __future__ import annotations

import pytest

from wslab.core.clock import FakeClock
from wslab.core.protocol import TYPING_TIMEOUT
from wslab.core.typing_status import TypingNotifier, typing_text


@pytest.mark.parametrize(
    ("names", "me", "text"),
    [
        ([], None, ""),
        (["Ada"], None, "Ada is typing…"),
        (["Ada"], "Ada", ""),
        (["Ada", "Bob"], None, "Ada and Bob are typing…"),
        (["Ada", "Bob"], "Ada", "Bob is typing…"),
        (["Ada", "Bob", "Cy"], None, "Several people are typing…"),
        (["Ada", "Bob", "Cy"], "Cy", "Ada and Bob are typing…"),
        (["Ada", "Ada"], None, "Ada is typing…"),
    ],
)
def test_typing_text(names: list[str], me: str | None, text: str) -> None:
    assert typing_text(names, me=me) == text


def test_typing_true_on_first_key_only_then_false_after_idle() -> None:
    clock = FakeClock()
    notifier = TypingNotifier(clock, idle=2.0)
    assert notifier.keystroke("h") == [{"type": "typing", "typing": True}]
    clock.advance(0.3)
    assert notifier.keystroke("he") == []
    clock.advance(0.3)
    assert notifier.keystroke("hel") == []
    assert notifier.next_deadline() == pytest.approx(2.6)
    clock.advance(1.9)
    assert notifier.tick() == []
    clock.advance(0.1)
    assert notifier.tick() == [{"type": "typing", "typing": False}]
    assert notifier.tick() == []
    assert notifier.next_deadline() is None


def test_typing_is_refreshed_before_the_server_forgets_it() -> None:
    clock = FakeClock()
    notifier = TypingNotifier(clock, idle=2.0, server_timeout=TYPING_TIMEOUT)
    sent = notifier.keystroke("a")
    for _ in range(40):  # keep typing for 10 s, a key every 0.25 s
        clock.advance(0.25)
        sent += notifier.keystroke("ab")
        sent += notifier.tick()
    trues = [f for f in sent if f["typing"]]
    assert all(f["typing"] for f in sent)
    assert 3 <= len(trues) <= 5  # not one per key (41 keys)
    assert notifier.refresh < TYPING_TIMEOUT


def test_typing_false_on_send_and_on_cleared_input() -> None:
    clock = FakeClock()
    notifier = TypingNotifier(clock)
    notifier.keystroke("x")
    assert notifier.sent() == [{"type": "typing", "typing": False}]
    assert notifier.sent() == []
    notifier.keystroke("y")
    assert notifier.keystroke("") == [{"type": "typing", "typing": False}]
    assert notifier.keystroke("   ") == []


def test_typing_notifier_rejects_a_refresh_slower_than_the_server() -> None:
    with pytest.raises(ValueError, match="shorter"):
        TypingNotifier(FakeClock(), refresh=6.0, server_timeout=5.0)


def test_from_several_people_on_the_text_stops_naming_them() -> None:
    assert typing_text(["Ada", "Bob"], several=2) == "Several people are typing…"
    assert typing_text(["Ada", "Bob", "Cy", "Di"], several=5) == "Ada, Bob, Cy and Di are typing…"
    assert typing_text(iter(["Ada"])) == "Ada is typing…"  # any iterable of names


def test_the_notifier_reads_its_clock_unless_given_now() -> None:
    clock = FakeClock(monotonic=100.0)
    notifier = TypingNotifier(clock, idle=1.0)
    assert notifier.keystroke("a", now=5.0) == [{"type": "typing", "typing": True}]
    assert notifier.next_deadline() == 6.0  # the given now, not the clock's 100
    assert notifier.tick(now=5.5) == []
    assert notifier.tick() == [{"type": "typing", "typing": False}]  # the clock's 100: long idle


def test_a_dropped_connection_resets_without_sending_and_the_next_key_says_true_again() -> None:
    clock = FakeClock()
    notifier = TypingNotifier(clock)
    assert notifier.keystroke("a") == [TypingNotifier.frame(True)]
    notifier.reset()
    assert not notifier.typing and notifier.next_deadline() is None
    assert notifier.tick() == [] and notifier.sent() == []  # nothing to take back: the server forgot it
    assert notifier.keystroke("ab") == [TypingNotifier.frame(True)]


def test_the_default_refresh_is_well_inside_the_servers_timeout() -> None:
    notifier = TypingNotifier(FakeClock(), server_timeout=5.0)
    assert notifier.refresh == pytest.approx(3.0)
    with pytest.raises(ValueError, match="idle must be > 0"):
        TypingNotifier(FakeClock(), idle=0)
    with pytest.raises(ValueError, match="shorter"):
        TypingNotifier(FakeClock(), refresh=0)
