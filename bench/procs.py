"""Process helpers: start and stop subprocesses within bounded waits, and read ``/proc``.

Every subprocess the benchmark starts with :func:`spawn` (or :func:`start_ready`) is remembered
until :func:`stop` has stopped it, so that :func:`stop_all` on the way out
(also after Ctrl-C or SIGTERM, see :func:`sigterm_as_interrupt`) leaves none
behind. :func:`stop` closes the child's standard input (every server of
:mod:`bench.servers` and ``bench/relay.js`` stops on its EOF), sends SIGTERM,
and kills it if it is still there after the deadline. :func:`run_json` runs a
short measuring process to completion, with a timeout, and reads the JSON
line it printed last.

The ``/proc`` readers take a pid or a tuple of pids (the workers of one server
and their Valkey): :func:`cpu_ns` and :func:`rss_bytes` add up over the tuple.
"""

from __future__ import annotations

import glob
import json
import os
import platform
import resource
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any

__all__ = [
    "Pids",
    "log",
    "raise_nofile",
    "pinned",
    "spawn",
    "start_ready",
    "stop",
    "stop_all",
    "sigterm_as_interrupt",
    "run_json",
    "cpu_ns",
    "descendants",
    "cmdline",
    "rss_bytes",
    "listen_overflows",
    "loadavg",
    "machine",
]

Pids = int | tuple[int, ...]
"""One process, or several whose figures add up (a server's workers and their Valkey)."""

_children: list[subprocess.Popen[bytes]] = []
"""Started by :func:`spawn` and not yet stopped by :func:`stop`."""


def log(text: str) -> None:
    """One line of progress on stderr (stdout carries the results)."""
    print(text, file=sys.stderr, flush=True)


def raise_nofile(want: int = 65536) -> None:
    """Raise this process's limit of open files to ``want`` (or the hard limit): 500 clients need more than 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# ---------------------------------------------------------------- subprocesses


def pinned(cpus: set[int] | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that pins the child to ``cpus``; None (no pinning) for None or an empty set."""
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def spawn(
    cmd: Sequence[str],
    *,
    cwd: Path,
    cpus: set[int] | None = None,
    stdin: int | IO[bytes] | None = None,
    stdout: int | IO[bytes] | None = None,
    stderr: int | IO[bytes] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in ``cwd``, pinned to ``cpus``, and remember it for :func:`stop_all` until :func:`stop`."""
    proc = subprocess.Popen(list(cmd), stdin=stdin, stdout=stdout, stderr=stderr, cwd=cwd, preexec_fn=pinned(cpus))
    _children.append(proc)
    return proc


def start_ready(
    cmd: Sequence[str], *, what: str, cwd: Path, log_path: Path, cpus: set[int] | None = None, timeout: float = 20.0
) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``cmd`` and wait, at most ``timeout`` s, for the ``READY <port>`` line it prints on stdout.

    Its stderr is appended to ``log_path``. Returns the process (remembered for
    :func:`stop_all`) and the port. Raises :class:`RuntimeError`, naming ``what``
    and ``log_path``, once the process is stopped again, when no such line came.
    """
    with open(log_path, "ab") as errors:
        proc = spawn(cmd, cwd=cwd, cpus=cpus, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors)
    assert proc.stdout is not None
    text = _first_line(proc.stdout, timeout)
    if not text.startswith("READY "):
        stop(proc)
        raise RuntimeError(f"{what} did not start (got {text!r}); see {log_path}")
    return proc, int(text.split()[1])


def _first_line(stream: IO[bytes], timeout: float) -> str:
    """The first line on ``stream`` (unbuffered reads, so nothing after it is taken), or what came by ``timeout``."""
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    line = b""
    try:
        while time.monotonic() < deadline and not line.endswith(b"\n"):
            if not sel.select(max(0.0, deadline - time.monotonic())):
                break
            chunk = os.read(stream.fileno(), 1)
            if not chunk:
                break
            line += chunk
    finally:
        sel.close()
    return line.decode(errors="replace").strip()


def stop(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Stop ``proc`` if it still runs: close its stdin, SIGTERM, SIGKILL after ``timeout`` s. Safe twice."""
    if proc.poll() is None:
        try:
            if proc.stdin:
                proc.stdin.close()
        except OSError:
            pass
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    if proc in _children:
        _children.remove(proc)


def stop_all() -> None:
    """Stop every process :func:`spawn` started that is not stopped yet (5 s each at most)."""
    for proc in list(_children):
        stop(proc, 5.0)


def sigterm_as_interrupt() -> None:
    """From now on SIGTERM raises :class:`KeyboardInterrupt`, so it unwinds like Ctrl-C through every ``finally``."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def run_json(cmd: Sequence[str], *, cwd: Path, timeout: float) -> Any:
    """Run ``cmd`` to completion (killed after ``timeout`` s) and parse the last line of its stdout as JSON.

    Raises :class:`subprocess.TimeoutExpired`, or :class:`ValueError`/:class:`IndexError`
    when it printed no JSON line.
    """
    done = subprocess.run(list(cmd), capture_output=True, timeout=timeout, cwd=cwd)
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


# ---------------------------------------------------------------- /proc


def cpu_ns(pid: Pids) -> int:
    """CPU time of every thread of ``pid`` (of each pid of a tuple: the workers and their Valkey), in ns."""
    if isinstance(pid, tuple):
        return sum(cpu_ns(one) for one in pid)
    total = 0
    found = False
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(path) as f:
                total += int(f.read().split()[0])
                found = True
        except (OSError, ValueError, IndexError):
            pass
    if found:
        return total
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks * 1_000_000_000 // 100


def descendants(pid: int) -> list[int]:
    """Every process started by ``pid``, and by those, read from /proc (a process that ends meanwhile is left out)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # ended meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid: int) -> str:
    """``pid``'s command line, its words joined by spaces; "" once it has ended."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def rss_bytes(pid: Pids) -> int:
    """Resident memory of ``pid`` (added up over a tuple), in bytes."""
    if isinstance(pid, tuple):
        return sum(rss_bytes(one) for one in pid)
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def listen_overflows() -> int:
    """The kernel's count of connections dropped because a listen queue was full (all sockets), or -1."""
    try:
        with open("/proc/net/netstat") as f:
            lines = f.read().splitlines()
    except OSError:
        return -1
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            fields = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(fields.get("ListenOverflows", -1))
    return -1


def loadavg() -> str:
    """The load averages over 1, 5 and 15 minutes, as ``"2.03 1.26 0.77"``."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> dict[str, str]:
    """CPU count and model, kernel release and load average, for the report's first lines."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "cpu": model, "kernel": platform.release(), "load": loadavg()}
