"""The grader's sandbox, for real: bubblewrap, its namespaces and this machine's cgroups.

Each promise of :mod:`wslab.grading.sandbox` is a test. One sandboxed process
probes its own walls (the module fixture ``inside``) and the first tests read its
report: who it runs as, what it sees and may write, which processes it can reach,
its environment and its limits. A checker started with :func:`checker_prefix`
starts a sandbox of its own (``in_checker``): neither reaches this machine's
loopback or anything off it; the learner reaches its checker. Then each cgroup limit is hit once, a daemon
that escaped its process group is killed with its sandbox, and the cgroups go
away with :meth:`Sandbox.close` or :meth:`Cgroups.sweep`.

Every wait is bounded; the few polls wait for what sends no event (the kernel
ending a PID namespace's processes) and say so.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import wslab
from support import ROOT, wait_until
from support.hostile import processes_with
from wslab.grading.sandbox import HOME, STDERR_TAIL, UID, Cgroups, Sandbox, SandboxLimits, checker_prefix, unavailable

pytestmark = pytest.mark.usefixtures("sandbox")

LIMITS = SandboxLimits(memory_mb=256, processes=32, cpu_seconds=120, file_mb=8)
"""Small limits, so that the probe can tell them from the defaults."""

SECRET = f"grader-secret-{uuid.uuid4().hex[:8]}"
"""A variable of the grader's environment while the probe runs: the learner must not see it."""

PROBE = r"""
import errno, importlib.util, json, os, resource, sys
args = json.loads(sys.argv[1])

def write(path):
    try:
        with open(path, "w") as f:
            f.write("written by the learner")
        return "written"
    except OSError as exc:
        return errno.errorcode[exc.errno]

def signal0(pid):
    try:
        os.kill(pid, 0)
        return "reached"
    except OSError as exc:
        return errno.errorcode[exc.errno]

def tty():
    try:
        open("/dev/tty").close()
        return "opened"
    except OSError as exc:
        return errno.errorcode[exc.errno]

status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
print(json.dumps({
    "env": dict(os.environ),
    "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid()],
    "capabilities": [int(status[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")],
    "cwd": os.getcwd(),
    "tty": tty(),
    "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "signal_grader": signal0(args["grader_pid"]),
    "exists": {p: os.path.exists(p) for p in args["look"]},
    "hidden_checks": importlib.util.find_spec("wslab_instructor") is not None,
    "wslab": importlib.util.find_spec("wslab").origin,
    "writes": {p: write(p) for p in args["write"]},
    "rlimits": {name: resource.getrlimit(getattr(resource, name))[0]
                for name in ("RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_AS")},
}))
"""
"""What a sandboxed process sees of its world, as one line of JSON (run with ``python -c``)."""


@pytest.fixture(scope="module")
def cgroups_here() -> None:
    """This machine lets this user make the sandbox's cgroups; else skip, saying why (in CI: fail)."""
    probe = Cgroups(SandboxLimits())
    probe.remove()
    if probe.note:
        if os.environ.get("CI"):  # CI runs as root on a machine with writable cgroups: a skip would hide a loss
            pytest.fail(f"the sandbox's cgroups cannot be made in CI: {probe.note}")
        pytest.skip(probe.note)


def _read(process: subprocess.Popen[bytes], timeout: float, *, line: bool) -> str:
    """What ``process`` writes on its standard output: the next line, or all of it to its end; at most
    ``timeout`` seconds. (Its standard error is the sandbox's to drain: not read here.)"""
    assert process.stdout is not None
    fd, data = process.stdout.fileno(), b""
    deadline = time.monotonic() + timeout
    while not (line and data.endswith(b"\n")):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise TimeoutError(f"the sandbox said nothing more within {timeout:g} s (so far: {data[-200:]!r})")
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", "replace")


def _line(process: subprocess.Popen[bytes], timeout: float = 30.0) -> str:
    """The next line ``process`` writes on its standard output, waiting at most ``timeout`` seconds."""
    return _read(process, timeout, line=True)


def _run(box: Sandbox, code: str, *args: str, timeout: float = 30.0) -> tuple[int, str]:
    """Run ``python -c code args`` in ``box`` to its end: its status and standard output."""
    process = box.start([sys.executable, "-c", code, *args])
    try:
        out = _read(process, timeout, line=False)
        status = process.wait(timeout)
    finally:
        box.kill()
    return status, out


# ---------------------------------------------------------------------- what the learner's process sees


@pytest.fixture(scope="module")
def inside(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The probe's report from inside a sandbox, and what the host saw meanwhile."""
    outside = tmp_path_factory.mktemp("outside")
    host_file = outside / "gradebook.csv"
    host_file.write_text("the grader's file")
    stray = f"wslab-probe-{uuid.uuid4().hex}"
    package = Path(wslab.__file__).resolve().parent
    args = {
        "grader_pid": os.getpid(),
        "look": [*(str(ROOT / name) for name in ("solutions", "wslab_instructor", "tests", "exercises", "README.md")),
                 str(host_file), str(package / "grading" / "sandbox.py")],
        "write": [str(host_file), str(outside / "new.txt"), str(package / "planted.py"), str(Path(sys.prefix) / "x"),
                  "/etc/passwd", "/usr/planted", "/planted", f"/tmp/{stray}", f"{HOME}/{stray}"],
    }
    box = Sandbox(LIMITS)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("WSLAB_TEST_SECRET", SECRET)
            status, out = _run(box, PROBE, json.dumps(args))
        report: dict[str, Any] = json.loads(out)
        report |= {"status": status, "stderr": box.stderr_tail(), "oom": box.out_of_memory(), "host_file": host_file,
                   "stray": stray, "package": package, "environment": box.environment(),
                   "cgroups": box.cgroups is not None and box.cgroups.enabled}
        yield report
    finally:
        box.close()


def test_the_probe_ran_to_its_end_within_its_limits(inside: dict[str, Any]) -> None:
    assert inside["status"] == 0, inside["stderr"]
    assert not inside["oom"]


def test_the_learner_is_nobody_in_a_user_namespace_with_every_capability_dropped(inside: dict[str, Any]) -> None:
    assert inside["ids"] == [UID] * 4
    assert inside["capabilities"] == [0] * 5
    assert inside["tty"] != "opened"  # a new session: no terminal to type into
    assert inside["cwd"] == HOME


def test_its_environment_is_the_few_fixed_variables_and_nothing_of_the_graders(inside: dict[str, Any]) -> None:
    env = dict(inside["env"])
    assert env.pop("PWD") == HOME  # bubblewrap's --chdir sets it: the same for every learner
    assert env == inside["environment"]
    assert env["HOME"] == HOME and env["WSLAB_GRADING"] == "1"
    assert SECRET not in json.dumps(inside["env"]) and "WSLAB_TEST_SECRET" not in env
    assert env["PYTHONPATH"] == str(inside["package"].parent)


def test_it_cannot_see_or_signal_the_graders_processes(inside: dict[str, Any]) -> None:
    # Its own PID namespace: bubblewrap's init (1) and the probe (2), nothing of this machine.
    assert inside["pids"] == [1, 2]
    assert inside["signal_grader"] == "ESRCH"


def test_it_sees_python_and_wslab_but_no_solution_hidden_check_or_file_of_the_grader(inside: dict[str, Any]) -> None:
    exists = inside["exists"]
    package = inside["package"]
    assert exists[str(package / "grading" / "sandbox.py")] and Path(inside["wslab"]) == package / "__init__.py"
    assert inside["hidden_checks"] is False
    for hidden in ("solutions", "wslab_instructor", "tests", "exercises", "README.md"):
        assert exists[str(ROOT / hidden)] is False, hidden
    assert exists[str(inside["host_file"])] is False


def test_it_writes_only_to_its_own_private_home_and_tmp(inside: dict[str, Any]) -> None:
    writes = inside["writes"]
    stray = inside["stray"]
    assert writes[f"/tmp/{stray}"] == writes[f"{HOME}/{stray}"] == "written"
    # The grader's files are not there at all; Python, wslab, the system and the root itself are read-only.
    assert writes[str(inside["host_file"])] == writes[str(inside["host_file"].parent / "new.txt")] == "ENOENT"
    for path in (str(inside["package"] / "planted.py"), str(Path(sys.prefix) / "x"), "/etc/passwd", "/usr/planted",
                 "/planted"):
        assert writes[path] == "EROFS", path
    assert inside["host_file"].read_text() == "the grader's file"
    assert not (inside["host_file"].parent / "new.txt").exists()
    assert not (inside["package"] / "planted.py").exists()
    assert not (Path(tempfile.gettempdir()) / stray).exists()  # its /tmp was its own


def test_cpu_and_file_size_are_limited_per_process_and_memory_by_the_cgroup(inside: dict[str, Any]) -> None:
    memory = resource.RLIM_INFINITY if inside["cgroups"] else LIMITS.memory_mb << 20  # per process without cgroups
    assert inside["rlimits"] == {
        "RLIMIT_CPU": LIMITS.cpu_seconds, "RLIMIT_FSIZE": LIMITS.file_mb << 20, "RLIMIT_AS": memory,
    }


# ---------------------------------------------------------------------- the network: the checker's namespace

LEARNER = r"""
import errno, json, socket, sys

def connect(port, host="127.0.0.1"):
    try:
        socket.create_connection((host, port), timeout=2).close()
        return "connected"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc))

host_port, checker_port = int(sys.argv[1]), int(sys.argv[2])
reached = {"host": connect(host_port), "checker": connect(checker_port), "outside": connect(80, "10.255.255.1")}
print(json.dumps(reached))
"""
"""What a learner's process can connect to: this machine's listener, its checker's, an address off loopback."""

CHECKER = r"""
import errno, json, os, socket, sys
from wslab.grading.sandbox import Sandbox

def connect(port, host="127.0.0.1"):
    try:
        socket.create_connection((host, port), timeout=2).close()
        return "connected"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc))

host_port, host_file, learner = sys.argv[1], sys.argv[2], sys.argv[3]
own = socket.create_server(("127.0.0.1", 0))
box = Sandbox()
try:
    process = box.start([sys.executable, "-c", learner, host_port, str(own.getsockname()[1])])
    out, _ = process.communicate(timeout=30)
finally:
    box.close()
print(json.dumps({
    "ids": [os.geteuid(), os.getegid()],
    "interfaces": [name for _, name in socket.if_nameindex()],
    "host_file": open(host_file).read(),
    "host": connect(int(host_port)),
    "outside": connect(80, "10.255.255.1"),
    "learner": json.loads(out),
}))
"""
"""A checker's stand-in, run under :func:`checker_prefix`: it starts a sandbox as the checker does."""


@pytest.fixture(scope="module")
def in_checker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """What a process under checker_prefix(), and a sandbox it starts, could reach; and this machine's listener."""
    host_file = tmp_path_factory.mktemp("checker") / "spec.json"
    host_file.write_text("{}")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    try:
        done = subprocess.run([*checker_prefix(), sys.executable, "-c", CHECKER, str(listener.getsockname()[1]),
                               str(host_file), LEARNER],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-2000:]
        yield {**json.loads(done.stdout), "listener": listener}
    finally:
        listener.close()


def test_checker_prefix_keeps_the_files_and_user_and_gives_only_loopback(in_checker: dict[str, Any]) -> None:
    assert in_checker["ids"] == [os.geteuid(), os.getegid()]
    assert in_checker["host_file"] == "{}"
    assert in_checker["interfaces"] == ["lo"]
    assert in_checker["host"] == "ECONNREFUSED"  # its loopback is not this machine's
    assert in_checker["outside"] == "ENETUNREACH"  # and there is no route anywhere else


def test_the_learner_reaches_its_checker_on_loopback_and_nothing_else(in_checker: dict[str, Any]) -> None:
    assert in_checker["learner"] == {"host": "ECONNREFUSED", "checker": "connected", "outside": "ENETUNREACH"}
    listener: socket.socket = in_checker["listener"]
    with pytest.raises(BlockingIOError):
        listener.accept()  # nobody inside reached this machine's listener...
    with socket.create_connection(listener.getsockname(), timeout=5):
        select.select([listener], [], [], 5)
        listener.accept()[0].close()  # ...which was listening all along


# ---------------------------------------------------------------------- cgroups: memory and processes


@pytest.mark.usefixtures("cgroups_here")
def test_a_process_over_the_memory_limit_is_killed_and_the_sandbox_says_so() -> None:
    box = Sandbox(SandboxLimits(memory_mb=64))
    try:
        hog = "import sys\nx = b'x' * (256 << 20)\nprint('survived', len(x))"
        status, out = _run(box, hog)
        assert box.cgroups is not None and box.cgroups.enabled
        assert "survived" not in out and status != 0
        assert box.out_of_memory()
    finally:
        box.close()


FORK_BOMB = r"""
import errno, json, os, time
children = 0
error = ""
while children < 200:  # bounded: the limit is far lower
    try:
        pid = os.fork()
    except OSError as exc:
        error = errno.errorcode[exc.errno]
        break
    if pid == 0:
        os.close(1)
        time.sleep(30)
        os._exit(0)
    children += 1
print(json.dumps([children, error]), flush=True)
time.sleep(30)
"""


@pytest.mark.usefixtures("cgroups_here")
def test_the_process_limit_stops_a_fork_bomb_and_kill_ends_it() -> None:
    box = Sandbox(SandboxLimits(processes=12))
    try:
        process = box.start([sys.executable, "-c", FORK_BOMB])
        children, error = json.loads(_line(process))
        assert box.cgroups is not None
        pids = next(d for d in box.cgroups.dirs if "pids" in d.parts)
        assert error == "EAGAIN" and 0 < children < 12
        assert int((pids / "pids.current").read_text()) == 12  # the fork failed at the limit; nothing ended since
        box.kill()
        assert process.poll() is not None
        # SIGKILL is delivered and the namespace emptied by the kernel, which sends no event: poll, bounded.
        wait_until(lambda: not (pids / "cgroup.procs").read_text().split(), what="the fork bomb's end")
    finally:
        box.close()


# ---------------------------------------------------------------------- kill, close, sweep

DAEMON = r"""
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv("/bin/sh", ["sh", "-c", f"echo ready; exec sleep {sys.argv[1]} </dev/null >/dev/null 2>&1"])
    os._exit(0)
os.wait()
time.sleep(60)
"""
"""A learner's process that leaves a double-forked, ``setsid`` daemon (``sleep MARKER``) and waits."""


def _stat(pid: str) -> list[str]:
    """``/proc/PID/stat`` after the command's name: state, ppid, pgrp, session..."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def _no_cgroups(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(self: Cgroups, name: str) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(Cgroups, "_make", refused)


@pytest.mark.parametrize("cgroups", [True, False], ids=["cgroups", "pid-namespace-only"])
def test_kill_ends_every_process_of_the_sandbox_a_double_forked_daemon_included(
    cgroups: bool, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    if cgroups:
        request.getfixturevalue("cgroups_here")
    else:
        _no_cgroups(monkeypatch)
    marker = f"4243.{os.getpid()}{int(cgroups)}"
    box = Sandbox(LIMITS)
    try:
        process = box.start([sys.executable, "-c", DAEMON, marker])
        assert _line(process) == "ready\n"
        # Only the daemon has "sleep MARKER" on its command line (first its shell's, then sleep's own).
        daemons = [found.partition(":")[0] for found in processes_with(f"sleep {marker}")]
        assert daemons, "the daemon is not running"
        for pid in daemons:  # it left the process group kill() signals: only the walls can end it
            assert int(_stat(pid)[2]) != process.pid
        assert box.cgroups is not None and box.cgroups.enabled == cgroups
        if cgroups:
            procs = {p for d in box.cgroups.dirs for p in (d / "cgroup.procs").read_text().split()}
            assert set(daemons) <= procs
        box.kill()
        assert process.poll() is not None
        dirs = box.cgroups.dirs

        def all_gone() -> bool:
            return not processes_with(marker) and not any((d / "cgroup.procs").read_text().split() for d in dirs)

        # A SIGKILLed process, and the rest of a PID namespace whose first process died, end a moment later,
        # with no event this process could wait for: poll, bounded.
        wait_until(all_gone, what=f"the end of every process of the sandbox ({marker})")
    finally:
        box.close()


def test_without_cgroups_it_says_so_and_limits_memory_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_cgroups(monkeypatch)
    box = Sandbox(LIMITS)
    try:
        status, out = _run(box, "import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0])")
        assert box.cgroups is not None and not box.cgroups.enabled and box.cgroups.dirs == []
        assert box.cgroups.note == "total memory and process limits are per process here (no cgroup: Permission denied)"
        assert (status, int(out)) == (0, LIMITS.memory_mb << 20)
        assert not box.out_of_memory()
    finally:
        box.close()


@pytest.mark.usefixtures("cgroups_here")
def test_close_kills_what_runs_and_removes_the_cgroups_and_files() -> None:
    box = Sandbox(LIMITS)
    process = box.start(["/bin/sleep", "60"])
    assert box.cgroups is not None
    dirs, etc = list(box.cgroups.dirs), Path(box._etc.name)
    assert len(dirs) == 2 and all(d.is_dir() for d in dirs) and etc.is_dir()
    box.close()
    assert process.poll() is not None
    assert box.cgroups is None
    assert not any(d.exists() for d in dirs) and not etc.exists()


@pytest.mark.usefixtures("cgroups_here")
def test_sweep_removes_the_empty_cgroups_of_checkers_that_are_gone_and_nothing_else() -> None:
    gone = subprocess.Popen(["true"])
    gone.wait(10)
    assert not Path(f"/proc/{gone.pid}").exists()
    mine = Cgroups(LIMITS)  # this process is alive: its cgroups stay
    assert mine.enabled
    leftovers = [d.parent / f"wslab-sandbox-{gone.pid}-1" for d in mine.dirs]  # its checker is gone: swept
    in_use = [d.parent / f"wslab-sandbox-{gone.pid}-2" for d in mine.dirs]  # gone too, but a process is left in it
    busy = None
    try:
        for folder in (*leftovers, *in_use):
            folder.mkdir()
        busy = subprocess.Popen(["/bin/sleep", "60"])
        for folder in in_use:
            (folder / "cgroup.procs").write_text(str(busy.pid))
        assert Cgroups.sweep() >= len(leftovers)
        assert not any(d.exists() for d in leftovers)
        assert all(d.is_dir() for d in (*mine.dirs, *in_use))  # alive, or still has a process
        busy.kill()
        busy.wait(10)
        # A killed process leaves its cgroup a moment after it is reaped, with no event: poll, bounded.
        wait_until(lambda: not any((d / "cgroup.procs").read_text().split() for d in in_use), what="an empty cgroup")
        Cgroups.sweep()
        assert not any(d.exists() for d in in_use)
    finally:
        if busy is not None and busy.poll() is None:
            busy.kill()
            busy.wait(10)
        for folder in (*leftovers, *in_use):
            if folder.exists():
                folder.rmdir()
        mine.remove()
    assert mine.dirs == []


# ---------------------------------------------------------------------- --no-sandbox, stderr, unavailable()


def test_without_the_sandbox_the_command_runs_as_it_is_with_the_same_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WSLAB_TEST_SECRET", SECRET)
    (tmp_path / "mine.txt").write_text("the grader's file")
    box = Sandbox(LIMITS, enabled=False)
    code = ("import json, os, resource, sys; print(json.dumps([dict(os.environ), os.getcwd(), os.getppid(), "
            "open(sys.argv[1]).read(), resource.getrlimit(resource.RLIMIT_AS)[0]]))")
    command = [sys.executable, "-c", code, str(tmp_path / "mine.txt")]
    try:
        assert box.argv(command) == command
        status, out = _run(box, code, str(tmp_path / "mine.txt"))
    finally:
        box.close()
    env, cwd, parent, text, memory = json.loads(out)
    assert status == 0 and box.cgroups is None
    env.pop("PWD", None)  # the shell that starts it may set it
    assert env == box.environment() and env["HOME"] == tempfile.gettempdir() and SECRET not in out
    assert cwd == tempfile.gettempdir()
    assert parent == os.getpid()  # no PID namespace...
    assert text == "the grader's file"  # ...and no walls around the files
    assert memory == LIMITS.memory_mb << 20  # the same limits, per process


def test_only_the_end_of_a_flood_on_stderr_is_kept() -> None:
    box = Sandbox(LIMITS)
    try:
        flood = "import sys\nfor _ in range(64):\n    sys.stderr.write('x' * 16384)\nsys.stderr.write('THE END')"
        status, _ = _run(box, flood)
        tail = box.stderr_tail()
    finally:
        box.close()
    assert status == 0
    assert tail.endswith("x" * 1000 + "THE END") and len(tail) == STDERR_TAIL


@pytest.fixture
def uncached() -> Iterator[None]:
    """unavailable() computed afresh in the test, and again after it."""
    unavailable.cache_clear()
    yield
    unavailable.cache_clear()


@pytest.mark.usefixtures("uncached")
def test_unavailable_says_why_and_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    assert unavailable() is None  # here, it can
    unavailable.cache_clear()
    with monkeypatch.context() as m:
        m.setattr(sys, "platform", "darwin")
        why = unavailable() or ""
        assert "needs Linux" in why and "--no-sandbox" in why
    unavailable.cache_clear()
    with monkeypatch.context() as m:
        m.setattr(shutil, "which", lambda name: None)
        why = unavailable() or ""
        assert why.startswith("bubblewrap is not installed") and "apt-get install bubblewrap" in why
    unavailable.cache_clear()
    refused = subprocess.CompletedProcess([], 1, "", "bwrap: No permissions to creat new namespace\n")
    with monkeypatch.context() as m:
        m.setattr(subprocess, "run", lambda *a, **k: refused)
        why = unavailable() or ""
        assert "(bwrap: No permissions to creat new namespace)" in why and "user namespaces" in why
        assert "--no-sandbox" in why
