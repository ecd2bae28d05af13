"""What the grader's sandbox costs: a class of 30 graded with it and without it, side by side.

    python -m bench.grading              # 3 rounds (about 12 minutes on 2 cores)
    python -m bench.grading --rounds 1   # one round, for a quick look

From the repository root, on Linux with bubblewrap installed. Each round grades
the same class twice with ``wslab grade -j 2``: once in the sandbox (the
default) and once with ``--no-sandbox`` (the same two processes per submission,
nothing between the learner's code and the machine), the order swapped from one
round to the next. Because this machine is shared and its speed drifts, the cost
is the ratio of the two times *within* a round; the report shows each round's
ratio and their median, and the wall times behind them. (CPU time is not
reported: the sandboxed processes are reaped inside their own PID namespace,
so ``wait4`` would not count them and the two columns would not compare.)

The class (:func:`build_class`) is the one ``tests/grading/test_grader.py``
grades: 12 good submissions (the solutions), 11 realistic wrong ones and 7 that
hang, from the grader's corpus. Both modes must give every submission the status
the corpus expects, or the round is reported as wrong and the command exits 1:
a fast grader that grades wrongly measures nothing.

Every run of ``wslab grade`` is bounded (``RUN_LIMIT`` seconds) and stopped with
its whole process group on the way out, Ctrl-C included. Raw results go to
``bench/results/grading-*.json`` (ignored by git).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["CLASS_HANGS", "CLASS_WRONG", "RUN_LIMIT", "build_class", "grade_class", "main"]

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "submissions"

RUN_LIMIT = 600.0
"""Seconds one ``wslab grade`` of the class may take before it is stopped and the round reported as failed."""

CLASS_HANGS = [
    "chat-sleeps-in-cell.ipynb",
    "chat-listens-forever.ipynb",
    "chat-bare-except-loop.ipynb",
    "chat-infinite-loop.ipynb",
    "reconnect-blocks-with-time-sleep.ipynb",
    "basics-awaits-forever.ipynb",
    "chat-holds-the-gil.ipynb",
]
"""Submissions of the corpus that hang: each costs the grader a time limit."""

CLASS_WRONG = [
    "basics-swallows-bad-json.ipynb",
    "chat-typing-never-cleared.ipynb",
    "chat-typing-every-keystroke.ipynb",
    "chat-never-awaits.ipynb",
    "chat-awaits-forever.ipynb",
    "chat-deleted-cell.ipynb",
    "chat-syntax-error.ipynb",
    "readystate-drops-offline.ipynb",
    "reconnect-never-awaits.ipynb",
    "reconnect-one-handler-breaks-all.ipynb",
    "not-a-notebook.ipynb",
]
"""Realistic wrong submissions of the corpus, a broken file among them."""


def build_class(folder: Path, students: int = 30) -> dict[str, str]:
    """Copy a class into ``folder`` as ``studentNN_<name>.ipynb``; return each file's expected status.

    The hangs and the wrong ones first, then the solutions, in turn, up to ``students``.
    """
    expected_of = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
    solutions = sorted((ROOT / "solutions").glob("*.ipynb"))
    chosen = [(CORPUS / name, expected_of[name]["status"]) for name in CLASS_HANGS + CLASS_WRONG]
    chosen += [(solutions[i % len(solutions)], "ok") for i in range(max(0, students - len(chosen)))]
    expected: dict[str, str] = {}
    for n, (source, status) in enumerate(chosen[:students], start=1):
        target = f"student{n:02d}_{source.name}"
        shutil.copy(source, folder / target)
        expected[target] = status
    return expected


def grade_class(folder: Path, out: Path, sandbox: bool, jobs: int = 2) -> dict[str, Any]:
    """Grade ``folder`` with ``wslab grade`` in a process of its own; its wall seconds and statuses.

    Raises ``TimeoutError`` past :data:`RUN_LIMIT`.
    """
    command = [sys.executable, "-m", "wslab.cli", "grade", str(folder), "--out", str(out), "--quiet", "-j", str(jobs)]
    if not sandbox:
        command.append("--no-sandbox")
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        status = _wait(process, RUN_LIMIT)
    finally:
        if process.returncode is None:
            _stop(process)
    wall = time.monotonic() - started
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if status not in (0, 1):
        raise RuntimeError(f"wslab grade exited with status {status}: {stderr[-2000:]}")
    with out.open(newline="", encoding="utf-8") as f:
        statuses = {row["submission"]: row["status"] for row in csv.DictReader(f) if row["submission"]}
    return {"wall_s": wall, "statuses": statuses}


def _wait(process: subprocess.Popen[bytes], limit: float) -> int:
    try:
        return process.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"wslab grade took longer than {limit:.0f} s") from None


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


def _round(index: int, expected: dict[str, str], folder: Path, jobs: int) -> dict[str, Any]:
    order = [True, False] if index % 2 == 0 else [False, True]
    row: dict[str, Any] = {"round": index + 1, "order": ["sandbox" if s else "no-sandbox" for s in order]}
    for sandbox in order:
        name = "sandbox" if sandbox else "no_sandbox"
        result = grade_class(folder, folder.parent / f"{name}-{index}.csv", sandbox, jobs)
        wrong = {k: (v, expected.get(k)) for k, v in result.pop("statuses").items() if v != expected.get(k)}
        row[name] = result | {"wrong": wrong}
        print(f"  round {index + 1}, {name.replace('_', '-'):10}: {result['wall_s']:6.1f} s"
              + (f", {len(wrong)} WRONG: " + "; ".join(f"{k} {got} (expected {want})" for k, (got, want) in
                                                      sorted(wrong.items())) if wrong else ""), flush=True)
    row["ratio"] = row["sandbox"]["wall_s"] / row["no_sandbox"]["wall_s"]
    return row


def report(rounds: list[dict[str, Any]], students: int, jobs: int) -> str:
    """The Markdown table ``docs/grading.md`` quotes: each round, then the median ratio."""
    lines = [
        f"A class of {students}, `wslab grade -j {jobs}`, {len(rounds)} round(s), order swapped each round:",
        "",
        "| round | sandbox | --no-sandbox | ratio |",
        "|---|---|---|---|",
    ]
    for r in rounds:
        s, n = r["sandbox"], r["no_sandbox"]
        lines.append(f"| {r['round']} | {s['wall_s']:.1f} s | {n['wall_s']:.1f} s | {r['ratio']:.2f} |")
    lines += ["", f"Median ratio, sandbox to no sandbox: **{statistics.median(r['ratio'] for r in rounds):.2f}**"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.grading", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both modes (default 3)")
    parser.add_argument("--students", type=int, default=30, help="size of the class (default 30)")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="submissions graded at once (default 2)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.students < 1 or args.jobs < 1:
        parser.error("--rounds, --students and --jobs must be at least 1")
    from wslab.grading.sandbox import unavailable

    if (why := unavailable()) is not None:
        print(f"cannot measure the sandbox here: {why}", file=sys.stderr)
        return 2
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="wslab-bench-grading-") as scratch:
        folder = Path(scratch) / "class"
        folder.mkdir()
        expected = build_class(folder, args.students)
        try:
            for index in range(args.rounds):
                rounds.append(_round(index, expected, folder, args.jobs))
        except KeyboardInterrupt:
            print("stopped: reporting the rounds that finished", file=sys.stderr)
    if not rounds:
        return 1
    text = report(rounds, args.students, args.jobs)
    print("\n" + text)
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (results / f"grading-{stamp}.json").write_text(json.dumps(rounds, indent=2), encoding="utf-8")
    wrong = any(r[m]["wrong"] for r in rounds for m in ("sandbox", "no_sandbox"))
    if wrong:
        print("some submissions were graded with a status the corpus does not expect: see the JSON", file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
