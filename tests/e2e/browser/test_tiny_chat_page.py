"""Lesson 6's page: the seed's own ``WebSocketClient``, in Chromium, against the learner's server.

``serve_handler(..., page=True)`` serves ``wslab/static/tiny-chat.html``; the handler is the
solution's ``TinyChat`` from ``solutions/06-your-server.ipynb``, so the page, the lesson's
protocol and the solution are proven to agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from support.notebooks import definitions
from wslab.kernel.learner_server import LearnerServer, serve_handler

pytestmark = pytest.mark.browser

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails in CI) with the reason
    expect = None


@pytest.fixture
def tiny() -> Iterator[LearnerServer]:
    chat = definitions("solutions", "06-your-server")["TinyChat"]()
    server = serve_handler(chat.handler, name="tiny-browser-test", page=True)
    try:
        yield server
    finally:
        server.stop()


def _join(browser: Any, url: str, name: str) -> tuple[Any, list[str]]:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url, timeout=10_000)
    expect(page.locator("#status")).to_have_text("open", timeout=5_000)
    page.fill("#name", name)
    page.click("#join button")
    expect(page.locator("#say")).to_be_visible(timeout=5_000)
    return page, errors


def test_the_seed_client_chats_with_the_learners_server(browser: Any, tiny: LearnerServer) -> None:
    ada, ada_errors = _join(browser, tiny.http_url, "Ada")
    bob, bob_errors = _join(browser, tiny.http_url, "Bob")
    expect(bob.locator("#log")).to_contain_text("online: Ada, Bob", timeout=5_000)
    ada.fill("#text", "hi <b>Bob</b>")
    ada.click("#say button")
    for page in (ada, bob):
        line = page.locator("#log .chat").last
        expect(line).to_have_text("Ada: hi <b>Bob</b>", timeout=5_000)  # shown as text, not markup
        assert page.locator("#log b").count() == 0
    assert not ada_errors and not bob_errors
    assert not tiny.errors, tiny.report()
