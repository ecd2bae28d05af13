"""The course on a real JupyterHub: nbgitpuller's link, lesson 4, and two learners chatting through the proxy.

The test starts JupyterHub on 127.0.0.1 (its configurable-http-proxy from npm,
the DummyAuthenticator, the SimpleLocalProcessSpawner: see
:mod:`support.hub`), a git repository of the course on disk, and an
instructor's ``wslab serve --token ... --room workshop`` on loopback, as an
instructor would run it on the hub's machine. Then, for two learners, Ada and
Grace, each in a browser context of their own:

1. the README's nbgitpuller link, with the hub's address and this repository
   put in for ``HUB`` and GitHub's, logs them in, starts their server, clones
   the course into their home folder and opens lesson 1;
2. they open lesson 4, and run a cell in it that prints, with wslab's
   ``join_urls``, the chat page of the instructor's server as *their* browser
   reaches it: ``HUB/user/NAME/proxy/PORT/?token=...&room=workshop``
   (wslab finds the Jupyter server its kernel runs under);
3. they click that link in the cell's output: the chat page opens through
   their own server's jupyter-server-proxy, its WebSocket too, and they join
   the instructor's room and chat: each sees the other's message.

Last, ``HUB/hub/user-redirect/proxy/PORT/?...``, one link for the whole class,
lands on each learner's own proxied page. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest

from support import ROOT
from support.hub import SPAWN_TIMEOUT_MS, Hub, course_repository, hub_missing, log_in, running_hub
from support.lab import KERNEL_READY
from support.serving import Served
from wslab.kernel.loop_thread import LoopThread

pytestmark = [pytest.mark.browser, pytest.mark.timeout(360)]  # a hub, two servers, two kernels, four pages

WAIT_MS = 20_000
"""Bound on any single wait for a page once its server runs."""

ROOM = "workshop"
LEARNERS = {"ada": "Ada", "grace": "Grace"}
"""Hub user name: the name each one chats under."""


def readme_nbgitpuller_link() -> str:
    """The nbgitpuller link the README gives instructors (with ``HUB`` and ``OWNER`` to fill in)."""
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"https://HUB/hub/user-redirect/git-pull\?\S+", text)
    assert len(links) == 1, f"the README should give one nbgitpuller link, found {links}"
    return links[0]


def link_for(hub: Hub, repository: Path) -> str:
    """The README's link, this hub for ``HUB`` and ``repository`` (``file://``) for GitHub's; the rest as written."""
    parts = urlsplit(readme_nbgitpuller_link())
    query = dict(parse_qsl(parts.query))
    assert query["repo"].startswith("https://github.com/") and query["repo"].endswith("/wslab"), query
    query["repo"] = repository.as_uri()
    return f"{hub.base_url}{parts.path}?{urlencode(query, quote_via=quote, safe='')}"


@pytest.fixture(scope="module")
def hub(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """JupyterHub on loopback (needs ``browser``: skipped with it, and like it, never skipped in CI)."""
    reason = hub_missing()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the JupyterHub test cannot run in CI: {reason}")
        pytest.skip(reason)
    with running_hub(tmp_path_factory.mktemp("jupyterhub")) as server:
        yield server


@pytest.fixture(scope="module")
def instructor() -> Iterator[Served]:
    """The instructor's ``wslab serve --token ... --room workshop`` on loopback, in its own process."""
    host = LoopThread("the instructor's wslab serve", "instructor-serve")
    served = host.start(lambda: Served.start("--token", secrets.token_urlsafe(12), "--room", ROOM), 30)
    try:
        yield served
    finally:
        try:
            host.call(served.stop(), 30)
        finally:
            host.stop(None, 10)


PRINT_LINK = """\
from wslab.classroom.banner import join_urls
where, page, notebook_url = join_urls("127.0.0.1", {port}, {token!r}, {room!r})[0]
print("chat page:", page)"""
"""The cell each learner adds to lesson 4: the instructor's server (on the hub's machine) as their browser sees it."""

LESSON_4 = "wslab/notebooks/04-chat.ipynb"

DOCUMENT_IS = """(path) => window.jupyterapp && window.jupyterapp.shell.currentWidget
  && window.jupyterapp.shell.currentWidget.context && window.jupyterapp.shell.currentWidget.context.path === path"""
"""True once JupyterLab shows the document ``path`` in front (``expose_app_in_browser`` gives ``window.jupyterapp``)."""

RUN_IN_NEW_CELL = """async (code) => {
  const app = window.jupyterapp;
  const notebook = app.shell.currentWidget.content;
  notebook.activeCellIndex = notebook.widgets.length - 1;
  await app.commands.execute("notebook:insert-cell-below");
  notebook.activeCell.model.sharedModel.setSource(code);
  await app.commands.execute("notebook:run-cell");
}"""


def test_two_learners_pull_the_course_and_chat_through_the_instructors_server(
    hub: Hub, instructor: Served, browser: Any, tmp_path: Path, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    repository = course_repository(tmp_path / "remote")
    link = link_for(hub, repository)
    contexts = {user: browser.new_context(viewport={"width": 1280, "height": 900}) for user in LEARNERS}
    errors: list[str] = []
    labs: dict[str, Any] = {}
    chats: dict[str, Any] = {}
    sockets: dict[str, list[str]] = {user: [] for user in LEARNERS}
    try:
        # Each step for both learners before the next: their servers and kernels start side by side.
        for user, context in contexts.items():
            lab = labs[user] = context.new_page()
            lab.on("pageerror", lambda exc: errors.append(str(exc)))
            # 1. nbgitpuller: the hub asks them to log in, starts their server, clones, opens lesson 1.
            log_in(lab, user, link)
        for user, lab in labs.items():
            lab.wait_for_url(f"**/user/{user}/lab/tree/wslab/notebooks/01-basics.ipynb*", timeout=SPAWN_TIMEOUT_MS)
            for name in ("notebooks/04-chat.ipynb", "exercises", "docs", "README.md"):
                assert (hub.home(user) / "wslab" / name).exists(), f"nbgitpuller did not bring {name} to {user}"
            # 2. Lesson 4 (once JupyterLab shows lesson 1), its kernel, and a cell that prints the link.
            lab.wait_for_function(DOCUMENT_IS, arg="wslab/notebooks/01-basics.ipynb", timeout=SPAWN_TIMEOUT_MS)
            lab.evaluate("(path) => window.jupyterapp.commands.execute('docmanager:open', {path})", LESSON_4)
        for lab in labs.values():
            lab.wait_for_function(DOCUMENT_IS, arg=LESSON_4, timeout=WAIT_MS)
            lab.wait_for_function(KERNEL_READY, arg=LESSON_4, timeout=SPAWN_TIMEOUT_MS)
            lab.evaluate(RUN_IN_NEW_CELL, PRINT_LINK.format(port=instructor.port, token=instructor.token, room=ROOM))
        for user, lab in labs.items():
            printed = lab.locator(".jp-OutputArea-output", has_text="chat page:")
            expect(printed).to_be_visible(timeout=SPAWN_TIMEOUT_MS)
            expected = f"{hub.base_url}/user/{user}/proxy/{instructor.port}/?token={instructor.token}&room={ROOM}"
            assert printed.inner_text().strip() == f"chat page: {expected}"
            lab.screenshot(path=str(artifacts / f"hub-{user}-lesson-4.png"))
            # 3. They click it: the page, and its WebSocket, go through their own server's proxy.
            with lab.context.expect_page(timeout=WAIT_MS) as opened:
                printed.get_by_role("link").click()
            chat = chats[user] = opened.value
            chat.on("pageerror", lambda exc: errors.append(str(exc)))
            chat.on("websocket", lambda ws, user=user: sockets[user].append(ws.url))
            chat.wait_for_load_state(timeout=WAIT_MS)
            assert chat.url == expected
            expect(chat.locator("#room")).to_have_text(ROOM, timeout=WAIT_MS)
            chat.fill("#name-input", LEARNERS[user])
            chat.click("#join-form button")
            expect(chat.locator("#status")).to_have_attribute("data-state", "online", timeout=WAIT_MS)

        ada, grace = chats["ada"], chats["grace"]
        expect(ada.locator("#online-list")).to_contain_text("Grace", timeout=WAIT_MS)
        expect(grace.locator("#online-list")).to_contain_text("Ada", timeout=WAIT_MS)
        ada.fill("#message-input", "Hello Grace, from Ada's server")
        ada.press("#message-input", "Enter")
        expect(grace.locator("#messages li.message")).to_contain_text(
            ["Hello Grace, from Ada's server"], timeout=WAIT_MS
        )
        grace.fill("#message-input", "Hello Ada, from Grace's")
        grace.press("#message-input", "Enter")
        for page in (ada, grace):
            expect(page.locator("#messages li.message .content")).to_have_text(
                ["Hello Grace, from Ada's server", "Hello Ada, from Grace's"], timeout=WAIT_MS
            )
            expect(page.locator("#messages li.message .sender")).to_have_text(["Ada", "Grace"])
        for user, page in chats.items():
            page.screenshot(path=str(artifacts / f"hub-{user}-chat.png"))
            proxied = f"ws://127.0.0.1:{hub.port}/user/{user}/proxy/{instructor.port}/chat"
            assert sockets[user] and all(url.startswith(proxied) for url in sockets[user]), sockets

        # One link for the whole class: the hub sends each learner to their own server's proxy.
        shared = labs["grace"].context.new_page()
        query = urlencode({"token": instructor.token, "room": ROOM})
        shared.goto(f"{hub.base_url}/hub/user-redirect/proxy/{instructor.port}/?{query}", timeout=WAIT_MS)
        assert shared.url == f"{hub.base_url}/user/grace/proxy/{instructor.port}/?{query}"
        expect(shared.locator("#room")).to_have_text(ROOM, timeout=WAIT_MS)
        assert errors == []
    except Exception:
        for user, page in {**labs, **{f"{u}-chat": p for u, p in chats.items()}}.items():
            page.screenshot(path=str(artifacts / f"hub-{user}-failure.png"))
        print(hub.tail())
        raise
    finally:
        for context in contexts.values():
            context.close()
