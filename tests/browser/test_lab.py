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
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

COURSE = Path(__file__).resolve().parents[2]
NOTEBOOK = COURSE / "notebooks" / "04-chat.ipynb"
LAB_START_TIMEOUT = 90.0
"""Seconds JupyterLab may take to answer its status API (a busy 2-core CI machine)."""
RUN_ALL_TIMEOUT_MS = 120_000
"""Bound on running the whole lesson in the browser, kernel start included."""
WAIT_MS = 20_000
"""Bound on any other single wait for the page."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lab:
    """A JupyterLab server process started for one test module."""

    def __init__(self, root: Path, settings: Path, args: list[str] | None = None) -> None:
        """Start JupyterLab in ``root``; ``args`` replace the default ``--ServerApp.root_dir=ROOT``."""
        self.root = root
        self.runtime = root.parent / "runtime"
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.log = root.parent / "jupyterlab.log"
        env = dict(os.environ)
        env.update(
            JUPYTERLAB_SETTINGS_DIR=str(settings),
            JUPYTERLAB_WORKSPACES_DIR=str(root.parent / "workspaces"),
            JUPYTER_RUNTIME_DIR=str(self.runtime),
            PYTHONUNBUFFERED="1",
        )
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "jupyter", "lab",
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}",
                "--LabApp.expose_app_in_browser=True",
                "--LabApp.news_url=",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                "--LabApp.extension_manager=readonly",
                "--ServerApp.terminals_enabled=False",
            ]
            + (args if args is not None else [f"--ServerApp.root_dir={root}"])
            + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
            cwd=root,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = LAB_START_TIMEOUT) -> None:
        """Poll the status API until it answers (bounded); fail with the log if the process dies."""
        deadline = time.monotonic() + timeout
        url = f"{self.base}/api/status?token={self.token}"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"JupyterLab exited with {self.process.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)  # polling a subprocess that offers no readiness event
        pytest.fail(f"JupyterLab did not answer within {timeout:g} s:\n{self.tail()}")

    def tail(self, chars: int = 4000) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        """Ask the server to shut down (kernels included); terminate, then kill, each bounded."""
        try:
            request = urllib.request.Request(f"{self.base}/api/shutdown?token={self.token}", method="POST")
            urllib.request.urlopen(request, timeout=5).close()
        except (urllib.error.URLError, OSError):
            pass
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log_file.close()


def _settings(base: Path) -> Path:
    """JupyterLab user settings for the tests: every cell rendered, no news toast."""
    settings = base / "settings"
    tracker = settings / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    # Render every cell (no virtual scrolling), so the chat window is in the page wherever it is.
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    # No "get notified about Jupyter news?" toast over the screenshots (and no fetching it).
    apputils = settings / "@jupyterlab" / "apputils-extension"
    apputils.mkdir(parents=True)
    (apputils / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    return settings


@pytest.fixture(scope="module")
def lab(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab serving a scratch copy of the chat lesson (needs ``browser``: skipped with it)."""
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "root"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    server = Lab(root, _settings(base))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def course_command_lab_args() -> list[str]:
    """What the README's course command passes to ``jupyter lab`` (after ``lab``), verbatim."""
    from test_setup import readme_command

    words = readme_command("course-command").split("&&")[-1].split()
    assert "lab" in words, f"the course command does not run jupyter lab: {words}"
    return words[words.index("lab") + 1 :]


def test_course_command_opens_lesson_1_with_the_course_root_in_the_file_browser(
    browser: Any, tmp_path_factory: pytest.TempPathFactory, artifacts: Path
) -> None:
    """The README's course command, run in a scratch copy of the course, shows notebooks/ and exercises/."""
    from playwright.sync_api import expect

    base = tmp_path_factory.mktemp("course")
    root = base / "course"
    root.mkdir()
    for folder in ("notebooks", "exercises", "docs"):
        shutil.copytree(COURSE / folder, root / folder)
    lab = Lab(root, _settings(base), args=course_command_lab_args())
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        lab.wait_ready()
        # The page JupyterLab asks the browser to open (what a learner's browser shows first).
        opened = sorted(lab.runtime.glob("jpserver-*-open.html"))
        assert opened, f"JupyterLab wrote no page for the browser to open\n{lab.tail()}"
        match = re.search(r'href="([^"]+)"', opened[-1].read_text())
        assert match, opened[-1].read_text()
        url = html.unescape(match.group(1))
        assert "/lab/tree/notebooks/01-basics.ipynb" in url, url
        page.goto(url, timeout=60_000)
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.context"
            " && window.jupyterapp.shell.currentWidget.context.path === 'notebooks/01-basics.ipynb'",
            timeout=60_000,
        )
        listing = page.locator(".jp-FileBrowser .jp-DirListing-content .jp-DirListing-itemText")
        for name in ("docs", "exercises", "notebooks"):
            expect(listing.filter(has_text=re.compile(rf"^{name}$"))).to_have_count(1, timeout=WAIT_MS)
        expect(page.locator(".jp-FileBrowser .jp-BreadCrumbs")).not_to_contain_text("notebooks")
        page.screenshot(path=str(artifacts / "course-root.png"))
    except Exception:
        page.screenshot(path=str(artifacts / "course-root-failure.png"))
        print(lab.tail())
        raise
    finally:
        context.close()
        lab.stop()


def test_chat_lesson_runs_in_jupyterlab_and_ada_answers(lab: Lab, browser: Any, artifacts: Path) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    try:
        page.goto(f"{lab.base}/lab/tree/{NOTEBOOK.name}?token={lab.token}", timeout=60_000)
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.sessionContext"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel",
            timeout=60_000,
        )
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

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
        chat.locator(".wslab-chat-send").click()

        typing = chat.locator(".wslab-chat-typing")
        expect(typing).to_contain_text("Ada is typing…", timeout=WAIT_MS)
        chat.screenshot(path=str(artifacts / "04-chat-typing.png"))

        expect(messages).to_contain_text("Learner, you said: Typing from Chromium", timeout=WAIT_MS)
        expect(typing).not_to_contain_text("typing", timeout=WAIT_MS)
        expect(box).to_have_value("")
        chat.screenshot(path=str(artifacts / "04-chat-answer.png"))
        page.screenshot(path=str(artifacts / "04-chat-lab.png"))
        assert page_errors == []
    except Exception:
        page.screenshot(path=str(artifacts / "04-chat-lab-failure.png"))
        print(lab.tail())
        raise
    finally:
        context.close()
