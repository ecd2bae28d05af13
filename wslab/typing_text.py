"""Who is typing, as one line of text for a person."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["typing_text"]


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
