"""A real JupyterHub on loopback for browser tests, and a git repository of the course for nbgitpuller.

* :class:`Hub`: JupyterHub (pip) with its configurable-http-proxy (npm, in
  ``tests/e2e/hub/node_modules``, installed by ``.ci/run``), the
  ``DummyAuthenticator`` (any name, any password: the tests log in as they
  like) and the ``SimpleLocalProcessSpawner``: every user's server runs as the
  user running the tests, with ``$HOME`` at ``HOMES/NAME``. That spawner needs
  no system users, so it runs on a fresh CI machine (root there) and on a
  developer's account alike, with nothing added to or removed from the
  system; real users (``LocalProcessSpawner``) would need root and
  ``useradd``, and would test the operating system, not the course. The
  single-user servers run JupyterLab from this Python, with wslab,
  jupyter-server-proxy and nbgitpuller. The hub's public URL is set, so wslab's
  links in a kernel are whole URLs (``JUPYTERHUB_PUBLIC_URL``).
  :func:`running_hub` starts it, waits for it (bounded) and stops it;
* :func:`hub_missing`: why a hub cannot run here, or None;
* :func:`course_repository`: a git repository (branch ``main``, one commit)
  holding the course's files, for nbgitpuller to clone over ``file://``;
* :func:`log_in`: the hub's login form, filled in a Chromium page.

Everything listens on 127.0.0.1. Every wait is bounded; at the end the hub
stops the servers it spawned, and whatever is left is killed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from support import ROOT, ended, wait_until
from support.lab import free_port, scratch_folders, wait_answering

CHP_FOLDER = ROOT / "tests" / "e2e" / "hub"
"""Where ``npm ci --prefix tests/e2e/hub`` puts configurable-http-proxy (``package.json`` pins it)."""

HUB_START_TIMEOUT = 60.0
"""Seconds JupyterHub may take to answer through its proxy (database, proxy, a busy machine)."""

SPAWN_TIMEOUT_MS = 90_000
"""Bound on a user's server starting and JupyterLab loading in it, in milliseconds."""

COURSE_FILES = ("README.md", "pyproject.toml", "notebooks", "exercises", "docs")
"""What :func:`course_repository` commits: what a learner's clone needs to follow the course."""


def chp_command() -> str | None:
    """configurable-http-proxy: ``$WSLAB_CHP``, else ``tests/e2e/hub/node_modules``, else on ``PATH``."""
    if os.environ.get("WSLAB_CHP"):
        return os.environ["WSLAB_CHP"]
    local = CHP_FOLDER / "node_modules" / ".bin" / "configurable-http-proxy"
    return str(local) if local.is_file() else shutil.which("configurable-http-proxy")


def hub_missing() -> str | None:
    """Why a hub cannot run here (a missing package or program), or None."""
    for module, package in (
        ("jupyterhub", "jupyterhub"), ("nbgitpuller", "nbgitpuller"), ("jupyter_server_proxy", "jupyter-server-proxy"),
    ):
        if find_spec(module) is None:
            return f"the Python package {package} is not installed (it is in the test extra)"
    if shutil.which("node") is None:
        return "no node (JupyterHub's proxy is a Node program): apt-get install nodejs"
    if chp_command() is None:
        return "no configurable-http-proxy: npm ci --prefix tests/e2e/hub (or set WSLAB_CHP)"
    if shutil.which("git") is None:
        return "no git (nbgitpuller runs it): apt-get install git"
    return None


def _singleuser_command() -> list[str]:
    script = Path(sys.executable).parent / "jupyterhub-singleuser"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "jupyterhub.singleuser"]


class Hub:
    """A JupyterHub process, its proxy and its users' servers, under ``base``."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.homes = base / "homes"
        self.homes.mkdir()
        self.log = base / "jupyterhub.log"
        (base / "lab").mkdir()
        _, settings = scratch_folders(base / "lab")  # no news toast, every cell rendered
        as_root = hasattr(os, "geteuid") and os.geteuid() == 0
        config = {
            "JupyterHub": {
                "ip": "127.0.0.1",
                "port": self.port,
                "hub_ip": "127.0.0.1",
                "hub_port": free_port(),
                "public_url": self.base_url,
                "authenticator_class": "dummy",
                "spawner_class": "simple",
                "db_url": f"sqlite:///{base / 'jupyterhub.sqlite'}",
                "cookie_secret_file": str(base / "jupyterhub_cookie_secret"),
                "pid_file": str(base / "jupyterhub.pid"),
                "cleanup_servers": True,
                "cleanup_proxy": True,
            },
            "ConfigurableHTTPProxy": {
                "command": [chp_command()],
                "api_url": f"http://127.0.0.1:{free_port()}",
                "auth_token": secrets.token_hex(16),
                "pid_file": str(base / "proxy.pid"),
            },
            "SimpleLocalProcessSpawner": {
                "home_dir_template": f"{self.homes}/{{username}}",
                # The hub stops a server with SIGINT, then SIGTERM. Without a terminal, a single-user
                # server takes SIGINT as a KeyboardInterrupt ("Interrupted...") and does not exit;
                # SIGTERM stops it cleanly. So: SIGTERM after 1 s, not 30.
                "interrupt_timeout": 1,
            },
            "Spawner": {
                "cmd": _singleuser_command(),
                "default_url": "/lab",
                "start_timeout": 90,
                "http_timeout": 90,
                "environment": {"JUPYTERLAB_SETTINGS_DIR": str(settings), "PYTHONUNBUFFERED": "1"},
                "args": [
                    "--LabApp.expose_app_in_browser=True",
                    "--LabApp.news_url=",
                    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                    "--LabApp.extension_manager=readonly",
                ]
                + (["--allow-root"] if as_root else []),
            },
        }
        self.config = base / "jupyterhub_config.json"
        self.config.write_text(json.dumps(config, indent=1))
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(self.config)],
            cwd=base,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the hub and its proxy, killed as one group if they will not stop
        )

    @property
    def base_url(self) -> str:
        """The hub's public address: ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def home(self, user: str) -> Path:
        """``user``'s home folder (their server's root)."""
        return self.homes / user

    def wait_ready(self, timeout: float = HUB_START_TIMEOUT) -> None:
        """Poll the hub's API through its proxy until it answers (bounded); fail with the log if the hub dies."""
        wait_answering(self.process, f"{self.base_url}/hub/api/", timeout, "JupyterHub", self.tail)

    def tail(self, chars: int = 6000) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(errors="replace")[-chars:]

    def _user_server_pids(self) -> list[int]:
        pids = []
        for info in self.homes.glob("*/.local/share/jupyter/runtime/jpserver-*.json"):
            try:
                pids.append(int(json.loads(info.read_text())["pid"]))
            except (OSError, ValueError, KeyError):
                pass
        return pids

    def stop(self) -> None:
        """SIGTERM: the hub stops its users' servers and its proxy. Each step bounded; leftovers killed."""
        servers = self._user_server_pids()
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        try:
            wait_until(lambda: all(ended(pid) for pid in servers), 15, "the users' servers to stop")
        except AssertionError:
            for pid in servers:
                if not ended(pid):
                    os.killpg(pid, signal.SIGKILL)  # each server leads a session of its own (the spawner's choice)
            raise
        finally:
            self._log_file.close()


@contextmanager
def running_hub(base: Path) -> Iterator[Hub]:
    """A :class:`Hub` under ``base``, answering, and stopped at the end."""
    hub = Hub(base)
    try:
        hub.wait_ready()
        yield hub
    finally:
        hub.stop()


def course_repository(parent: Path) -> Path:
    """``parent/wslab``: a git repository on branch ``main`` with one commit of :data:`COURSE_FILES`.

    nbgitpuller names its clone after the repository URL's last part, so it
    clones ``file://.../wslab`` into ``~/wslab``, as it does GitHub's ``OWNER/wslab``.
    """
    repo = parent / "wslab"
    repo.mkdir(parents=True)
    for name in COURSE_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        else:
            shutil.copy(source, repo / name)
    git = ["git", "-c", "user.name=wslab tests", "-c", "user.email=tests@wslab.invalid"]
    git += ["-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "the course"]):
        subprocess.run([*git, *args], cwd=repo, check=True, capture_output=True, timeout=60)
    return repo


def log_in(page: Any, user: str, url: str) -> None:
    """Open ``url`` on the hub in ``page``; on the login form it leads to, log in as ``user`` (bounded)."""
    page.goto(url, timeout=SPAWN_TIMEOUT_MS)
    page.locator("#username_input").fill(user, timeout=SPAWN_TIMEOUT_MS)
    page.locator("#password_input").fill("any password: the DummyAuthenticator takes it")
    page.locator("#login_submit").click()
