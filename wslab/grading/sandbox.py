"""Where a submission's code runs: a sandbox per submission, on bubblewrap (the tool Flatpak uses).

Two processes grade one submission. The **checker** (trusted, the grader's user,
:mod:`wslab.grading.checker`) runs in a network namespace of its own that has
nothing but loopback (:func:`checker_prefix`). The **learner's process**
(:mod:`wslab.grading.worker`) runs inside it, in a :class:`Sandbox`:

* an unprivileged user (uid and gid 65534, ``nobody``) in a user namespace, with
  every capability dropped and a new session (no terminal to type into);
* its own PID namespace: it cannot see or signal the grader, the checker or any
  other submission, and every process it starts dies with it (a double-forked
  ``setsid`` daemon included);
* a filesystem that shows only the Python environment, the ``wslab`` package (not
  ``wslab_instructor``: no hidden check), the system's libraries and certificates,
  and an empty, private ``/tmp`` and home (:data:`HOME`): no solution, no other
  submission, no gradebook, no feedback, no notebook file at all (the checker sends
  the cells' code over the channel);
* the checker's network namespace: loopback only, shared with its checker and
  nothing else;
* limits on its total memory and number of processes (cgroups, where this machine
  lets this user make them), and on CPU time and file size (``setrlimit``);
* an empty environment but for a few fixed variables.

Where no sandbox can be made (no ``bwrap``, no user namespaces, not Linux),
:func:`unavailable` says why and what to install; ``wslab grade`` then refuses
untrusted work unless the instructor passes ``--no-sandbox`` (the same two
processes, without the walls).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import itertools
import os
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "HOME",
    "Cgroups",
    "Sandbox",
    "SandboxLimits",
    "checker_prefix",
    "unavailable",
    "UID",
    "STDERR_TAIL",
]

UID = 65534
"""The unprivileged user (and group) the learner's code runs as inside the sandbox."""

HOME = "/home/learner"
"""The learner's home and working folder inside the sandbox: empty and private (a tmpfs)."""

STDERR_TAIL = 8192
"""Bytes of the learner process's standard error that are kept (the end of it); the rest is read and dropped."""

_counter = itertools.count(1)


@dataclass(frozen=True)
class SandboxLimits:
    """What one submission may use: total memory (MiB) and processes of the whole sandbox, CPU seconds and file size
    (MiB) of each process."""

    memory_mb: int = 2048
    processes: int = 256
    cpu_seconds: int = 900
    file_mb: int = 64


@functools.cache
def unavailable() -> str | None:
    """None when a sandbox can be made here; otherwise why not, and what to install."""
    if not sys.platform.startswith("linux"):
        return (
            f"the grading sandbox needs Linux (namespaces, bubblewrap); this is {sys.platform}. "
            "Grade on a Linux machine or container, or pass --no-sandbox to grade without one "
            "(only for submissions you trust)"
        )
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return (
            "bubblewrap is not installed (the `bwrap` command): install it (Debian/Ubuntu: "
            "`apt-get install bubblewrap`; Fedora: `dnf install bubblewrap`), or pass --no-sandbox to grade "
            "without one (only for submissions you trust)"
        )
    probe = [bwrap, "--ro-bind", "/", "/", "--unshare-all", "--unshare-user", "--uid", str(UID), "--gid", str(UID),
             "--die-with-parent", "--", "true"]
    try:
        result = subprocess.run(probe, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not run: {exc}"
    if result.returncode != 0:
        why = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"status {result.returncode}"
        return (
            f"bubblewrap cannot make a sandbox here ({why}): user namespaces are probably off "
            "(sysctl kernel.unprivileged_userns_clone=1, or user.max_user_namespaces > 0). Fix that, or pass "
            "--no-sandbox to grade without one (only for submissions you trust)"
        )
    return None


def checker_prefix() -> list[str]:
    """The command prefix that puts the checker in a network namespace of its own (loopback only).

    It keeps the whole filesystem and the grader's user: the checker is trusted.
    """
    bwrap = shutil.which("bwrap") or "bwrap"
    prefix = [bwrap, "--dev-bind", "/", "/", "--unshare-net", "--die-with-parent"]
    if os.geteuid() != 0:
        prefix += ["--unshare-user", "--uid", str(os.geteuid()), "--gid", str(os.getegid())]
    return [*prefix, "--"]


def _python_roots() -> list[Path]:
    """Folders the learner's Python needs: the interpreter's installation, the environment and its site-packages."""
    roots = {Path(sys.base_prefix), Path(sys.prefix), Path(sys.exec_prefix), Path(sys.base_exec_prefix)}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        with contextlib.suppress(KeyError):
            roots.add(Path(sysconfig.get_paths()[key]))
    resolved = {r.resolve() for r in roots if r.exists()} | {r for r in roots if r.exists()}
    # keep the outermost of nested folders
    return sorted(r for r in resolved if not any(o != r and o in r.parents for o in resolved))


def _wslab_dir() -> Path:
    spec = importlib.util.find_spec("wslab")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).resolve().parent


class Cgroups:
    """A memory and a pids cgroup for one sandbox (cgroup v1 or v2), where this user may make them.

    ``enabled`` says whether they exist; :attr:`note` says why not when they do not.
    """

    def __init__(self, limits: SandboxLimits) -> None:
        self.limits = limits
        self.dirs: list[Path] = []
        self.note = ""
        name = f"wslab-sandbox-{os.getpid()}-{next(_counter)}"
        try:
            self._make(name)
        except OSError as exc:
            self.remove()
            self.note = f"total memory and process limits are per process here (no cgroup: {exc.strerror or exc})"

    @property
    def enabled(self) -> bool:
        return bool(self.dirs)

    def _own_path(self, controller: str) -> str:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controller in controllers.split(",") or (controller == "" and controllers == ""):
                return path
        raise OSError(f"no {controller or 'unified'} cgroup")

    def _make(self, name: str) -> None:
        memory_v1 = Path("/sys/fs/cgroup/memory")
        if memory_v1.is_dir() and (memory_v1 / "memory.limit_in_bytes").exists():
            memory = memory_v1 / self._own_path("memory").lstrip("/") / name
            pids = Path("/sys/fs/cgroup/pids") / self._own_path("pids").lstrip("/") / name
            for folder in (memory, pids):
                folder.mkdir()
                self.dirs.append(folder)
            (memory / "memory.limit_in_bytes").write_text(str(self.limits.memory_mb << 20))
            with contextlib.suppress(OSError):  # swap accounting may be off
                (memory / "memory.memsw.limit_in_bytes").write_text(str(self.limits.memory_mb << 20))
            (pids / "pids.max").write_text(str(self.limits.processes))
            return
        unified = Path("/sys/fs/cgroup") / self._own_path("").lstrip("/") / name
        unified.mkdir()
        self.dirs.append(unified)
        (unified / "memory.max").write_text(str(self.limits.memory_mb << 20))
        with contextlib.suppress(OSError):
            (unified / "memory.swap.max").write_text("0")
        (unified / "pids.max").write_text(str(self.limits.processes))

    def join_command(self) -> str:
        """Shell words that move the shell running them (and so all it starts) into these cgroups."""
        return " && ".join(f"echo $$ > {shlex.quote(str(d / 'cgroup.procs'))}" for d in self.dirs)

    def out_of_memory(self) -> bool:
        """True when the sandbox hit its memory limit."""
        for folder in self.dirs:
            # v1: memory.failcnt can stay 0 though the OOM killer ran (seen on 6.18); oom_control counts its kills
            for name in ("memory.failcnt", "memory.oom_control", "memory.events"):
                path = folder / name
                with contextlib.suppress(OSError, ValueError):
                    text = path.read_text()
                    if name == "memory.failcnt" and int(text.strip()) > 0:
                        return True
                    if name == "memory.oom_control":
                        counts = dict(line.split() for line in text.splitlines() if line.strip())
                        if int(counts.get("oom_kill", "0")) > 0:
                            return True
                    if name == "memory.events":
                        counts = dict(line.split() for line in text.splitlines() if line.strip())
                        if int(counts.get("oom_kill", "0")) > 0 or int(counts.get("max", "0")) > 0:
                            return True
        return False

    def kill_all(self) -> None:
        """SIGKILL every process still in these cgroups."""
        for folder in self.dirs:
            with contextlib.suppress(OSError, ValueError):
                for pid in (folder / "cgroup.procs").read_text().split():
                    with contextlib.suppress(OSError):
                        os.kill(int(pid), signal.SIGKILL)

    @staticmethod
    def sweep() -> int:
        """Remove the empty sandbox cgroups of checkers that are gone (killed before they could clean up)."""
        removed = 0
        for controller in Path("/sys/fs/cgroup").iterdir() if Path("/sys/fs/cgroup").is_dir() else ():
            for folder in controller.glob("**/wslab-sandbox-*-*"):
                try:
                    owner = int(folder.name.split("-")[2])
                except (IndexError, ValueError):
                    continue
                if Path(f"/proc/{owner}").exists():
                    continue
                try:
                    folder.rmdir()
                    removed += 1
                except OSError:
                    continue  # still in use, or not ours to remove
        return removed

    def remove(self) -> None:
        for folder in reversed(self.dirs):
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # still has processes: kill them and try again
                    self.kill_all()
                    threading.Event().wait(0.02)
        self.dirs.clear()


class Sandbox:
    """The learner's process for one submission: :meth:`start` it, talk to it over ``stdin``/``stdout``,
    :meth:`kill` it. With ``enabled`` false (``--no-sandbox``) it is a plain process with the same limits per
    process and the same empty environment, and none of the walls.
    """

    def __init__(self, limits: SandboxLimits = SandboxLimits(), *, enabled: bool = True) -> None:
        self.limits = limits
        self.enabled = enabled
        self.cgroups: Cgroups | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._stderr: deque[bytes] = deque()
        self._stderr_size = 0
        self._stderr_thread: threading.Thread | None = None
        self._etc = tempfile.TemporaryDirectory(prefix="wslab-sandbox-etc-")
        etc = Path(self._etc.name)
        (etc / "hosts").write_text("127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n")
        (etc / "passwd").write_text(f"nobody:x:{UID}:{UID}:learner:{HOME}:/usr/sbin/nologin\n")
        (etc / "group").write_text(f"nogroup:x:{UID}:\n")

    def argv(self, command: list[str]) -> list[str]:
        """``command`` wrapped for the sandbox (or as it is, with --no-sandbox)."""
        if not self.enabled:
            return command
        bwrap = shutil.which("bwrap") or "bwrap"
        # The empty, private folders first: a bind made later shows through them (the course may live in /tmp).
        args = [bwrap, "--tmpfs", "/tmp", "--tmpfs", HOME, "--chdir", HOME]
        for folder in ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/etc/ssl", "/etc/ca-certificates",
                       "/etc/alternatives", "/etc/localtime"):
            args += ["--ro-bind-try", folder, folder]
        for root in _python_roots():
            args += ["--ro-bind", str(root), str(root)]
        package = _wslab_dir()
        args += ["--ro-bind", str(package), str(package)]
        etc = Path(self._etc.name)
        for name in ("hosts", "passwd", "group"):
            args += ["--ro-bind", str(etc / name), f"/etc/{name}"]
        args += [
            "--proc", "/proc", "--dev", "/dev",
            "--remount-ro", "/",  # the root bwrap made, now that its mount points exist (/tmp and home stay writable)
            "--unshare-user", "--uid", str(UID), "--gid", str(UID),
            "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--hostname", "sandbox", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--clearenv",
        ]
        for key, value in self.environment(package).items():
            args += ["--setenv", key, value]
        return [*args, "--", *command]

    def environment(self, package: Path | None = None) -> dict[str, str]:
        """The only variables the learner's process sees."""
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": HOME if self.enabled else tempfile.gettempdir(),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1",
            "PYTHONUNBUFFERED": "1",
            "WSLAB_GRADING": "1",
            "MPLBACKEND": "Agg",
        }
        package = package or _wslab_dir()
        env["PYTHONPATH"] = str(package.parent)  # the folder above the grader's own wslab, installed or not
        return env

    def start(self, command: list[str]) -> subprocess.Popen[bytes]:
        """Start ``command`` in the sandbox, its standard input and output the channel's pipes."""
        if self.enabled and self.cgroups is None:
            self.cgroups = Cgroups(self.limits)
        limits = self.limits
        ulimits = f"ulimit -t {limits.cpu_seconds} && ulimit -f {limits.file_mb * 2048}"
        if not (self.cgroups and self.cgroups.enabled):
            ulimits += f" && ulimit -v {limits.memory_mb * 1024}"
        join = self.cgroups.join_command() if self.cgroups and self.cgroups.enabled else ""
        script = " && ".join(part for part in (join, ulimits) if part) + ' && exec "$@"'
        argv = ["/bin/sh", "-c", script, "sh", *self.argv(command)]
        self._stderr.clear()
        self._stderr_size = 0
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.environment() if not self.enabled else {"PATH": "/usr/bin:/bin"},
            cwd=tempfile.gettempdir() if not self.enabled else None,
            start_new_session=True,
        )
        self._stderr_thread = threading.Thread(target=self._drain, args=(self.process,), daemon=True)
        self._stderr_thread.start()
        return self.process

    def _drain(self, process: subprocess.Popen[bytes]) -> None:
        """Read the learner's standard error to its end, keeping only the last :data:`STDERR_TAIL` bytes."""
        stream = process.stderr
        assert stream is not None
        while chunk := stream.read1(65536):  # type: ignore[attr-defined]
            self._stderr.append(chunk)
            self._stderr_size += len(chunk)
            while self._stderr_size - len(self._stderr[0]) >= STDERR_TAIL:
                self._stderr_size -= len(self._stderr.popleft())

    def stderr_tail(self) -> str:
        """The end of what the learner's process wrote on standard error (at most :data:`STDERR_TAIL` bytes)."""
        return b"".join(self._stderr)[-STDERR_TAIL:].decode("utf-8", "replace")

    def out_of_memory(self) -> bool:
        return bool(self.cgroups and self.cgroups.out_of_memory())

    def kill(self) -> None:
        """End the learner's process and everything it started (the whole sandbox), then wait for it."""
        process = self.process
        if process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
        if self.cgroups is not None:
            self.cgroups.kill_all()
        if self._stderr_thread is not None:
            self._stderr_thread.join(2)

    def close(self) -> None:
        """Kill what runs and remove the cgroups and temporary files."""
        self.kill()
        if self.cgroups is not None:
            self.cgroups.remove()
            self.cgroups = None
        self._etc.cleanup()
