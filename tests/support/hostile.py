"""Submissions that cheat or attack exercise 02, and how to find what they leave behind.

Shared by the hostile-learner suite (``tests/e2e/test_hostile_learners.py``), the checker's
tests and the sandbox's: :data:`ATTACKS` (one attack per name, added to an unsolved exercise 02
by :func:`with_attack`), the secret and the marker the attacks look for or leave, and the
process and cgroup probes that prove nothing an attack started survives.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from support import ROOT

__all__ = ["ATTACKS", "HIDDEN_LINE", "MARKER", "OURS", "SECRET", "none_left", "notebook", "orphaned",
           "processes_with", "sandbox_cgroups", "with_attack"]

SECRET = "grader-secret-0f3c9a"
"""An environment variable of the grader's: no learner may see it."""

MARKER = f"4242.{os.getpid()}"
"""What every process an attack leaves behind has on its command line (``sleep 4242.PID``: this run's own)."""

OURS = f"{sys.executable} -m wslab.grading."
"""The start of the command line of this run's checkers and learner processes (not another checkout's)."""

HIDDEN_LINE = 'for state, event in ((OPEN, "open"), (CLOSED, "open"), (CLOSING, "open"), (OPEN, "explode")):'
"""A line of a hidden check of exercise 02 (wslab_instructor/checks/readystate.py); its title and hint are
feedback on purpose, its code is not."""


def notebook(name: str) -> dict[str, Any]:
    return json.loads((ROOT / name).read_text(encoding="utf-8"))


def with_attack(attack: str, *, answer: str | None = None, cell_id: str | None = None) -> dict[str, Any]:
    """The released exercise 02 (unsolved), with ``attack`` as a code cell before the check cell."""
    nb = copy.deepcopy(notebook("exercises/02-readystate.ipynb"))
    cells = nb["cells"]
    cell = {"cell_type": "code", "execution_count": None, "id": cell_id or "attack", "metadata": {}, "outputs": [],
            "source": textwrap.dedent(attack).strip("\n").splitlines(keepends=True)}
    cells.insert(len(cells) - 1, cell)
    if answer is not None:
        cells.insert(len(cells) - 1, {**cell, "id": "answer", "source": textwrap.dedent(answer).splitlines(True)})
    return nb


ATTACKS: dict[str, str] = {
    # --- patching the checker in memory
    "patches-the-checker": """
        import json, sys
        import wslab.grading.runner as runner, wslab.grading.registry as registry
        runner._classify = lambda check, exc: ("pass", "")
        runner.run_check = lambda *args, **kwargs: None
        for ex in registry.exercises():
            ex.checks.clear()
        json.dumps = lambda *a, **k: '{"event": "check", "name": "state_names", "status": "pass"}'
        main = sys.modules["__main__"]
        for name in dir(main):
            if "report" in name.lower():
                setattr(main, name, lambda **event: None)
    """,
    # --- walking the stack for the check's expected values
    "walks-the-stack": """
        import sys

        def state_name(state):
            frame = sys._getframe(1)
            while frame is not None:
                for value in list(frame.f_locals.values()):
                    if isinstance(value, dict) and value.get(1) == "OPEN":
                        return value[state]
                frame = frame.f_back
            raise NotImplementedError("nothing to copy")

        def next_state(state, event):
            for value in sys._getframe(1).f_locals.values():
                if isinstance(value, list) and value and isinstance(value[0], tuple) and len(value[0]) == 3:
                    return dict(((s, e), w) for s, e, w in value)[(state, event)]
            raise NotImplementedError("nothing to copy")
    """,
    # --- forging the result channel, then leaving
    "forges-the-channel": """
        import os
        lines = b''.join(
            b'{"event": "check", "name": "%s", "status": "pass", "message": ""}\\n' % n for n in
            (b"state_names", b"transitions", b"impossible_events", b"outbox_sends_when_open")
        ) + b'{"event": "done"}\\n' + b''.join(b'{"re": %d, "ok": "CONNECTING"}\\n' % i for i in range(1, 200))
        for fd in os.listdir("/proc/self/fd"):
            try:
                os.write(int(fd), lines)
            except OSError:
                pass

        def state_name(state):
            for fd in os.listdir("/proc/self/fd"):
                try:
                    os.write(int(fd), b''.join(b'{"re": %d, "ok": "OPEN"}\\n' % i for i in range(1, 500)))
                except OSError:
                    pass
            os._exit(0)
    """,
    # --- signal handlers that forge, and a SIGALRM handler that never stops
    "replaces-signal-handlers": """
        import os, signal
        def forge(*_):
            os.write(1, b'{"event": "check", "name": "state_names", "status": "pass"}\\n')
        signal.signal(signal.SIGALRM, forge)
        signal.signal(signal.SIGUSR1, forge)
        os.kill(os.getpid(), signal.SIGUSR1)
        import gc
        gc.collect = forge
    """,
    # --- copying the solution or the hidden checks
    "reads-the-solution": f"""
        import json, pathlib
        name = "02-readystate.ipynb"
        candidates = [pathlib.Path({str(ROOT)!r}, "solutions", name), pathlib.Path("solutions", name),
                      pathlib.Path("..", "solutions", name)]
        nb = json.loads(next(p for p in candidates if p.exists()).read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                exec("".join(cell["source"]))
    """,
    "imports-the-hidden-checks": """
        import wslab_instructor.checks.readystate as hidden
        raise SystemExit(hidden.__file__)
    """,
    # --- signals to the grader, the checker and siblings; the process group
    "kills-everyone": """
        import os, signal
        for target in (os.getppid(), 0, -1):
            try:
                os.kill(target, signal.SIGKILL) if target > 0 else os.killpg(os.getpgid(0), signal.SIGKILL)
            except OSError:
                pass
        for pid in range(2, 4096):
            try:
                os.kill(pid, signal.SIGSTOP)
            except OSError:
                pass
    """,
    # --- escaping the process group: a double-forked daemon that outlives the grader
    "leaves-a-daemon": f"""
        import os, subprocess
        subprocess.Popen(["/bin/sleep", "{MARKER}"], start_new_session=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv("/bin/sleep", ["sleep", "{MARKER}"])
            os._exit(0)
    """,
    # --- tampering with another notebook, the gradebook and feedback (their paths filled in by the test)
    "tampers-with-files": """
        import os, pathlib
        for path in TARGETS:
            try:
                pathlib.Path(path).write_text("tampered")
            except OSError:
                pass
            try:
                os.symlink("/etc/passwd", path + ".lnk")
            except OSError:
                pass
    """,
    # --- exfiltration into feedback: the grader's environment, a hidden check, the honest learner's code
    "exfiltrates": """
        import os, pathlib
        loot = [repr(dict(os.environ))]
        for path in TARGETS:
            try:
                loot.append(pathlib.Path(path).read_text()[:2000])
            except OSError as exc:
                loot.append(str(exc))

        def state_name(state):
            raise RuntimeError(" | ".join(loot))
    """,
    # --- Markdown injection: a second score line, a heading, a link
    "injects-markdown": """
        def state_name(state):
            raise ValueError("nope\\n- Score: **9/9**\\n# Feedback: graded by hand\\n[click](http://evil.example)")
    """,
    # --- memory spread over processes (each under the limit, together far over it)
    "spreads-memory": """
        import subprocess, sys
        hog = "x = bytearray(700 * 1024 * 1024); import time; time.sleep(30)"
        children = [subprocess.Popen([sys.executable, "-c", hog]) for _ in range(3)]
        for child in children:
            child.wait()
    """,
    # --- floods: 300 MB on standard error, 300 MB without a newline on every descriptor
    "floods-output": """
        import os, sys
        chunk = b"x" * (1 << 20)
        for _ in range(300):
            try:
                os.write(2, chunk)
            except OSError:
                break
        for fd in os.listdir("/proc/self/fd"):
            if fd in ("0", "1", "2"):
                continue
            try:
                for _ in range(300):
                    os.write(int(fd), chunk)
            except OSError:
                pass
    """,
    # --- a fork bomb
    "forks-without-end": """
        import os
        children = 0
        while children < 100000:
            try:
                if os.fork() == 0:
                    import time; time.sleep(30); os._exit(0)
                children += 1
            except OSError:
                break
    """,
    # --- hangs that swallow everything
    "hangs-for-ever": """
        import time
        while True:
            try:
                time.sleep(1)
            except BaseException:
                pass
    """,
}


def processes_with(text: str) -> list[str]:
    """``pid: command line`` of every process whose command line holds ``text`` (this test's own excepted)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if text in line and int(entry.name) != os.getpid():
                found.append(f"{entry.name}: {line[:200]}")
    return found


def none_left(text: str, within: float = 5.0) -> list[str]:
    """The processes still holding ``text`` once ``within`` seconds passed (the kernel ends a PID namespace's
    processes a moment after its first process dies)."""
    deadline = time.monotonic() + within
    while (left := processes_with(text)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def sandbox_cgroups() -> list[Path]:
    return [p for p in Path("/sys/fs/cgroup").glob("*/**/wslab-sandbox-*") if p.is_dir()]


def orphaned(cgroups: list[Path]) -> list[Path]:
    """The sandbox cgroups whose checker (the pid in ``wslab-sandbox-PID-N``) has ended: a leak. Those of a
    checker still running belong to another grading run on this machine (a parallel test), not to us."""
    return [p for p in cgroups if not Path(f"/proc/{p.name.split('-')[2]}").exists()]
