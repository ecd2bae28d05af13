"""``wslab serve`` in a subprocess, its banner parsed: the one helper every test of the command uses.

The banner is the contract: the learners' links (``ws://`` or ``wss://``), the
token, the admin URL and the admin token are read from it as an instructor
would read them. Every wait is bounded by :data:`START_WAIT`.

* :meth:`Served.start`: start ``wslab serve --port 0 ARGS...`` and read its banner;
* :func:`run_serve`: run ``wslab serve ARGS...`` to its end (bad options, ``--help``).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys

from support import ROOT

START_WAIT = 20.0
"""Bound on a subprocess starting (Python start-up on a busy 2-core machine)."""


def serve_env() -> dict[str, str]:
    """This environment, with the course on ``PYTHONPATH``, unbuffered output and direct links."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env["WSLAB_JUPYTER_PROXY"] = "off"  # the links stay direct even if the tests run in a JupyterLab terminal
    return env


def run_serve(*args: str, timeout: float = START_WAIT) -> subprocess.CompletedProcess[str]:
    """``python -m wslab.cli serve ARGS...`` run to its end (bounded), its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "wslab.cli", "serve", *args],
        cwd=ROOT, env=serve_env(), capture_output=True, text=True, timeout=timeout,
    )


class Served:
    """``python -m wslab.cli serve --port 0 ...``, with what its banner said."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.port = 0
        self.scheme = "ws"
        self.token: str | None = None
        self.admin_url = ""
        self.admin_token = ""
        self.join_code: str | None = None
        self.qr: list[str] = []
        """The lines of the join link's QR code, as printed."""

    @classmethod
    async def start(
        cls, *args: str, new_session: bool = False, port: int = 0, env: dict[str, str] | None = None
    ) -> Served:
        """Start it and read its banner; ``new_session`` puts it in a process group of its own (to kill it whole).

        ``env``: more environment variables (the secrets ``wslab serve`` reads from there).
        """
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "wslab.cli", "serve", "--port", str(port), *args,
            cwd=ROOT, env={**serve_env(), **(env or {})}, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=new_session,
        )
        self = cls(proc)
        try:
            await asyncio.wait_for(self._read_banner(), START_WAIT)
        except BaseException:
            await self.kill()
            raise
        return self

    async def _read_banner(self) -> None:
        assert self.proc.stdout is not None
        while True:
            raw = await self.proc.stdout.readline()
            if not raw:
                err = await self.proc.stderr.read() if self.proc.stderr else b""
                raise AssertionError(f"wslab serve ended early: {self.lines} {err.decode()}")
            line = raw.decode().rstrip("\n")
            self.lines.append(line)
            chat = re.match(r"\s+Notebook .*?(wss?)://127\.0\.0\.1:(\d+)/chat(?:\?token=(\S+))?", line)
            if chat:
                self.scheme, self.port, self.token = chat.group(1), int(chat.group(2)), chat.group(3)
            admin = re.match(r"\s+Admin \(instructor only\):\s+(\S+)$", line)
            if admin:
                self.admin_url = admin.group(1)
            admin_token = re.match(r"\s+Admin token \(.*\): (\S+)$", line)
            if admin_token:
                self.admin_token = admin_token.group(1)
            code = re.match(r"\s+Join code \(.*\): (\S+)$", line)
            if code:
                self.join_code = code.group(1)
            if self.qr or line.strip().startswith("Scan to join"):
                self.qr.append(line)
            if line.startswith("Press Ctrl-C"):
                assert self.port and self.admin_url and self.admin_token, f"banner incomplete: {self.lines}"
                self.qr = self.qr[1:-1]  # without its heading and this line
                return

    def url(self, query: str = "") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/chat{query}"

    @property
    def banner(self) -> str:
        return "\n".join(self.lines)

    def banner_value(self, label: str) -> str:
        """What the banner line ``  LABEL: value`` says (``Workers``, ``Rooms``, ``Data``...)."""
        for line in self.lines:
            if line.strip().startswith(f"{label}:"):
                return line.strip()[len(label) + 1 :].strip()
        raise AssertionError(f"no {label!r} line in the banner: {self.lines}")

    async def stop(self, signum: int = signal.SIGINT) -> tuple[int, str]:
        """Send ``signum``; return the exit status and the rest of stdout."""
        self.proc.send_signal(signum)
        out, _ = await asyncio.wait_for(self.proc.communicate(), START_WAIT)
        return self.proc.returncode or 0, out.decode()

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await asyncio.wait_for(self.proc.wait(), START_WAIT)
