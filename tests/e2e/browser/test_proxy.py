"""The chat page through jupyter-server-proxy, as on JupyterHub or Binder, in a real JupyterLab.

JupyterLab runs with jupyter-server-proxy (the test extra installs it). A
notebook, written by the test into a scratch root folder, starts the
classroom server in its kernel, joins it as "Notebook", prints the link that
wslab gives the browser, and keeps reading; a second cell, run once the phone
has sent, waits (bounded) for that chat. The test checks the
link goes through ``{base_url}proxy/PORT/``, opens it in the same browser
(logged in to JupyterLab, which the proxy requires), joins as "Phone" and
sends a message; the page's WebSocket must go through the proxy too, and the
message must reach the notebook. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from support.lab import Lab, lab_page, running_lab, scratch_folders
from support.notebooks import notebook as make_notebook

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]  # JupyterLab, a kernel and two pages on a busy machine

NOTEBOOK = "proxy-chat.ipynb"
RUN_TIMEOUT_MS = 120_000
"""Bound on the first cell's output (kernel start included)."""
WAIT_MS = 20_000
"""Bound on any other single wait for a page."""

CELLS = [
    """\
import asyncio, json
from websockets.asyncio.client import connect
from wslab.classroom.banner import join_urls
from wslab.classroom.serve import start_classroom

server = start_classroom("127.0.0.1", 0, room="lobby")
notebook = await connect(server.chat_url, open_timeout=10)
await notebook.send(json.dumps({"type": "join", "name": "Notebook"}))
chats = []
arrived = asyncio.Event()

async def read_all():
    async for raw in notebook:
        message = json.loads(raw)
        if message["type"] == "chat" and message["sender"] != "Notebook":
            chats.append(message)
            arrived.set()

reader = asyncio.ensure_future(read_all())  # keeps reading between cells
print("direct:", server.http_url)
print("page:", server.browser_url)
print("banner link:", join_urls("127.0.0.1", server.port, None, "lobby")[0][1])""",
    """\
await asyncio.wait_for(arrived.wait(), 30)
got = chats[0]
print(f"notebook got {got['content']!r} from {got['sender']}")""",
]


@pytest.fixture(scope="module")
def lab(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab (with jupyter-server-proxy) serving a scratch notebook (needs ``browser``: skipped with it)."""
    pytest.importorskip("jupyter_server_proxy", reason="jupyter-server-proxy is in the test extra")
    root, settings = scratch_folders(tmp_path_factory.mktemp("jupyterlab-proxy"))
    notebook = make_notebook(*CELLS)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, root / NOTEBOOK)
    with running_lab(root, settings) as server:
        yield server


def test_chat_page_through_jupyter_server_proxy_reaches_a_notebook(lab: Lab, browser: Any, artifacts: Path) -> None:
    from playwright.sync_api import expect

    with lab_page(browser, lab, artifacts / "proxy-failure.png") as driven:
        page = driven.page
        # Opening JupyterLab with its token logs this browser in (a cookie), as a hub login would.
        driven.open_notebook(NOTEBOOK)
        # The first cell only: the second waits for the phone's message, so it runs once that is sent.
        driven.run("notebook:run-cell-and-select-next")
        printed = page.locator(".jp-OutputArea-output", has_text="page:")
        expect(printed).to_be_visible(timeout=RUN_TIMEOUT_MS)
        text = printed.inner_text()
        direct = re.search(r"direct: (\S+)", text)
        link = re.search(r"page: (\S+)", text)
        banner = re.search(r"banner link: (\S+)", text)
        assert direct and link and banner, text
        port = re.search(r":(\d+)/$", direct.group(1))
        assert port, text
        # Under this Jupyter server the browser's links go through its proxy; the kernel's own stays direct.
        assert link.group(1) == f"{lab.base}/proxy/{port.group(1)}/", text
        assert banner.group(1) == f"{lab.base}/proxy/{port.group(1)}/?room=lobby", text
        assert direct.group(1).startswith("http://127.0.0.1:")

        phone = driven.new_page()  # the same browser: logged in to JupyterLab
        sockets: list[str] = []
        phone.on("websocket", lambda ws: sockets.append(ws.url))
        phone.goto(banner.group(1), timeout=WAIT_MS)
        expect(phone.locator("#room")).to_have_text("lobby")
        phone.fill("#name-input", "Phone")
        phone.click("#join-form button")
        expect(phone.locator("#status")).to_have_attribute("data-state", "online", timeout=WAIT_MS)
        expect(phone.locator("#online-list")).to_contain_text("Notebook", timeout=WAIT_MS)
        phone.fill("#message-input", "Hello through the proxy")
        phone.press("#message-input", "Enter")
        contents = phone.locator("#messages li.message .content")
        expect(contents).to_have_text(["Hello through the proxy"], timeout=WAIT_MS)
        phone.screenshot(path=str(artifacts / "proxy-chat-page.png"))
        # The page's WebSocket went through the proxy as well, not straight to the kernel's port.
        proxied = f"ws://127.0.0.1:{lab.port}/proxy/{port.group(1)}/chat"
        assert sockets and all(url.startswith(proxied) for url in sockets), sockets

        driven.run("notebook:run-cell-and-select-next")
        answer = page.get_by_text("notebook got 'Hello through the proxy' from Phone")
        expect(answer).to_be_visible(timeout=WAIT_MS)
        page.screenshot(path=str(artifacts / "proxy-notebook.png"))
        assert driven.errors == []
