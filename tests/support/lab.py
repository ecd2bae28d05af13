"""A JupyterLab server process for browser tests: 127.0.0.1, a random token, a free port, bounded waits.

Shared by ``test_lab.py`` (the chat lesson) and ``test_proxy.py`` (the chat page
through jupyter-server-proxy). Its runtime folder is its own
(``JUPYTER_RUNTIME_DIR``), so its kernels find it and no other server.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

LAB_START_TIMEOUT = 90.0
"""Seconds JupyterLab may take to answer its status API (a busy 2-core CI machine)."""


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
