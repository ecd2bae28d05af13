"""The chat lesson in a real JupyterLab, and the README's course command, driven by headless Chromium.

The chat lesson: the test starts JupyterLab itself (127.0.0.1, a random token,
a free port, a scratch root folder holding a copy of ``notebooks/04-chat.ipynb``
so the committed lesson is never saved over), opens the lesson, runs all
cells, types into the chat window, and checks that Ada's typing indicator and
then her answer appear, and that the ``<script>``/``<img onerror>`` message
shows as text.

The course command: the README's line runs, whole and as written, under
``zsh -c`` and under ``bash -c`` (see the test's docstring for how that stays
fast), and the link it prints, not the page JupyterLab would open itself, is
opened in Chromium: lesson 1 in front, the course root in the file browser.
Then Ctrl-C stops it cleanly. Screenshots go to ``test-artifacts/``. Every
wait is bounded; every process is stopped at the end, killed if it does not stop.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from support import ROOT, ended, readme_command, wait_until
from support.lab import (
    KERNEL_READY,
    PAGE_LOAD_MS,
    Lab,
    ShellCommand,
    free_port,
    lab_page,
    processes_using,
    running_lab,
    scratch_folders,
)

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
    _widgets_notebook(root / WIDGETS)
    with running_lab(root, settings) as server:
        yield server


WIDGETS = "a11y-widgets.ipynb"
"""A scratch notebook showing every widget the lessons show, and the instructor's dashboard, at work."""

_WIDGET_CELLS = [
    """import asyncio, wslab
from wslab import BackoffPolicy, ReconnectingClient
from wslab.classroom.instructor_dashboard import InstructorDashboard
server = wslab.start_server(update_interval=0.25)""",
    # lesson 2: the frame inspector and the readyState light, over a connection that opens, sends, closes
    """frames = wslab.FrameInspector(title="ws")
ws = wslab.WebSocket(server.echo_url, logger=frames.logger)
light = wslab.ReadyStateLight(ws)
await ws.wait_for("open", timeout=5)
ws.send("hello")
await frames.wait_for("TEXT", direction="received", timeout=5)
display(frames, light)""",
    # lesson 3: the reconnect timeline, through an outage
    """client = ReconnectingClient(server.echo_url, policy=BackoffPolicy(initial=0.1, cap=1.0, seed=3))
plot = wslab.TimelinePlot(client)
client.start()
await client.wait_for("connect", timeout=5)
server.drop_all(1012, "restarting")
await client.wait_for("connect", timeout=5)
plot""",
    # lesson 5: live updates
    """board = wslab.LiveDashboard(server.chat_url)
await board.wait_subscribed(timeout=5)
board""",
    # lesson 4: the chat, with a message from someone else, and the dashboard watching the room
    """ada = wslab.add_bot(server, "Ada", reply=lambda sender, text: f"{sender}, you said: {text}")
chat = wslab.ChatUI(server.chat_url, "Learner")
await chat.wait_joined(timeout=5)
chat.send("hello Ada")
dashboard = InstructorDashboard(server, auto_refresh=None)
display(chat, dashboard)""",
    'print("all widgets shown")',
]


def _widgets_notebook(path: Path) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code) for code in _WIDGET_CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)


def course_command_env(base: Path) -> dict[str, str]:
    """This environment, with Jupyter's folders under ``base`` and a config that opens no browser.

    The command line stays the README's; JupyterLab reads ``JUPYTER_CONFIG_DIR``
    as it reads a learner's ``~/.jupyter``: no browser of its own (Chromium
    opens the printed link instead), a free port, ``window.jupyterapp`` for the
    test to read, nothing fetched from the internet.
    """
    config = base / "config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(json.dumps({
        "ServerApp": {"open_browser": False, "port": free_port(), "port_retries": 0},
        "LabApp": {
            "expose_app_in_browser": True,
            "news_url": None,
            "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
            "extension_manager": "readonly",
        },
    }))
    _, settings = scratch_folders(base)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("JUPYTER", "VIRTUAL_ENV"))}
    env.update(
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.mark.alone  # the command reinstalls wslab into the .venv that the other workers' tests run from
@pytest.mark.parametrize("shell", ["zsh", "bash"])
def test_readme_course_command_prints_a_link_that_opens_lesson_1_at_the_course_root(
    shell: str, browser: Any, tmp_path: Path, artifacts: Path
) -> None:
    """The README's course command, whole and as written, under ``SHELL -c``; its printed link opened in Chromium.

    Fair and fast: it runs in this repository, whose ``.venv`` is the one the
    README's test command made and these tests run in (checked). There
    ``python3 -m venv .venv`` finds the environment already made, and pip, given
    ``.[course]`` (all of it in ``.[test]``: ``tests/e2e/test_setup.py``), finds
    every package installed and only reinstalls wslab itself, editable, pointing
    here as before: seconds, where a fresh ``.venv`` would take minutes. Every
    word of the line still goes through the shell: a ``?`` or an unquoted ``[``
    that zsh globs ("no matches found") fails here. Then ``wslab lab`` serves
    the repository, the course, and the test reads its output, as a learner
    whose browser did not open would.
    """
    from playwright.sync_api import expect

    if shutil.which(shell) is None:
        reason = f"no {shell} (apt-get install {shell})"
        if os.environ.get("CI"):
            pytest.fail(f"the course command test cannot run in CI: {reason}")
        pytest.skip(reason)
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        reason = f"runs in the README's .venv only (this is {sys.prefix}): a new .venv would install everything"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    command = readme_command("course-command")
    env = course_command_env(tmp_path)
    runtime = Path(env["JUPYTER_RUNTIME_DIR"])
    run = ShellCommand(shell, command, ROOT, env)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    kernels: list[int] = []
    try:
        links = run.wait_for_links()
        for link in links:  # each one whole: path, then one query with the landing's and the token
            parts = urlsplit(link)
            query = parse_qs(parts.query)
            assert parts.path == "/lab/tree/notebooks/01-basics.ipynb" and link.count("?") == 1, link
            assert query["file-browser-path"] == ["/"] and len(query["token"][0]) >= 32, link
        page.goto(links[0], timeout=PAGE_LOAD_MS)  # localhost: what a learner pastes first
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.context"
            " && window.jupyterapp.shell.currentWidget.context.path === 'notebooks/01-basics.ipynb'",
            timeout=PAGE_LOAD_MS,
        )
        listing = page.locator(".jp-FileBrowser .jp-DirListing-content .jp-DirListing-itemText")
        for name in ("docs", "exercises", "notebooks"):
            expect(listing.filter(has_text=re.compile(rf"^{name}$"))).to_have_count(1, timeout=WAIT_MS)
        expect(page.locator(".jp-FileBrowser .jp-BreadCrumbs")).not_to_contain_text("notebooks")
        page.wait_for_function(KERNEL_READY, arg="notebooks/01-basics.ipynb", timeout=PAGE_LOAD_MS)
        page.screenshot(path=str(artifacts / f"course-command-{shell}.png"))
        assert errors == []
        root_note = "wslab lab: running as root (a container?): JupyterLab is started with --allow-root"
        assert (root_note in run.output) == (hasattr(os, "geteuid") and os.geteuid() == 0), run.output

        # Ctrl-C in its terminal: JupyterLab stops, with lesson 1's kernel, and removes its runtime files.
        kernels = processes_using(runtime)
        assert kernels, f"lesson 1's kernel is not running from {runtime}"
        context.close()
        assert run.interrupt() == 0, run.output[-3000:]
        wait_until(lambda: all(ended(pid) for pid in kernels), 10, "the kernel to stop")
        assert not list(runtime.glob("jpserver-*")), list(runtime.iterdir())
    except Exception:
        if not page.is_closed():
            page.screenshot(path=str(artifacts / f"course-command-{shell}-failure.png"))
        print(run.output[-6000:])
        raise
    finally:
        if not page.is_closed():
            context.close()
        run.kill()
        for pid in kernels:
            if not ended(pid):
                os.kill(pid, 9)


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


@pytest.mark.timeout(300)  # a kernel, a notebook of widgets and four axe scans on a busy 2-core machine
def test_every_lesson_widget_and_the_dashboard_pass_axe_in_light_and_dark_and_by_keyboard(
    lab: Lab, browser: Any, artifacts: Path
) -> None:
    """WCAG 2.0/2.1 A and AA (axe-core) over each widget's output, in JupyterLab's light and dark themes.

    The frame inspector and the readyState light (lesson 2), the reconnect
    timeline (3), live updates (5), the chat (4) and the instructor's dashboard,
    each at work; then the accessibility tree of the chat and the dashboard, and
    a keyboard walk through a dashboard row.
    """
    from playwright.sync_api import expect

    from support.axe import violations

    with lab_page(browser, lab, artifacts / "a11y-widgets-failure.png", height=1000) as driven:
        page = driven.page
        driven.open_notebook(WIDGETS)
        driven.run("notebook:run-all-cells")
        done = page.locator(".jp-OutputArea-output pre", has_text="all widgets shown")
        error = page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")
        expect(done.or_(error).first).to_be_visible(timeout=RUN_ALL_TIMEOUT_MS)
        assert error.count() == 0, error.first.inner_text()
        chat = page.locator(".wslab-chat")
        expect(chat.locator(".wslab-msg")).to_have_count(2, timeout=WAIT_MS)  # hello Ada, and her answer
        outputs = ".jp-OutputArea-output"
        expect(page.locator(f"{outputs} .widget-html, {outputs} .widget-label").first).to_be_visible()

        found = {}
        for theme in ("JupyterLab Dark", "JupyterLab Light"):
            page.evaluate("(theme) => window.jupyterapp.commands.execute('apputils:change-theme', {theme})", theme)
            page.wait_for_function(
                "(light) => document.body.dataset.jpThemeLight === light", arg=str(theme.endswith("Light")).lower(),
                timeout=WAIT_MS,
            )
            expect(page.locator("#jupyterlab-splash")).to_have_count(0, timeout=WAIT_MS)  # the theme's splash, gone
            page.screenshot(path=str(artifacts / f"a11y-widgets-{theme.split()[1].lower()}.png"))
            found[theme] = violations(page, outputs)
        assert found == {"JupyterLab Dark": [], "JupyterLab Light": []}, "\n".join(sum(found.values(), []))

        expect(chat).to_match_aria_snapshot(
            "\n".join([
                "- log /Messages in .lobby/:",  # YAML: a '#' would start a comment
                "  - list:",
                "    - listitem:",
                "      - time",
                "      - strong: Learner",
                '      - text: ": hello Ada"',  # time, sender and text: three parts
                "    - listitem:",
                "      - time",
                "      - strong: Ada",
                "- status",
                '- textbox "Message"',
                '- button "Send"',
            ])
        )
        row = page.get_by_role("button", name="Mute Learner")
        expect(row).to_be_visible()
        expect(page.get_by_role("button", name="Kick Learner…")).to_be_visible()
        expect(page.get_by_role("log", name="Server log, newest first")).to_contain_text("dropped", timeout=WAIT_MS)

        # By keyboard: Tab from Mute Learner reaches Kick Learner…; Enter asks; the answers are named too.
        row.focus()
        page.keyboard.press("Tab")
        expect(page.get_by_role("button", name="Kick Learner…")).to_be_focused()
        page.keyboard.press("Enter")
        keep = page.get_by_role("button", name="Keep Learner")
        expect(keep).to_be_visible(timeout=WAIT_MS)
        expect(page.get_by_role("button", name="Kick Learner", exact=True)).to_be_visible()
        keep.focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("button", name="Kick Learner…")).to_be_visible(timeout=WAIT_MS)
        page.get_by_role("log", name="Server log, newest first").focus()
        expect(page.get_by_role("log", name="Server log, newest first")).to_be_focused()
        chat.screenshot(path=str(artifacts / "a11y-chat-widget.png"))
        assert driven.errors == []
