"""Bots hosted by the server: they join, type for a moment, answer, and never loop."""

from __future__ import annotations

import pytest

from support import Peer
from wslab.kernel.course_server import ServerHandle
from wslab.server.bots import MAX_DELAY, ChatBot, ada_reply, add_bot, echo_reply, remove_bot


async def test_bot_types_then_answers(server: ServerHandle) -> None:
    bot = add_bot(server, "Ada", think=0.05, typing_for=0.1)
    assert bot.joined and repr(bot) == "ChatBot('Ada', in #lobby)"
    peer = await Peer.open(server.chat_url)
    welcome = await peer.join("Bob")
    assert welcome["online"] == ["Ada", "Bob"]
    await peer.send({"type": "chat", "content": "hello there"})
    mine = await peer.expect("chat")
    assert mine["sender"] == "Bob"
    typing = await peer.expect("typing", where=lambda m: m["typing"] == ["Ada"])
    assert typing["typing"] == ["Ada"]
    cleared = await peer.expect("typing")  # the server clears typing as the answer arrives
    assert cleared["typing"] == []
    answer = await peer.expect("chat")
    assert answer["sender"] == "Ada"
    assert answer["content"] == "Hello Bob! I'm Ada, a bot living inside the server."
    assert bot.heard == [("Bob", "hello there")]
    await peer.close()


async def test_two_bots_do_not_answer_each_other(server: ServerHandle) -> None:
    ada = add_bot(server, "Ada", think=0.0, typing_for=0.0)
    echo = add_bot(server, "Echo Bot", reply=echo_reply, think=0.0, typing_for=0.0)
    peer = await Peer.open(server.chat_url)
    await peer.join("Bob")
    await peer.send({"type": "chat", "content": "ping"})
    senders = set()
    for _ in range(3):
        senders.add((await peer.expect("chat"))["sender"])
    assert senders == {"Bob", "Ada", "Echo Bot"}
    await peer.nothing_more(0.3)
    assert ada.heard == [("Bob", "ping")] and echo.heard == [("Bob", "ping")]
    await peer.close()


async def test_a_flood_gets_a_bounded_number_of_answers(server: ServerHandle) -> None:
    bot = add_bot(server, "Ada", think=0.2, typing_for=0.0)
    peer = await Peer.open(server.chat_url)
    await peer.join("Bob")
    for i in range(12):
        await peer.send({"type": "chat", "content": f"m{i}"})
    answers = 0
    while True:
        try:
            await peer.expect("chat", timeout=0.8, where=lambda m: m["sender"] == "Ada")
        except AssertionError:
            break
        answers += 1
    assert answers == 5 == len(bot.answered)
    await peer.close()


async def test_greeting_leaving_and_taken_names(server: ServerHandle) -> None:
    bot = add_bot(server, "Ada", greet=True, think=0.0, typing_for=0.0)
    peer = await Peer.open(server.chat_url)
    await peer.join("Bob")
    greeting = await peer.expect("chat")
    assert greeting["content"] == "Welcome to #lobby, Bob!"
    with pytest.raises(ValueError, match="already in room"):
        add_bot(server, "ada")  # another bot's name, differently cased: refused
    remove_bot(server, bot)
    left = await peer.expect("presence", where=lambda m: m["left"])
    assert left["left"] == ["Ada"] and left["joined"] == []
    await peer.close()


def test_bot_arguments_are_checked_and_delays_bounded() -> None:
    with pytest.raises(Exception, match="name"):
        ChatBot("<script>")
    bot = ChatBot("Ada", think=60, typing_for=-1)
    assert (bot.think, bot.typing_for) == (MAX_DELAY, 0.0)
    assert ada_reply("Bob", "why?").startswith("Good question, Bob.")
    assert ada_reply("Bob", "<img src=x onerror=alert(1)>") == "Bob, you said: <img src=x onerror=alert(1)>"


async def test_adding_a_bot_again_replaces_it(server: ServerHandle) -> None:
    first = add_bot(server, "Ada", think=0.0, typing_for=0.0)
    second = add_bot(server, "Ada", think=0.0, typing_for=0.0)  # the cell, run again
    assert not first.joined and second.joined
    peer = await Peer.open(server.chat_url)
    welcome = await peer.join("Bob")
    assert welcome["online"] == ["Ada", "Bob"]
    await peer.send({"type": "chat", "content": "hi"})
    await peer.expect("chat", where=lambda m: m["sender"] == "Ada")
    await peer.nothing_more(0.3)
    assert first.heard == [] and second.heard == [("Bob", "hi")]
    await peer.close()
