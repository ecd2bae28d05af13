"""Who may open a chat connection, sans I/O: the learners' token, or the room's short join code.

A classroom server has a *token* (``wslab serve`` generates 16 random bytes, far
too many to guess) and, for people who type rather than scan, a short *join
code* (``K7Q-P3M``: :data:`JOIN_CODE_LENGTH` characters from
:data:`JOIN_CODE_ALPHABET`, which leaves out 0/O, 1/I/L). A learner gives either
as ``?token=`` (or ``Authorization: Bearer``). A code that short can be guessed,
so wrong guesses are rate-limited, with the course's own
:class:`~wslab.core.ratelimit.TokenBucket`, per peer address
(:data:`GUESS_BURST` at once, then one every ``1/GUESS_RATE`` seconds) and over
all peers together (:data:`GUESSES_OVERALL_BURST`, :data:`GUESSES_OVERALL_RATE`):
at one wrong guess a second across every address, finding one code out of
:data:`JOIN_CODE_SPACE` takes about 14 years on average.

Contracts:

* the token is checked first and in constant time, and is never rate-limited:
  a class joining through one proxy (one peer address) is never throttled by
  someone else's wrong guesses;
* only *wrong* guesses cost: a learner who types the right code is let in
  however many joined before them from the same address;
* while a peer (or everyone, overall) has no guess left, its guesses are
  refused without being compared, right or wrong, so throttling cannot be
  used to learn the code;
* a missing credential, a wrong one and a throttled one are told apart
  (:class:`Refused` ``reason``), each with a sentence a learner can act on;
* nothing here reads a clock: ``now`` is handed in (monotonic seconds).

:meth:`Admission.check` returns :class:`Admitted` or :class:`Refused`; the shell
(:mod:`wslab.server.chat_server`) closes a refused connection with 4001 and the
refusal's ``message`` as the reason.
"""

from __future__ import annotations

import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from wslab.core.ratelimit import TokenBucket

__all__ = [
    "JOIN_CODE_ALPHABET",
    "JOIN_CODE_LENGTH",
    "JOIN_CODE_SPACE",
    "GUESS_RATE",
    "GUESS_BURST",
    "GUESSES_OVERALL_RATE",
    "GUESSES_OVERALL_BURST",
    "MAX_PEERS",
    "Admission",
    "Admitted",
    "Refused",
    "RefusalReason",
    "format_join_code",
    "new_join_code",
    "normalize_join_code",
    "validate_join_code",
]

JOIN_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
"""The characters of a join code: capitals and digits, without 0/O and 1/I/L, which people confuse."""

JOIN_CODE_LENGTH = 6
"""Characters in a join code (shown in two groups of three: ``K7Q-P3M``)."""

JOIN_CODE_SPACE = len(JOIN_CODE_ALPHABET) ** JOIN_CODE_LENGTH
"""How many join codes there are (31**6, about 887 million)."""

GUESS_RATE = 0.1
"""Wrong guesses a second one peer address gets back (one every 10 s)."""

GUESS_BURST = 5
"""Wrong guesses one peer address may make at once (typos included)."""

GUESSES_OVERALL_RATE = 1.0
"""Wrong guesses a second, over every address together."""

GUESSES_OVERALL_BURST = 30
"""Wrong guesses at once, over every address together."""

MAX_PEERS = 4096
"""Peer addresses whose guesses are remembered; the least recently seen is forgotten first."""

RefusalReason = Literal["missing", "wrong", "throttled"]
"""Why a connection was refused: no credential, a wrong one, or too many wrong guesses."""


@dataclass(frozen=True)
class Admitted:
    """Let in: ``by`` says with what (``"token"``, ``"code"``, or ``"open"`` for a server without a token)."""

    by: Literal["token", "code", "open"]


@dataclass(frozen=True)
class Refused:
    """Not let in. ``message`` is for the learner (a close reason, at most 123 bytes); ``log`` says
    whether this refusal is worth a line in the server's log (a throttled peer is logged once)."""

    reason: RefusalReason
    message: str
    log: bool = True


_MISSING = "token required: open the link your instructor shared, or type the join code"
_WRONG = "wrong token or join code: ask your instructor for the current one"
_THROTTLED = "too many wrong join codes from your address: wait a minute, then try again"


def new_join_code() -> str:
    """A fresh random join code (normalised: no dash), from :data:`JOIN_CODE_ALPHABET`."""
    return "".join(secrets.choice(JOIN_CODE_ALPHABET) for _ in range(JOIN_CODE_LENGTH))


def normalize_join_code(text: str) -> str:
    """What a person typed, as a join code: capitals, without spaces and dashes (``k7q p3m`` -> ``K7QP3M``)."""
    return "".join(ch for ch in text.upper() if ch not in " -\t")


def validate_join_code(code: str) -> str:
    """Return ``code`` normalised, or raise :class:`ValueError` saying what a join code must be."""
    if not isinstance(code, str):
        raise ValueError(f"a join code is text, got {type(code).__name__}")
    normal = normalize_join_code(code)
    if len(normal) != JOIN_CODE_LENGTH or any(ch not in JOIN_CODE_ALPHABET for ch in normal):
        raise ValueError(
            f"a join code is {JOIN_CODE_LENGTH} characters from {JOIN_CODE_ALPHABET} "
            f"(no 0, O, 1, I or L), got {code!r}"
        )
    return normal


def format_join_code(code: str) -> str:
    """A join code as people read it: ``K7QP3M`` -> ``K7Q-P3M``."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


@dataclass
class _Peer:
    bucket: TokenBucket
    throttled: bool = False


class Admission:
    """Decide whether a chat connection may open (see the module's docstring).

    Args:
        token: the learners' token; None lets everyone in (a loopback server).
        join_code: the room's join code (any spelling :func:`normalize_join_code`
            accepts), or None for none. Needs a token.
        guess_rate, guess_burst: wrong guesses per peer address.
        overall_rate, overall_burst: wrong guesses over all addresses.

    Raises :class:`ValueError` for a join code without a token, or a malformed one.
    """

    def __init__(
        self,
        token: str | None,
        join_code: str | None = None,
        *,
        guess_rate: float = GUESS_RATE,
        guess_burst: int = GUESS_BURST,
        overall_rate: float = GUESSES_OVERALL_RATE,
        overall_burst: int = GUESSES_OVERALL_BURST,
    ) -> None:
        if join_code is not None and token is None:
            raise ValueError("a join code needs a token: without one, everyone may join anyway")
        self.token = token
        self.join_code = None if join_code is None else validate_join_code(join_code)
        self.guess_rate, self.guess_burst = guess_rate, guess_burst
        self._overall = TokenBucket(overall_rate, overall_burst)
        self._peers: OrderedDict[str, _Peer] = OrderedDict()
        TokenBucket(guess_rate, guess_burst)  # raises ValueError for bad numbers now, not at the first guess

    @property
    def open(self) -> bool:
        """True when everyone is admitted (no token): :meth:`check` needs no peer and no credential then."""
        return self.token is None

    def check(self, peer: str, given: str | None, now: float) -> Admitted | Refused:
        """May ``peer`` (its address, without the port) open a connection with ``given``?"""
        if self.token is None:  # open
            return Admitted("open")
        if not given:
            return Refused("missing", _MISSING)
        if hmac.compare_digest(given.encode(), self.token.encode()):
            return Admitted("token")
        state = self._peer(peer, now)
        if not (state.bucket.ready(now) and self._overall.ready(now)):
            first = not state.throttled
            state.throttled = True
            return Refused("throttled", _THROTTLED, log=first)
        state.throttled = False
        if self.join_code is not None and hmac.compare_digest(
            normalize_join_code(given).encode(), self.join_code.encode()
        ):
            return Admitted("code")
        state.bucket.allow(now)
        self._overall.allow(now)
        return Refused("wrong", _WRONG)

    def _peer(self, peer: str, now: float) -> _Peer:
        state = self._peers.get(peer)
        if state is None:
            state = self._peers[peer] = _Peer(TokenBucket(self.guess_rate, self.guess_burst, now))
            while len(self._peers) > MAX_PEERS:
                self._peers.popitem(last=False)
        else:
            self._peers.move_to_end(peer)
        return state

    def __repr__(self) -> str:
        return f"Admission(token={'set' if self.token else None}, join_code={'set' if self.join_code else None})"
