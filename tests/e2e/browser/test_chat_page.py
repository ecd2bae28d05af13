"""The browser chat page (``GET /``) in headless Chromium: chat, typing, escaping, reconnects.

Each test starts its own server (``server_factory``) serving the page with a
token, and opens pages in separate browser contexts (separate people). Every
wait is Playwright's ``expect`` with a timeout; nothing sleeps.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wslab.core.backoff import Backoff, BackoffPolicy
from wslab.core.typing_status import TypingNotifier, typing_text
from wslab.kernel.course_server import ServerHandle
from wslab.server.pages import chat_page

pytestmark = pytest.mark.browser

TOKEN = "classroom-token"
WAIT_MS = 15_000
"""Bound on any single wait for the page (a busy 2-core CI machine)."""


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


class ChatPage:
    """One person in one browser context, with what their page logged."""

    def __init__(self, page: Any, name: str) -> None:
        self.page = page
        self.name = name
        self.errors: list[str] = []
        self.sent: list[dict[str, Any]] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", self._console)
        page.on("websocket", self._watch)

    def _console(self, message: Any) -> None:
        # The browser itself logs each refused connection while the server is down; that is expected.
        if message.type == "error" and not message.text.startswith("WebSocket connection to "):
            self.errors.append(message.text)

    def _watch(self, ws: Any) -> None:
        def sent(payload: Any) -> None:
            try:
                self.sent.append(json.loads(payload))
            except (TypeError, ValueError):
                pass

        ws.on("framesent", sent)

    @property
    def status(self) -> Any:
        return self.page.locator("#status")

    @property
    def messages(self) -> Any:
        return self.page.locator("#messages li.message")

    def say(self, text: str) -> None:
        self.page.fill("#message-input", text)
        self.page.press("#message-input", "Enter")

    def seqs(self) -> list[int]:
        seqs = self.page.eval_on_selector_all("#messages li.message", "els => els.map(e => e.dataset.seq)")
        return [int(s) for s in seqs]

    def contents(self) -> list[str]:
        contents = self.page.eval_on_selector_all("#messages li.message .content", "els => els.map(e => e.textContent)")
        return [str(c) for c in contents]

    def wait_online(self, timeout_ms: int = WAIT_MS) -> None:
        expect = _expect()
        expect(self.status).to_have_attribute("data-state", "online", timeout=timeout_ms)
        expect(self.page.locator("#join-form")).to_be_hidden()
        expect(self.page.locator("#message-input")).to_be_visible()


@pytest.fixture
def chat_server(server_factory: Callable[..., ServerHandle]) -> ServerHandle:
    return server_factory(token=TOKEN, index_html=chat_page(), typing_timeout=5.0)


@pytest.fixture
def open_chat(browser: Any, chat_server: ServerHandle) -> Iterator[Callable[..., ChatPage]]:
    contexts: list[Any] = []
    opened: list[ChatPage] = []

    def open_chat(name: str, *, token: str | None = TOKEN, join: bool = True) -> ChatPage:
        context = browser.new_context(viewport={"width": 900, "height": 700})
        contexts.append(context)
        chat = ChatPage(context.new_page(), name)
        opened.append(chat)
        query = f"?token={token}" if token else ""
        chat.page.goto(chat_server.http_url + query, timeout=WAIT_MS)
        if join:
            chat.page.fill("#name-input", name)
            chat.page.click("#join-form button")
            chat.wait_online()
        return chat

    yield open_chat
    for context in contexts:
        context.close()
    for chat in opened:
        assert chat.errors == [], f"{chat.name}'s page logged errors: {chat.errors}"


def test_two_pages_chat(open_chat: Callable[..., ChatPage], artifacts: Path) -> None:
    expect = _expect()
    ada, bob = open_chat("Ada"), open_chat("Bob")
    # Bob's welcome has the full list; Ada's page applies the presence delta that Bob joined.
    expect(ada.page.locator("#online-list li")).to_have_text(["Ada", "Bob"], timeout=WAIT_MS)
    expect(ada.page.locator("#online-count")).to_have_text("2")
    expect(bob.page.locator("#online-list li")).to_have_text(["Ada", "Bob"])
    expect(ada.page.locator("#messages li.notice")).to_have_text(["Bob joined"], timeout=WAIT_MS)
    expect(bob.page.locator("#messages li.notice")).to_have_count(0)  # you are not told that you joined

    ada.say("Hello Bob, can you see this?")
    bob.say("Loud and clear, Ada.")
    for chat in (ada, bob):
        expect(chat.messages).to_have_count(2, timeout=WAIT_MS)
        expect(chat.messages.locator(".sender")).to_have_text(["Ada", "Bob"])
        expect(chat.messages.locator(".content")).to_have_text(["Hello Bob, can you see this?", "Loud and clear, Ada."])
        times = chat.page.eval_on_selector_all("#messages time", "els => els.map(e => [e.dateTime, e.textContent])")
        assert all(iso.endswith("Z") and shown for iso, shown in times), times
    assert ada.seqs() == bob.seqs() == [1, 2]
    bob.page.screenshot(path=str(artifacts / "chat-two-pages.png"))

    bob.page.close()  # Bob leaves: Ada's page removes him
    expect(ada.page.locator("#online-list li")).to_have_text(["Ada"], timeout=WAIT_MS)
    expect(ada.page.locator("#online-count")).to_have_text("1")
    expect(ada.page.locator("#messages li.notice")).to_have_text(["Bob joined", "Bob left"])


def test_typing_shows_and_clears(open_chat: Callable[..., ChatPage], artifacts: Path) -> None:
    expect = _expect()
    ada, bob, cy = open_chat("Ada"), open_chat("Bob"), open_chat("Cy")

    ada.page.locator("#message-input").press_sequentially("hello there", delay=20)
    expect(bob.page.locator("#typing")).to_have_text("Ada is typing…", timeout=WAIT_MS)
    expect(ada.page.locator("#typing")).to_have_text("")  # you are not told about yourself
    typing_frames = [m for m in ada.sent if m.get("type") == "typing" and m.get("typing") is True]
    assert len(typing_frames) == 1, "typing: true is sent once, not on every key"

    bob.page.locator("#message-input").press_sequentially("hi", delay=20)
    expect(cy.page.locator("#typing")).to_have_text("Ada and Bob are typing…", timeout=WAIT_MS)
    cy.page.screenshot(path=str(artifacts / "chat-typing.png"))

    ada.page.press("#message-input", "Enter")  # sending clears Ada at once
    expect(cy.page.locator("#typing")).to_have_text("Bob is typing…", timeout=WAIT_MS)
    # Bob stops typing: his page sends typing false after ~2 s idle, long before the server's 5 s expiry.
    expect(cy.page.locator("#typing")).to_have_text("", timeout=4_500)
    assert {"type": "typing", "typing": False} in bob.sent
    expect(cy.messages.locator(".content")).to_have_text(["hello there"])


def test_user_content_renders_as_text(open_chat: Callable[..., ChatPage], artifacts: Path) -> None:
    expect = _expect()
    ada, bob = open_chat("Ada"), open_chat("Bob")
    attacks = [
        "<script>window.__pwned = 'script'</script>",
        "<img src=x onerror=\"window.__pwned = 'img'\">",
        "<b>not bold</b> & &amp; \u202e",
    ]
    for attack in attacks:
        ada.say(attack)
    for chat in (ada, bob):
        expect(chat.messages.locator(".content")).to_have_text(attacks, timeout=WAIT_MS)
        assert chat.page.locator("#messages img, #messages script, #messages b").count() == 0
        assert chat.page.evaluate("window.__pwned") is None
    bob.page.screenshot(path=str(artifacts / "chat-escaping.png"))


def test_outage_reconnects_and_catches_up_without_duplicates(
    open_chat: Callable[..., ChatPage], chat_server: ServerHandle, artifacts: Path
) -> None:
    expect = _expect()
    ada, bob = open_chat("Ada"), open_chat("Bob")
    ada.say("before the outage 1")
    bob.say("before the outage 2")
    for chat in (ada, bob):
        expect(chat.messages).to_have_count(2, timeout=WAIT_MS)

    chat_server.outage(4.0)  # closes every client with 1012; back on the same port after 4 s
    for chat in (ada, bob):
        expect(chat.status).to_have_attribute("data-state", "reconnecting", timeout=WAIT_MS)
    # While the pages are away, the room goes on: a tutor inside the server posts three messages...
    _post_as(chat_server, "Tutor", [f"while you were away {i}" for i in range(1, 4)])
    # ...and Ada sends one, which waits in her outbox instead of being dropped (the seed dropped it).
    ada.say("sent while offline")
    expect(ada.page.locator("#pending")).to_have_text("1 message waiting to be sent")
    # A status message (WCAG 4.1.3): a screen reader says it without focus moving there.
    expect(ada.page.get_by_role("status").filter(has_text="1 message waiting to be sent")).to_have_count(1)
    ada.page.screenshot(path=str(artifacts / "chat-outage.png"))

    # Full jitter may draw a long delay after a few quick failures (up to the page's cap, 30 s):
    # wait for the outage, one such delay, then as usual.
    for chat in (ada, bob):
        chat.wait_online(timeout_ms=4_000 + 30_000 + WAIT_MS)
        expect(chat.messages).to_have_count(6, timeout=WAIT_MS)
    expect(ada.page.locator("#pending")).to_have_text("")
    for chat in (ada, bob):
        assert chat.seqs() == [1, 2, 3, 4, 5, 6], chat.seqs()
        contents = chat.contents()
        assert contents[:5] == [
            "before the outage 1",
            "before the outage 2",
            "while you were away 1",
            "while you were away 2",
            "while you were away 3",
        ]
        assert contents[5] == "sent while offline"
        rejoins = [m for m in chat.sent if m.get("type") == "join" and "since" in m]
        assert rejoins and rejoins[0]["since"] == 2, rejoins  # catch-up asked only for what was missed
    # The room's history agrees: one copy of everything.
    history = chat_server.server.hub.history("lobby")
    assert [m["seq"] for m in history] == [1, 2, 3, 4, 5, 6]
    bob.page.screenshot(path=str(artifacts / "chat-after-outage.png"))


def test_a_fresh_server_on_the_same_port_is_followed(
    open_chat: Callable[..., ChatPage], chat_server: ServerHandle, server_factory: Callable[..., ServerHandle]
) -> None:
    """The instructor restarts ``wslab serve``: numbering starts again, and new messages must still show."""
    expect = _expect()
    ada, bob = open_chat("Ada"), open_chat("Bob")
    ada.say("old 1")
    ada.say("old 2")
    for chat in (ada, bob):
        expect(chat.messages).to_have_count(2, timeout=WAIT_MS)
    port = chat_server.port
    chat_server.stop()  # every page is closed with 1001 and starts retrying
    for chat in (ada, bob):
        expect(chat.status).to_have_attribute("data-state", "reconnecting", timeout=WAIT_MS)
    server_factory(port=port, token=TOKEN, index_html=chat_page())
    for chat in (ada, bob):
        chat.wait_online()
        # The new server's rooms have a new epoch: the page says the history starts over.
        expect(chat.page.locator("#messages li.notice")).to_contain_text(
            ["the server restarted: its history starts over"], timeout=WAIT_MS
        )
    bob.say("new 1")
    for chat in (ada, bob):
        expect(chat.messages.locator(".content")).to_have_text(["old 1", "old 2", "new 1"], timeout=WAIT_MS)
        assert chat.seqs() == [1, 2, 1]


def test_a_refused_token_asks_for_it_a_kick_may_join_again_a_ban_may_not(
    open_chat: Callable[..., ChatPage], chat_server: ServerHandle
) -> None:
    expect = _expect()
    # An old link (the server made a new token): the page asks for the token instead of dying.
    stranger = open_chat("Eve", token="old-token", join=False)
    expect(stranger.page.locator("#token-row")).to_be_hidden()  # the link had one
    stranger.page.fill("#name-input", "Eve")
    stranger.page.click("#join-form button")
    expect(stranger.status).to_have_attribute("data-state", "closed", timeout=WAIT_MS)
    expect(stranger.status).to_contain_text("refused the token")
    expect(stranger.page.locator("#token-row")).to_be_visible()
    expect(stranger.page.locator("#join-error")).to_contain_text("wrong token or join code")
    stranger.page.fill("#token-input", TOKEN)
    stranger.page.click("#join-form button")
    stranger.wait_online()
    assert f"token={TOKEN}" in stranger.page.url  # a reload keeps what was typed

    # Kicked: told why, and that they may join again; they do.
    ada = open_chat("Ada")
    chat_server.kick("lobby", "Ada")
    expect(ada.status).to_have_attribute("data-state", "closed", timeout=WAIT_MS)
    expect(ada.status).to_contain_text("removed you from the room; you may join again")
    expect(ada.page.locator("#join-button")).to_have_text("Join again")
    ada.page.click("#join-button")
    ada.wait_online()

    # Banned: told so, and not offered to join again.
    chat_server.ban("lobby", "Eve")
    expect(stranger.status).to_have_attribute("data-state", "closed", timeout=WAIT_MS)
    expect(stranger.status).to_contain_text("banned you from this room")
    expect(stranger.page.locator("#join-form")).to_be_hidden()
    assert chat_server.snapshot("lobby").online == ("Ada",)


def test_taken_name_asks_again(open_chat: Callable[..., ChatPage]) -> None:
    expect = _expect()
    open_chat("Ada")
    second = open_chat("Ada", join=False)
    second.page.fill("#name-input", "Ada")
    second.page.click("#join-form button")
    expect(second.page.locator("#join-error")).to_contain_text("already in room", timeout=WAIT_MS)
    second.page.fill("#name-input", "Ada 2")
    second.page.click("#join-form button")
    second.wait_online()


def test_pure_pieces_match_their_python_twins(open_chat: Callable[..., ChatPage]) -> None:
    """The page's copies of the sans-I/O pieces give what the Python ones give (the transcripts check the rest)."""
    page = open_chat("Ada", join=False).page
    cases = [
        [], ["Ada"], ["Bob"], ["Ada", "Bob"], ["Bob", "Cy"], ["Bob", "Cy", "Di"], ["Bob", "Bob"], ["Bob", "Cy", "Ada"],
    ]
    got = page.evaluate("cases => cases.map(c => wslab.typingText(c, 'Ada'))", cases)
    assert got == [typing_text(c, me="Ada") for c in cases]

    delays = page.evaluate(
        """() => {
            const b = new wslab.Backoff({jitter: "none"});
            const first = [1, 2, 3, 4, 5, 6, 7].map(() => b.nextDelay());
            b.onOpen(100); b.onClose(100.1);   // opened then closed at once: no reset
            const after_flap = b.nextDelay();
            b.onOpen(200); b.onClose(260);     // stayed up a minute: reset
            const jittered = new wslab.Backoff({}, () => 0.5);
            const full = [1, 2, 3, 4, 5, 6].map(() => jittered.nextDelay());
            return {first, after_flap, after_stable: b.nextDelay(), full};
        }"""
    )
    python = Backoff(BackoffPolicy(jitter="none"))
    first = [python.next_delay() for _ in range(7)]
    python.on_open(100)
    python.on_close(100.1)
    after_flap = python.next_delay()
    python.on_open(200)
    python.on_close(260)
    ceilings = [BackoffPolicy().ceiling(n) for n in range(1, 7)]
    assert delays == {
        "first": first,
        "after_flap": after_flap,
        "after_stable": python.next_delay(),
        "full": [c / 2 for c in ceilings],  # full jitter: uniform in [0, ceiling]; random() = 0.5 gives the middle
    }
    assert first == [1, 2, 4, 8, 16, 30, 30]

    steps = [("keystroke", "h", 0), ("keystroke", "he", 0.1), ("tick", None, 1), ("keystroke", "hel", 3.1),
             ("tick", None, 5), ("tick", None, 5.1), ("keystroke", "x", 6), ("sent", None, None), ("sent", None, None),
             ("keystroke", "y", 7), ("keystroke", "", 7.5)]
    got_typing = page.evaluate(
        """steps => {
            const t = new wslab.TypingNotifier();
            return steps.map(([call, text, now]) =>
                call === "keystroke" ? t.keystroke(text, now) : call === "tick" ? t.tick(now) : t.sent());
        }""",
        steps,
    )
    notifier = TypingNotifier()
    expected = [
        notifier.keystroke(text, now=now)
        if call == "keystroke"
        else notifier.tick(now)
        if call == "tick"
        else notifier.sent()
        for call, text, now in steps
    ]
    assert got_typing == expected

    session = page.evaluate(
        """() => {
            const s = new wslab.ClientSession({idPrefix: "t"});
            return [s.join("Ada", "lobby", 0), s.say("hi", 0), s.connecting(0), s.connected(0).map(a => a.frame)];
        }"""
    )
    assert session == [[], [], [], ['{"type":"join","name":"Ada","room":"lobby"}']]


def _post_as(handle: ServerHandle, name: str, contents: list[str]) -> None:
    """Post chat messages from an in-server participant (works while the port is down)."""

    async def post() -> None:
        peer = handle.server.attach_local(lambda frame: None, label=name)
        peer.send(json.dumps({"type": "join", "name": name, "room": "lobby"}))
        for content in contents:
            peer.send(json.dumps({"type": "chat", "content": content}))
        peer.close()

    handle.call(post())


def test_strict_csp_no_inline_code_and_nothing_blocked(
    browser: Any, chat_server: ServerHandle, open_chat: Callable[..., ChatPage]
) -> None:
    """The page works under a CSP without 'unsafe-inline': it has no inline script or style to allow."""
    import urllib.request

    with urllib.request.urlopen(chat_server.http_url, timeout=WAIT_MS / 1000) as response:
        csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "script-src 'self'" in csp and "style-src 'self'" in csp

    context = browser.new_context()
    try:
        page = context.new_page()
        page.add_init_script(
            "window.__violations = [];"
            "document.addEventListener('securitypolicyviolation', e => window.__violations.push(e.violatedDirective));"
        )
        page.goto(chat_server.http_url + f"?token={TOKEN}", timeout=WAIT_MS)
        page.fill("#name-input", "Ada")
        page.click("#join-form button")
        _expect()(page.locator("#status")).to_have_attribute("data-state", "online", timeout=WAIT_MS)
        inline = page.evaluate(
            "() => document.querySelectorAll('script:not([src]), style, [style]').length"
            " + [...document.querySelectorAll('*')]"
            "     .filter(el => [...el.attributes].some(a => a.name.startsWith('on'))).length"
        )
        assert inline == 0
        # The stylesheet applied (it would not, were it blocked): the chat grid is laid out by chat.css.
        assert page.evaluate("() => getComputedStyle(document.getElementById('chat')).display") == "grid"
        assert page.evaluate("() => window.__violations") == []
    finally:
        context.close()


JOIN_CODE = "K7QP3M"


def test_a_phone_types_the_join_code_and_the_start_screen_shows_the_qr_code_for_a_projector(
    browser: Any, server_factory: Callable[..., ServerHandle], artifacts: Path
) -> None:
    """The projector's QR code, read back from the pixels Chromium shows, is the join link."""
    from support.qr import decode_rgba
    from wslab.classroom.serve import install_join
    from wslab.core.admin_protocol import JoinInfo

    expect = _expect()
    handle = server_factory(token=TOKEN, join_code=JOIN_CODE, index_html=chat_page(join=True))
    link = f"{handle.http_url}?token={TOKEN}&room=lobby"
    install_join(handle.server, JoinInfo(link, handle.http_url, "K7Q-P3M"))
    context = browser.new_context(viewport={"width": 900, "height": 700})
    try:
        phone = ChatPage(context.new_page(), "Bo")
        phone.page.goto(handle.http_url, timeout=WAIT_MS)  # the short link, no token: the page asks for one
        expect(phone.page.locator("#token-row")).to_be_visible()
        expect(phone.page.locator("#qr-row")).to_be_hidden()  # without the token or code, no QR code either
        phone.page.fill("#name-input", "Bo")
        phone.page.fill("#token-input", "k7q-p3m")  # as typed on a phone
        phone.page.click("#join-form button")
        phone.wait_online()
        assert phone.errors == []

        teacher = ChatPage(context.new_page(), "Teacher")
        teacher.page.goto(link, timeout=WAIT_MS)
        teacher.page.click("#qr-button")
        overlay = teacher.page.locator("#qr-overlay")
        expect(overlay).to_be_visible()
        expect(teacher.page.locator("#qr-code")).to_have_text("K7Q-P3M")
        expect(teacher.page.locator("#qr-page")).to_contain_text(handle.http_url)
        size = teacher.page.evaluate(
            "() => { const r = document.getElementById('qr-image').getBoundingClientRect(); "
            "return [r.width, r.height]; }"
        )
        assert min(size) >= 400, size  # most of a 700-pixel-high screen, with room for the code
        teacher.page.wait_for_function("() => document.getElementById('qr-image').complete", timeout=WAIT_MS)
        width, height, rgba = teacher.page.evaluate(
            """() => {
                const img = document.getElementById('qr-image');
                const canvas = document.createElement('canvas');
                canvas.width = 400; canvas.height = 400;
                const ctx = canvas.getContext('2d');
                ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, 400, 400);
                ctx.drawImage(img, 0, 0, 400, 400);
                return [400, 400, Array.from(ctx.getImageData(0, 0, 400, 400).data)];
            }"""
        )
        assert decode_rgba(rgba, width, height) == [link]
        teacher.page.screenshot(path=str(artifacts / "chat-join-qr.png"))
        teacher.page.keyboard.press("Escape")
        expect(overlay).to_be_hidden()
        assert teacher.errors == []
    finally:
        context.close()


_CONTRAST = """
() => {
  const parse = (c) => c.match(/[\\d.]+/g).map(Number);
  const linear = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = ([r, g, b]) => [r, g, b].map(linear)
      .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const c = parse(getComputedStyle(node).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c;
    }
    return parse(getComputedStyle(document.documentElement).backgroundColor);
  };
  const ratio = (el, pseudo) => {
    const a = lum(parse(getComputedStyle(el, pseudo).color)), b = lum(background(el));
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  };
  const found = {};
  const measure = (label, selector, pseudo) => {
    const el = document.querySelector(selector);
    if (!el) throw new Error(`nothing matches ${selector}`);
    found[label] = Math.round(ratio(el, pseudo) * 100) / 100;
  };
  measure("body text", ".message:not(.mine) .content");
  measure("other sender", ".message:not(.mine) .sender");
  measure("your own name", ".message.mine .sender");
  measure("time", ".message time");
  measure("notice", ".notice");
  measure("room name", "h1 .room");
  measure("online heading", "#online h2");
  measure("placeholder", "#message-input", "::placeholder");
  measure("typing", "#typing");
  measure("waiting to be sent", "#pending");
  measure("error", "#join-error");
  measure("send button", "#send-form button");
  measure("input", "#message-input");
  const status = document.getElementById("status");
  for (const state of ["online", "reconnecting", "closed", "idle"]) {
    status.dataset.state = state;
    measure(`status ${state}`, "#status");
    if (state === "online" || state === "reconnecting") measure(`status ${state} dot`, "#status", "::before");
  }
  return found;
}
"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_page_meets_wcag_aa_contrast_in_light_and_dark_mode(
    browser: Any, chat_server: ServerHandle, scheme: str, artifacts: Path
) -> None:
    """Every text of the page at 4.5:1 at least against what is behind it, as Chromium computes the colours."""
    context = browser.new_context(viewport={"width": 900, "height": 700}, color_scheme=scheme)
    try:
        page = context.new_page()
        page.goto(f"{chat_server.http_url}?token={TOKEN}", timeout=WAIT_MS)
        page.fill("#name-input", "Ada")
        page.click("#join-form button")
        _expect()(page.locator("#status")).to_have_attribute("data-state", "online", timeout=WAIT_MS)
        _post_as(chat_server, "Tutor", ["hello from the tutor"])
        page.fill("#message-input", "hi")
        page.press("#message-input", "Enter")
        _expect()(page.locator("#messages li.message")).to_have_count(2, timeout=WAIT_MS)
        # Texts that show only at times, put there to be measured (their style is what counts).
        page.evaluate(
            """() => {
                document.getElementById('pending').textContent = '1 message waiting to be sent';
                document.getElementById('typing').textContent = 'Bob is typing…';
                document.getElementById('join-error').textContent = 'The server refused the token';
                const notice = document.createElement('li');
                notice.className = 'notice'; notice.textContent = 'Bob joined';
                document.getElementById('messages').append(notice);
            }"""
        )
        assert page.evaluate("() => matchMedia('(prefers-color-scheme: dark)').matches") == (scheme == "dark")
        ratios = page.evaluate(_CONTRAST)
        page.screenshot(path=str(artifacts / f"chat-contrast-{scheme}.png"))
        low = {label: ratio for label, ratio in ratios.items() if ratio < (3.0 if label.endswith("dot") else 4.5)}
        assert low == {}, f"below WCAG AA in {scheme} mode: {low} (all: {ratios})"
    finally:
        context.close()


def _axe_everywhere(page: Any, when: str) -> dict[str, list[str]]:
    """axe over ``page`` in light and dark mode, at 900 and 320 CSS pixels wide: the violations of each."""
    from support.axe import violations

    found = {}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for width in (900, 320):
            page.set_viewport_size({"width": width, "height": 700})
            found[f"{when}, {scheme}, {width} px"] = violations(page)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 900, "height": 700})
    return {where: lines for where, lines in found.items() if lines}


def _tab_walk(page: Any, steps: int) -> list[str]:
    """Where focus lands after each of ``steps`` presses of Tab: the element's id, or its tag."""
    landed = []
    for _ in range(steps):
        page.keyboard.press("Tab")
        landed.append(page.evaluate("() => document.activeElement.id || document.activeElement.tagName"))
    return landed


def test_the_page_passes_axe_by_keyboard_alone_in_light_and_dark_mode_and_at_320_px(
    open_chat: Callable[..., ChatPage], chat_server: ServerHandle, artifacts: Path
) -> None:
    """WCAG 2.0/2.1 A and AA (axe-core): before joining and with messages, typing and presence; and by keyboard.

    The accessibility tree says what a screen reader reads: a main landmark
    around the join form, a named log of messages, the typing and waiting
    lines as status messages, every field and button named.
    """
    expect = _expect()
    ada = open_chat("Ada", join=False)
    page = ada.page
    expect(page.locator("#name-input")).to_be_focused()  # focus starts in the name field
    expect(page.get_by_role("main")).to_match_aria_snapshot(
        '- main:\n  - text: Your name\n  - textbox "Your name"\n  - button "Join"'
    )
    assert _axe_everywhere(page, "before joining") == {}

    # Keyboard only: type the name, Enter joins, and focus goes to the message box.
    page.keyboard.type("Ada")
    page.keyboard.press("Enter")
    ada.wait_online()
    expect(page.locator("#message-input")).to_be_focused()
    bob = open_chat("Bob")
    expect(page.locator("#messages li.notice")).to_have_text(["Bob joined"], timeout=WAIT_MS)
    _post_as(chat_server, "Tutor", ["hello from the tutor"])
    page.keyboard.type("hi everyone")
    page.keyboard.press("Enter")
    bob.page.locator("#message-input").press_sequentially("typing…", delay=20)
    # The typing line is a status message: read out when it changes, without moving focus.
    expect(page.get_by_role("status").filter(has_text="Bob is typing…")).to_have_count(1, timeout=WAIT_MS)
    expect(ada.messages).to_have_count(2, timeout=WAIT_MS)
    expect(page.get_by_role("main")).to_match_aria_snapshot(
        """
        - main:
          - region "Online (2)":
            - heading "Online (2)" [level=2]
          - region "Conversation":
            - log "Messages":
              - list:
                - listitem: Bob joined
                - listitem:
                  - text: Tutor
                  - time
                  - paragraph: hello from the tutor
                - listitem:
                  - text: Ada
                  - time
                  - paragraph: hi everyone
            - status
            - textbox "Message"
            - button "Send"
            - status
        """
    )
    assert _axe_everywhere(page, "joined") == {}
    page.screenshot(path=str(artifacts / "chat-a11y-light.png"))
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(artifacts / "chat-a11y-dark.png"))
    page.emulate_media(color_scheme="light")

    # By keyboard from the message box: back to the log (to scroll it by keys), then forward through the box
    # and Send, and out of the page: no trap, and the focused log shows it.
    expect(page.locator("#message-input")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("log", name="Messages")).to_be_focused()
    assert page.evaluate("() => getComputedStyle(document.getElementById('log')).outlineStyle") == "solid"
    assert _tab_walk(page, 3) == ["message-input", "BUTTON", "BODY"]
