"""Typing indicators, sans I/O: when a client says it is typing, and the line of text that shows it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from wslab.core import protocol as p
from wslab.core.clock import SYSTEM_CLOCK, Clock

__all__ = ["typing_text", "TypingNotifier"]


def typing_text(names: Iterable[str], *, me: str | None = None, several: int = 3) -> str:
    """Describe who is typing.

    ``me`` is left out (you know when you are typing). With no one typing the
    text is empty; then ``"A is typing…"``, ``"A and B are typing…"``, and from
    ``several`` people on, ``"Several people are typing…"``.

    >>> typing_text(["Ada", "Bob"])
    'Ada and Bob are typing…'
    """
    others = [name for name in dict.fromkeys(names) if name != me]
    if not others:
        return ""
    if len(others) >= several:
        return "Several people are typing…"
    if len(others) == 1:
        return f"{others[0]} is typing…"
    return f"{', '.join(others[:-1])} and {others[-1]} are typing…"


class TypingNotifier:
    """Decides when a chat client sends ``{"type": "typing", ...}``, given key presses and a clock.

    The rules, each a line of the seed's exercise done with care:

    * the first key press sends ``typing: true`` (not every key press: that
      would be a frame per letter for everyone in the room);
    * while keys keep coming, ``true`` is sent again every :attr:`refresh`
      seconds, before the server's :data:`~wslab.core.protocol.TYPING_TIMEOUT`
      clears it;
    * :attr:`idle` seconds without a key press send ``typing: false``
      (call :meth:`tick` at :meth:`next_deadline`);
    * sending the message, or emptying the input, sends ``typing: false``.

    Every method returns the frames (dicts) to send, usually none.
    """

    def __init__(
        self,
        clock: Clock = SYSTEM_CLOCK,
        *,
        idle: float = 2.0,
        refresh: float | None = None,
        server_timeout: float = p.TYPING_TIMEOUT,
    ) -> None:
        if idle <= 0:
            raise ValueError("idle must be > 0")
        self.clock = clock
        self.idle = idle
        self.refresh = refresh if refresh is not None else server_timeout * 0.6
        if not 0 < self.refresh < server_timeout:
            raise ValueError(
                f"refresh ({self.refresh:g} s) must be shorter than the server's timeout ({server_timeout:g} s)"
            )
        self.typing = False
        self._last_key = 0.0
        self._last_sent = 0.0

    @staticmethod
    def frame(typing: bool) -> dict[str, Any]:
        return {"type": "typing", "typing": typing}

    def keystroke(self, text: str | None = None, now: float | None = None) -> list[dict[str, Any]]:
        """A key was pressed; ``text`` is the input's new value, if known (empty means cleared).

        ``now`` is monotonic seconds; by default the notifier's clock is read.
        """
        now = self.clock.monotonic() if now is None else now
        if text is not None and not text.strip():
            return self._stop()
        self._last_key = now
        if not self.typing:
            self.typing = True
            self._last_sent = now
            return [self.frame(True)]
        if now - self._last_sent >= self.refresh:
            self._last_sent = now
            return [self.frame(True)]
        return []

    def tick(self, now: float | None = None) -> list[dict[str, Any]]:
        """Time passed: ``typing: false`` once the keys have been idle for :attr:`idle` seconds (or more)."""
        now = self.clock.monotonic() if now is None else now
        if self.typing and now - self._last_key >= self.idle:
            return self._stop()
        return []

    def sent(self) -> list[dict[str, Any]]:
        """The message was sent: stop typing (the server clears it too, but say so)."""
        return self._stop()

    def next_deadline(self) -> float | None:
        """When :meth:`tick` may have work (monotonic seconds), or None while not typing."""
        return self._last_key + self.idle if self.typing else None

    def reset(self) -> None:
        """The connection dropped: the server forgot our typing, so forget it too (sends nothing)."""
        self.typing = False

    def _stop(self) -> list[dict[str, Any]]:
        if not self.typing:
            return []
        self.typing = False
        return [self.frame(False)]
