"""Who may open a chat connection: the token, the join code, and the limit on guessing the code (sans I/O)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wslab.core.admission import (
    GUESS_BURST,
    GUESSES_OVERALL_BURST,
    JOIN_CODE_ALPHABET,
    JOIN_CODE_LENGTH,
    JOIN_CODE_SPACE,
    MAX_PEERS,
    Admission,
    Admitted,
    Refused,
    format_join_code,
    new_join_code,
    normalize_join_code,
    validate_join_code,
)

TOKEN = "R-IEdLtWSiYKMS5qfA0Keg"
CODE = "K7QP3M"


def test_a_server_without_a_token_lets_everyone_in() -> None:
    assert Admission(None).check("10.0.0.1", None, 0.0) == Admitted("open")
    assert Admission(None).check("10.0.0.1", "anything", 0.0) == Admitted("open")
    assert Admission(None).open and not Admission("t0ken").open  # open: the server need not read a credential


def test_missing_and_wrong_are_told_apart_in_words_a_learner_can_act_on() -> None:
    gate = Admission(TOKEN, CODE)
    missing = gate.check("10.0.0.1", "", 0.0)
    wrong = gate.check("10.0.0.1", "nope", 0.0)
    assert isinstance(missing, Refused) and missing.reason == "missing"
    assert isinstance(wrong, Refused) and wrong.reason == "wrong"
    assert "required" in missing.message and "join code" in missing.message
    assert "wrong" in wrong.message and "ask your instructor" in wrong.message
    for refusal in (missing, wrong):
        assert len(refusal.message.encode()) <= 123  # a WebSocket close reason


def test_the_token_or_the_code_in_any_spelling_lets_in() -> None:
    gate = Admission(TOKEN, "k7q-p3m")
    assert gate.check("10.0.0.1", TOKEN, 0.0) == Admitted("token")
    for typed in ("K7QP3M", "k7q-p3m", "K7Q P3M", " k7qp3m "):
        assert gate.check("10.0.0.1", typed, 0.0) == Admitted("code")


def test_wrong_guesses_are_throttled_per_address_and_then_even_the_right_code_waits() -> None:
    gate = Admission(TOKEN, CODE)
    for i in range(GUESS_BURST):
        wrong = gate.check("10.0.0.9", f"AAAAA{JOIN_CODE_ALPHABET[i]}", 0.0)
        assert isinstance(wrong, Refused) and wrong.reason == "wrong"
    first = gate.check("10.0.0.9", "AAAAAA", 0.0)
    again = gate.check("10.0.0.9", CODE, 0.0)  # right, but not even compared while throttled
    assert isinstance(first, Refused) and first.reason == "throttled" and first.log
    assert isinstance(again, Refused) and again.reason == "throttled" and not again.log  # logged once
    assert "wait" in first.message
    assert gate.check("10.0.0.7", CODE, 0.0) == Admitted("code")  # another address is not held up
    assert gate.check("10.0.0.9", TOKEN, 0.0) == Admitted("token")  # nor the token, from anywhere
    assert gate.check("10.0.0.9", CODE, 10.0) == Admitted("code")  # one guess back after 10 s


def test_right_codes_cost_nothing_so_a_class_behind_one_proxy_all_gets_in() -> None:
    gate = Admission(TOKEN, CODE)
    assert all(gate.check("127.0.0.1", CODE, 0.0) == Admitted("code") for _ in range(200))


def test_guesses_from_many_addresses_meet_the_overall_limit() -> None:
    gate = Admission(TOKEN, CODE)
    results = [gate.check(f"10.1.{i // 250}.{i % 250}", "AAAAAA", 0.0) for i in range(GUESSES_OVERALL_BURST + 5)]
    assert [r.reason for r in results if isinstance(r, Refused)].count("wrong") == GUESSES_OVERALL_BURST
    assert isinstance(results[-1], Refused) and results[-1].reason == "throttled"
    assert gate.check("10.2.0.1", TOKEN, 0.0) == Admitted("token")  # the token still works for everyone


def test_the_addresses_remembered_are_bounded() -> None:
    gate = Admission(TOKEN, CODE, overall_burst=10**6)
    for i in range(MAX_PEERS + 100):
        gate.check(f"peer{i}", "AAAAAA", 0.0)
    assert len(gate._peers) == MAX_PEERS


def test_join_codes_are_easy_to_read_and_many() -> None:
    code = new_join_code()
    assert len(code) == JOIN_CODE_LENGTH and set(code) <= set(JOIN_CODE_ALPHABET)
    assert not set("0O1IL") & set(JOIN_CODE_ALPHABET)
    assert JOIN_CODE_SPACE > 800_000_000
    assert format_join_code("K7QP3M") == "K7Q-P3M"
    assert normalize_join_code("k7q-p3m") == "K7QP3M"
    assert len({new_join_code() for _ in range(50)}) == 50


@given(st.text(max_size=12))
def test_validate_accepts_exactly_what_normalises_to_a_code(text: str) -> None:
    normal = normalize_join_code(text)
    valid = len(normal) == JOIN_CODE_LENGTH and all(ch in JOIN_CODE_ALPHABET for ch in normal)
    if valid:
        assert validate_join_code(text) == normal
    else:
        with pytest.raises(ValueError, match="join code is 6 characters"):
            validate_join_code(text)


def test_a_join_code_needs_a_token() -> None:
    with pytest.raises(ValueError, match="needs a token"):
        Admission(None, CODE)
