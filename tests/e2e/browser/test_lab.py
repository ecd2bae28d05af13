"""The chat lesson in a real JupyterLab, driven by headless Chromium.

The test starts JupyterLab itself (127.0.0.1, a random token, a free port,
a scratch root folder holding a copy of ``notebooks/04-chat.ipynb`` so the
committed lesson is never saved over), opens the lesson, runs all cells,
types into the chat window, and checks that Ada's typing indicator and then
her answer appear, and that the ``<script>``/``<img onerror>`` message shows
as text. Another test runs the README's course command (its ``jupyter lab``
arguments, verbatim) in a scratch copy of the course and checks that lesson 1
opens with the course root, notebooks/ and exercises/ in it, in the file
browser. Screenshots go to ``test-artifacts/``. Every wait is bounded; the
JupyterLab process is stopped at the end, killed if it does not stop.
"""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support import ROOT, readme_command
from support.lab import Lab, lab_page, running_lab, scratch_folders

pytestmark = pytest.mark.browser

COURSE = ROOT
NOTEBOOK = COURSE / "notebooks" / "04-chat.ipynb"
RUN_ALL_TIMEOUT_MS = 120_000
"""Bound on running the whole lesson in the browser, kernel start included."""
WAIT_MS = 20_000
"""Bound on any other single wait for the page."""


@pytest.fixture(scope="module")
def lab(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab serving a scratch copy of the chat lesson (needs ``browser``: skipped with it)."""
    root, settings = scratch_folders(tmp_path_factory.mktemp("jupyterlab"))
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    with running_lab(root, settings) as server:
        yield server


def course_command_lab_args() -> list[str]:
    """What the README's course command passes to ``jupyter lab`` (after ``lab``), verbatim."""
    words = readme_command("course-command").split("&&")[-1].split()
    assert "lab" in words, f"the course command does not run jupyter lab: {words}"
    return words[words.index("lab") + 1 :]


def test_course_command_opens_lesson_1_with_the_course_root_in_the_file_browser(
    browser: Any, tmp_path_factory: pytest.TempPathFactory, artifacts: Path
) -> None:
    """The README's course command, run in a scratch copy of the course, shows notebooks/ and exercises/."""
    from playwright.sync_api import expect

    root, settings = scratch_folders(tmp_path_factory.mktemp("course"))
    for folder in ("notebooks", "exercises", "docs"):
        shutil.copytree(COURSE / folder, root / folder)
    with running_lab(root, settings, args=course_command_lab_args()) as lab, lab_page(
        browser, lab, artifacts / "course-root-failure.png"
    ) as driven:
        page = driven.page
        # The page JupyterLab asks the browser to open (what a learner's browser shows first).
        opened = sorted(lab.runtime.glob("jpserver-*-open.html"))
        assert opened, f"JupyterLab wrote no page for the browser to open\n{lab.tail()}"
        match = re.search(r'href="([^"]+)"', opened[-1].read_text())
        assert match, opened[-1].read_text()
        url = html.unescape(match.group(1))
        assert "/lab/tree/notebooks/01-basics.ipynb" in url, url
        page.goto(url, timeout=60_000)
        driven.wait_for_document("notebooks/01-basics.ipynb")
        listing = page.locator(".jp-FileBrowser .jp-DirListing-content .jp-DirListing-itemText")
        for name in ("docs", "exercises", "notebooks"):
            expect(listing.filter(has_text=re.compile(rf"^{name}$"))).to_have_count(1, timeout=WAIT_MS)
        expect(page.locator(".jp-FileBrowser .jp-BreadCrumbs")).not_to_contain_text("notebooks")
        page.screenshot(path=str(artifacts / "course-root.png"))


def test_chat_lesson_runs_in_jupyterlab_and_ada_answers(lab: Lab, browser: Any, artifacts: Path) -> None:
    from playwright.sync_api import expect

    with lab_page(browser, lab, artifacts / "04-chat-lab-failure.png", height=1000) as driven:
        page = driven.page
        driven.open_notebook(NOTEBOOK.name)
        driven.run("notebook:run-all-cells")

        # The last code cell prints this once every cell before it ran.
        expect(page.get_by_text("shown as text: True")).to_be_visible(timeout=RUN_ALL_TIMEOUT_MS)
        chat = page.locator(".wslab-chat")
        expect(chat).to_have_count(1, timeout=WAIT_MS)
        messages = chat.locator(".wslab-chat-messages")
        expect(messages).to_contain_text("Hello Learner! I'm Ada", timeout=WAIT_MS)
        # Grace's <script> and <img onerror> arrived as text, not as elements.
        expect(messages).to_contain_text("<script>alert('hi')</script> <img src=x onerror=alert(1)>")
        assert messages.locator("script, img").count() == 0

        chat.scroll_into_view_if_needed()
        box = chat.locator(".wslab-chat-input input")
        box.click()
        box.press_sequentially("Typing from Chromium", delay=20)
        # The kernel has the whole text once the count says so (keystrokes reach it in batches).
        expect(chat.locator(".wslab-chat-count")).to_have_text(f"{len('Typing from Chromium')}/2000", timeout=WAIT_MS)
        chat.locator(".wslab-chat-send").click()

        typing = chat.locator(".wslab-chat-typing")
        expect(typing).to_contain_text("Ada is typing…", timeout=WAIT_MS)
        chat.screenshot(path=str(artifacts / "04-chat-typing.png"))

        expect(messages).to_contain_text("Learner, you said: Typing from Chromium", timeout=WAIT_MS)
        expect(typing).not_to_contain_text("typing", timeout=WAIT_MS)
        expect(box).to_have_value("")
        chat.screenshot(path=str(artifacts / "04-chat-answer.png"))
        page.screenshot(path=str(artifacts / "04-chat-lab.png"))
        assert driven.errors == []
