"""JupyterLab for browser tests: the server process, and a Chromium page that drives it.

* :class:`Lab`: a JupyterLab server on 127.0.0.1 with a random token and a free
  port, bounded waits; its runtime folder is its own (``JUPYTER_RUNTIME_DIR``),
  so its kernels find it and no other server. :func:`running_lab` starts one,
  waits for it and stops it;
* :func:`lab_page`: a page in its own browser context, its errors collected, a
  screenshot and the server's log on failure; :class:`LabPage` opens a notebook,
  waits for its kernel and runs JupyterLab commands;
* :class:`ShellCommand`: a command line (the README's course command) under
  ``zsh -c`` or ``bash -c``, the links it prints, Ctrl-C; :func:`processes_using`
  finds the kernels it left, if any.

Shared by ``tests/e2e/browser/test_lab.py`` (the chat lesson, the README's course
command), ``tests/e2e/browser/test_proxy.py`` (the chat page through
jupyter-server-proxy) and ``tests/e2e/browser/test_hub.py`` (JupyterHub).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

LAB_START_TIMEOUT = 90.0
"""Seconds JupyterLab may take to answer its status API (a busy 2-core CI machine)."""

PAGE_LOAD_MS = 60_000
"""Bound on JupyterLab's page loading and a notebook's kernel starting, in milliseconds."""

KERNEL_READY = (
    "(path) => window.jupyterapp && window.jupyterapp.shell.currentWidget"
    " && window.jupyterapp.shell.currentWidget.context"
    " && window.jupyterapp.shell.currentWidget.context.path === path"
    " && window.jupyterapp.shell.currentWidget.sessionContext"
    " && window.jupyterapp.shell.currentWidget.sessionContext.session"
    " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
    " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'"
)
"""True once the notebook in front is ``path`` and its kernel is idle (``--LabApp.expose_app_in_browser`` gives
``window.jupyterapp``). Not just any notebook in front: JupyterLab restores the tabs a page before had open, and
the one restored in front may be another notebook, whose kernel is long ready."""


def wait_answering(
    process: subprocess.Popen[Any], url: str, timeout: float, what: str, tail: Callable[[], str]
) -> None:
    """Poll ``url`` until it answers 200, at most ``timeout`` s; fail with ``tail()`` if ``process`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}:\n{tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)  # polling a subprocess that offers no readiness event
    pytest.fail(f"{what} did not answer within {timeout:g} s:\n{tail()}")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the OS's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lab:
    """A JupyterLab server process started for one test module."""

    def __init__(self, root: Path, settings: Path, args: list[str] | None = None) -> None:
        """Start JupyterLab in ``root``; ``args`` replace the default ``--ServerApp.root_dir=ROOT``."""
        self.root = root
        self.runtime = root.parent / "runtime"
        self.port = free_port()
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
        wait_answering(self.process, f"{self.base}/api/status?token={self.token}", timeout, "JupyterLab", self.tail)

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


def scratch_folders(base: Path) -> tuple[Path, Path]:
    """``(root, settings)`` under ``base``: an empty root folder, and settings that suit screenshots.

    Every cell is rendered (no virtual scrolling), so widgets are in the page
    wherever they are; no "get notified about Jupyter news?" toast (and no
    fetching it).
    """
    root = base / "root"
    root.mkdir()
    settings = base / "settings"
    tracker = settings / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    apputils = settings / "@jupyterlab" / "apputils-extension"
    apputils.mkdir(parents=True)
    (apputils / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    return root, settings


@contextmanager
def running_lab(root: Path, settings: Path, args: list[str] | None = None) -> Iterator[Lab]:
    """A :class:`Lab` started in ``root``, answering, and stopped at the end (see :class:`Lab` for ``args``)."""
    server = Lab(root, settings, args)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@dataclass
class LabPage:
    """A Chromium page on a :class:`Lab`; ``errors`` collects every page error of its pages."""

    lab: Lab
    context: Any
    page: Any
    errors: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> Any:
        """Collect ``page``'s errors in :attr:`errors`; returns it."""
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        return page

    def new_page(self) -> Any:
        """Another page in the same browser context (logged in to JupyterLab as this one is)."""
        return self.watch(self.context.new_page())

    def open_notebook(self, name: str) -> None:
        """Open ``name`` (relative to the Lab's root) with the Lab's token, and wait (bounded) for its kernel."""
        self.page.goto(f"{self.lab.base}/lab/tree/{name}?token={self.lab.token}", timeout=PAGE_LOAD_MS)
        self.page.wait_for_function(KERNEL_READY, arg=name, timeout=PAGE_LOAD_MS)

    def wait_for_document(self, path: str) -> None:
        """Wait (bounded) until the document in front is ``path``."""
        self.page.wait_for_function(
            "(path) => window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.context"
            " && window.jupyterapp.shell.currentWidget.context.path === path",
            arg=path,
            timeout=PAGE_LOAD_MS,
        )

    def run(self, command: str) -> None:
        """Run a JupyterLab command: ``notebook:run-all-cells``, ``notebook:run-cell-and-select-next``..."""
        self.page.evaluate("(command) => window.jupyterapp.commands.execute(command)", command)


@contextmanager
def lab_page(browser: Any, lab: Lab, failure: Path, *, height: int = 900) -> Iterator[LabPage]:
    """A :class:`LabPage` in a browser context of its own, closed at the end.

    If the test fails, the page goes to the screenshot ``failure`` and the Lab's
    log is printed (pytest shows it with the failure).
    """
    context = browser.new_context(viewport={"width": 1280, "height": height})
    driven = LabPage(lab, context, context.new_page())
    driven.watch(driven.page)
    try:
        yield driven
    except Exception:
        driven.page.screenshot(path=str(failure))
        print(lab.tail())
        raise
    finally:
        context.close()


class ShellCommand:
    """A command line run by ``SHELL -c`` in a process group of its own, its output read line by line.

    For the README's course command: :meth:`wait_for_links` returns the links
    JupyterLab prints for pasting, :meth:`interrupt` is a terminal's Ctrl-C
    (SIGINT to the whole group), :meth:`kill` the last resort. Every wait is bounded.
    """

    def __init__(self, shell: str, command: str, cwd: Path, env: dict[str, str]) -> None:
        self.command = command
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.process = subprocess.Popen(
            [shell, "-c", command], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, name=f"{shell} -c output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            with self._changed:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for_links(self, timeout: float = LAB_START_TIMEOUT) -> list[str]:
        """The links under JupyterLab's "copy and paste one of these URLs:" (bounded; fails if it ends first)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                text = "\n".join(self.lines)
                marker = text.find("copy and paste one of these URLs:")
                if marker >= 0:
                    links = re.findall(r"^\s+(https?://\S+)$", text[marker:], re.M)
                    if len(links) >= 2:  # localhost and 127.0.0.1
                        return links
                if self.process.poll() is not None and not self._reader.is_alive():
                    pytest.fail(f"{self.command!r} ended with {self.process.returncode}:\n{text[-4000:]}")
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"no link printed within {timeout:g} s:\n{text[-4000:]}")
                self._changed.wait(left)

    def interrupt(self, timeout: float = 30.0) -> int:
        """Ctrl-C in its terminal: SIGINT to its process group; its exit status (bounded)."""
        os.killpg(self.process.pid, signal.SIGINT)
        status = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return status

    def kill(self) -> None:
        """SIGKILL to its process group, if it still runs."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)


def processes_using(path: Path) -> list[int]:
    """The processes whose command line names a file under ``path`` (a runtime folder's kernels, say). Linux."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(path) in cmdline:
            found.append(int(proc.name))
    return found
