"""Worker processes: several copies of one server command, supervised, each dying with its parent.

``wslab serve --workers N`` runs N processes on one port (SO_REUSEPORT: the
kernel spreads new connections over them) that share their rooms through an
engine; :mod:`wslab.classroom.serve` builds their command and hands it to a
:class:`WorkerPool`:

* every worker dies with the process that started it, even after that one's
  SIGKILL (Linux's parent-death signal, :func:`die_with_parent`);
* a worker counts as started once it prints its ready line; every wait for that
  is bounded;
* a worker that dies is started again, with a line saying so;
* :meth:`WorkerPool.stop` ends them all within a bound: SIGTERM, then SIGKILL.

Each worker's output is forwarded line by line, prefixed ``[worker N]``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import IO, TextIO

__all__ = ["WorkerPool", "die_with_parent", "free_port", "READY_TEXT"]

READY_TEXT = "listening on port"
"""What a worker prints, in a line of its own, once it accepts connections."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free on ``host`` right now (the system's choice)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def die_with_parent() -> None:  # pragma: no cover - runs in the child
    """In a child process before ``exec`` (``preexec_fn``): get SIGTERM when the parent dies (Linux only)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class _Worker:
    def __init__(self, index: int, argv: Sequence[str], env: Mapping[str, str], out: TextIO) -> None:
        self.index, self.argv, self.env, self.out = index, list(argv), dict(env), out
        self.ready = threading.Event()
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen[str]:
        self.ready.clear()
        process = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True, env=self.env,
            preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509
        )
        assert process.stdout is not None
        threading.Thread(target=self._forward, args=(process.stdout,), daemon=True).start()
        return process

    def _forward(self, stream: IO[str]) -> None:
        for line in stream:
            if READY_TEXT in line:
                self.ready.set()
                continue
            print(f"[worker {self.index}] {line.rstrip()}", file=self.out, flush=True)

    def restart(self) -> None:
        self.process = self._spawn()


class WorkerPool:
    """``count`` processes running ``argv``, with ``env`` as their environment (default: this one's).

    ``out`` receives their output and the pool's own lines.
    """

    def __init__(
        self, argv: Sequence[str], count: int, out: TextIO, *, env: Mapping[str, str] | None = None
    ) -> None:
        if count < 1:
            raise ValueError(f"a pool needs at least one worker, got {count}")
        environment = dict(os.environ if env is None else env, PYTHONUNBUFFERED="1")
        self.out = out
        self.workers = [_Worker(i + 1, argv, environment, out) for i in range(count)]

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self.workers]

    def wait_ready(self, timeout: float, stop: threading.Event) -> int | None:
        """Wait until every worker is ready; None when they are, else the number of one that is not.

        Gives up when a worker exits, ``timeout`` seconds pass, or ``stop`` is set.
        """
        deadline = time.monotonic() + timeout
        for worker in self.workers:
            while not worker.ready.wait(0.1):
                if worker.process.poll() is not None or time.monotonic() > deadline or stop.is_set():
                    return worker.index
        return None

    def supervise(self, stop: threading.Event, poll: float = 0.2) -> None:
        """Until ``stop`` is set: start again every worker that ended, saying so."""
        while not stop.wait(poll):
            for worker in self.workers:
                code = worker.process.poll()
                if code is not None:
                    how = f"signal {-code}" if code < 0 else f"status {code}"
                    print(f"wslab serve: worker {worker.index} ended with {how}; starting it again",
                          file=self.out, flush=True)
                    worker.restart()

    def stop(self, timeout: float) -> None:
        """SIGTERM every worker, wait up to ``timeout`` s for each, then SIGKILL what is left."""
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.terminate()
        for worker in self.workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(timeout)
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait(timeout)
