"""The chat window, without a browser: set .value, call .click(), read what the view shows."""

from __future__ import annotations

from typing import Any

import pytest

from support.fakes import XSS, FakeClient
from wslab.core.clock import FakeClock
from wslab.ui.chat import ChatUI, with_token


def welcome(name: str = "Bob", online: list[str] | None = None, history: list | None = None) -> dict:
    return {"type": "welcome", "name": name, "room": "lobby", "online": online or ["Ada", name],
            "typing": [], "seq": len(history or []), "history": history or [], "history_complete": True}


def chat(seq: int, sender: str, content: str, **extra: Any) -> dict:
    return {"type": "chat", "room": "lobby", "seq": seq, "sender": sender, "content": content,
            "timestamp": "2026-11-27T10:11:12.345Z", **extra}


def make_ui(**options: Any) -> tuple[ChatUI, FakeClient, FakeClock]:
    clock = FakeClock()
    client = FakeClient(clock)
    ui = ChatUI(None, "Bob", client=client, clock=clock, **options)
    client.connected()
    return ui, client, clock


def test_chat_ui_joins_and_shows_sender_content_and_time() -> None:
    ui, client, _ = make_ui()
    assert client.joined == ("Bob", "lobby") and client.started
    assert repr(ui) == "ChatUI(name='Bob', room='lobby')"
    assert "No messages yet" in ui.messages.value
    client.message(welcome(history=[chat(1, "Ada", "hi Bob")]))
    assert "connected" in ui.status.value and "Ada, Bob" in ui.status.value
    assert "10:11:12" in ui.messages.value and "<strong" in ui.messages.value and "hi Bob" in ui.messages.value
    assert ui.transcript() == ["Ada: hi Bob"]
    assert ui.transcript(times=True) == ["[10:11:12] Ada: hi Bob"]


def test_typing_then_click_sends_typing_and_chat_with_an_id() -> None:
    ui, client, clock = make_ui()
    client.message(welcome())
    ui.input.value = "h"
    ui.input.value = "he"
    ui.input.value = "hello"
    assert client.sent == [{"type": "typing", "typing": True}]
    ui.button.click()
    assert client.sent[1] == {"type": "typing", "typing": False}
    sent_chat = client.sent[2]
    assert sent_chat["type"] == "chat" and sent_chat["content"] == "hello" and sent_chat["id"]
    assert ui.input.value == "" and len(client.sent) == 3
    assert "(sending…)" in ui.messages.value
    client.message(chat(1, "Bob", "hello", id=sent_chat["id"]))
    assert "(sending…)" not in ui.messages.value and ui.transcript() == ["Bob: hello"]
    ui.button.click()  # empty input: nothing sent
    assert len(client.sent) == 3


def test_typing_is_not_queued_while_offline_but_the_message_is() -> None:
    ui, client, _ = make_ui()
    client.message(welcome())
    client.do(client.session.disconnected(1012, "restart", 0.0))
    ui.input.value = "hi"
    ui.button.click()
    assert client.sent == [] and ui.pending == {"t-1": "hi"} and "(sending…)" in ui.messages.value
    client.connected()
    client.message(welcome())
    assert [f["type"] for f in client.sent] == ["chat"]


def test_typing_false_after_idle() -> None:
    ui, client, clock = make_ui()
    client.message(welcome())
    ui.input.value = "a"
    clock.advance(2.0)
    client.tick()
    assert client.sent == [{"type": "typing", "typing": True}, {"type": "typing", "typing": False}]


def test_typing_indicator_line() -> None:
    ui, client, _ = make_ui()
    client.message(welcome(online=["Ada", "Bob", "Cy", "Di"]))
    client.message({"type": "typing", "typing": ["Ada"]})
    assert "Ada is typing…" in ui.typing_line.value
    client.message({"type": "typing", "typing": ["Ada", "Bob", "Cy"]})
    assert "Ada and Cy are typing…" in ui.typing_line.value
    client.message({"type": "typing", "typing": ["Ada", "Cy", "Di"]})
    assert "Several people are typing…" in ui.typing_line.value
    client.message({"type": "typing", "typing": []})
    assert "typing" not in ui.typing_line.value


@pytest.mark.parametrize("evil", XSS)
def test_user_strings_render_literally(evil: str) -> None:
    ui, client, _ = make_ui()
    client.message(welcome())
    client.message(chat(1, "Ada", evil))
    client.message({"type": "error", "code": "bad-field", "message": evil})
    ui.input.value = evil
    ui.send()
    for html in (ui.messages.value, ui.status.value):
        assert evil not in html
        assert "&lt;" in html
    assert ui.transcript() == [f"Ada: {evil}"]


def test_token_goes_into_the_url_and_bad_names_are_refused() -> None:
    assert with_token("ws://h:1/chat", "s3cret") == "ws://h:1/chat?token=s3cret"
    assert with_token("ws://h:1/chat?token=old&x=1", "new") == "ws://h:1/chat?x=1&token=new"
    assert with_token("ws://h:1/chat", None) == "ws://h:1/chat"
    with pytest.raises(Exception, match="name"):
        ChatUI(None, "<script>", client=FakeClient())
    with pytest.raises(ValueError, match="URL"):
        ChatUI(None, "Bob")


def test_too_long_message_is_refused_with_a_note() -> None:
    ui, client, _ = make_ui()
    ui.input.value = "x" * 2001
    ui.button.click()
    assert [f for f in client.sent if f["type"] == "chat"] == []
    assert "bad-field" in ui.status.value and "2000" in ui.status.value


def test_chat_ui_after_a_server_restart_keeps_the_old_messages_and_shows_the_new_ones() -> None:
    ui, client, _ = make_ui()
    client.message({**welcome(history=[chat(1, "Ada", "before")]), "epoch": "e1"})
    client.do(client.session.disconnected(1012, "restart", 1.0))
    assert "offline" in ui.status.value
    client.connected()
    client.message({**welcome(history=[chat(1, "Cy", "after")]), "epoch": "e2"})
    assert ui.transcript() == ["Ada: before", "Cy: after"]  # seq 1 again, shown: a new epoch
    assert ui.model.notices[-1] == "the server started over: its history begins again below"
    before, after = ui.messages.value.index("before"), ui.messages.value.index("after")
    assert before < ui.messages.value.index("the server started over") < after
    client.message(chat(1, "Cy", "after"))  # the same message again: not shown twice
    assert ui.transcript() == ["Ada: before", "Cy: after"]


async def test_chat_ui_on_a_real_server_sees_the_bot_type_and_answer(server: Any) -> None:
    from wslab.server.bots import add_bot

    add_bot(server, "Ada", think=0.05, typing_for=0.3)
    ui = ChatUI(server.chat_url, "Bob")
    await ui.wait_joined(timeout=5)
    assert "online: Ada, Bob" in ui.status.value
    ui.input.value = "hello <b>Ada</b>"
    ui.button.click()
    await ui.client.wait_for("typing", timeout=5, where=lambda m: m["typing"] == ["Ada"])
    assert "Ada is typing…" in ui.typing_line.value
    await ui.client.wait_for("chat", timeout=5, where=lambda m: m["sender"] == "Ada")
    assert ui.transcript() == ["Bob: hello <b>Ada</b>", "Ada: Hello Bob! I'm Ada, a bot living inside the server."]
    assert ui.pending == {} and "<b>Ada</b>" not in ui.messages.value
    assert "typing" not in ui.typing_line.value
    ui.leave()
    await ui.client.wait_for("closed", timeout=5)
    assert "closed" in ui.status.value


async def test_chat_ui_joins_a_server_that_wants_a_token(server_factory: Any) -> None:
    guarded = server_factory(token="s3cret")
    ui = ChatUI(guarded.chat_url, "Bob", token="s3cret")
    await ui.wait_joined(timeout=5)
    assert ui.model.online == ["Bob"]
    ui.leave()
    refused = ChatUI(guarded.chat_url, "Eve")
    await refused.client.wait_for("closed", timeout=5)
    assert "4001" in refused.status.value and refused.model.online == []


async def test_running_the_cell_again_replaces_the_window_instead_of_clashing(server: Any) -> None:
    first = ChatUI(server.chat_url, "Bob")
    await first.wait_joined(timeout=5)
    second = ChatUI(server.chat_url, "Bob")  # the same cell, run again
    await second.wait_joined(timeout=5)
    assert first.client.state == "closed" and "closed" in first.status.value
    assert second.model.online == ["Bob"] and second.model.errors == []
    second.leave()
    await second.client.wait_for("closed", timeout=5)  # closed politely: the server's stop need not wait


async def test_over_wss_with_a_private_ca_and_without_it_the_certificate_error_is_shown(
    server_factory: Any, tmp_path: Any
) -> None:
    """A real server with a trustme CA: cafile= joins and chats; without it the window says why, with the reason."""
    from support import WAIT
    from support.tls import cert_files

    files = cert_files(tmp_path / "tls")
    handle = server_factory(certfile=str(files.certfile), keyfile=str(files.keyfile))
    ada = ChatUI(handle.chat_url, "Ada", cafile=str(files.cafile))
    bob = ChatUI(handle.chat_url, "Bob")  # the system's CAs only: the workshop's CA is not among them
    try:
        await ada.wait_joined(WAIT)
        ada.send("over wss")
        await ada.client.flush(WAIT)
        assert ada.transcript() == ["Ada: over wss"] and "connected" in ada.status.value
        failed = await bob.client.wait_for("failed", WAIT)
        assert "certificate is not trusted (unable to get local issuer certificate)" in failed["error"]
        assert "cannot connect (attempt" in bob.status.value
        assert "unable to get local issuer certificate" in bob.status.value and "cafile=" in bob.status.value
    finally:
        for ui in (ada, bob):
            await ui.client.aclose(WAIT)
    with pytest.raises(ValueError, match="CA file '.*missing.pem' does not exist"):
        ChatUI(handle.chat_url, "Cy", cafile=str(tmp_path / "missing.pem"))


def test_what_a_screen_reader_finds_a_named_log_one_item_per_message_a_status_line_named_controls() -> None:
    from html.parser import HTMLParser

    class Tags(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.found: list[tuple[str, dict[str, str | None]]] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.found.append((tag, dict(attrs)))

    def tags(markup: str) -> list[tuple[str, dict[str, str | None]]]:
        parser = Tags()
        parser.feed(markup)
        return parser.found

    ui, client, _ = make_ui()
    client.message(welcome(history=[chat(1, "Ada", "hi Bob"), chat(2, "Bob", XSS)]))
    client.message({"type": "typing", "typing": ["Ada"]})
    found = tags(ui.messages.value)
    log = [attrs for tag, attrs in found if attrs.get("role") == "log"]
    assert log == [log[0]] and log[0]["aria-label"] == "Messages in #lobby" and log[0]["tabindex"] == "0"
    items = [attrs for tag, attrs in found if tag == "li"]
    assert [attrs["class"] for attrs in items] == ["wslab-msg", "wslab-msg"]  # one element per message
    times = [attrs for tag, attrs in found if tag == "time"]
    assert [t["datetime"] for t in times] == ["2026-11-27T10:11:12.345Z"] * 2
    assert "font-size:12px" in str(times[0]["style"])  # no smaller than 12 px
    assert [attrs["class"] for tag, attrs in found if tag == "strong"] == ["wslab-sender", "wslab-sender"]
    status = [attrs for tag, attrs in tags(ui.typing_line.value) if attrs.get("role") == "status"]
    assert len(status) == 1 and "Ada is typing…" in ui.typing_line.value
    assert ui.input.description == "Message" and ui.button.description == "Send" and not ui.button.icon
    ui.input.value = "x" * 2001  # too long: said in words, not by the red alone
    assert "2001/2000 (too long)" in ui.typing_line.value
