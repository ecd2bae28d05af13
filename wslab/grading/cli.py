"""``wslab grade SUBMISSION... --out gradebook.csv --feedback DIR [-j N]``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from wslab.core.errors import GradingRefused
from wslab.grading.grader import Limits, Outcome, expand, grade, write_feedback, write_gradebook

__all__ = ["add_arguments", "run", "Progress"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                        help="notebooks to grade, or directories holding them")
    parser.add_argument("--out", default="gradebook.csv", help="the gradebook CSV (default: gradebook.csv)")
    parser.add_argument("--feedback", default="feedback", metavar="DIR",
                        help="a Markdown feedback file per submission goes here (default: feedback/)")
    parser.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                        help="submissions graded at once (default: 1)")
    parser.add_argument("--cell-timeout", type=float, default=Limits.cell, metavar="S",
                        help=f"seconds one notebook cell may run (default: {Limits.cell:g})")
    parser.add_argument("--check-timeout", type=float, default=None, metavar="S",
                        help="seconds one check may run (default: each check's own, 3 to 6 s)")
    parser.add_argument("--timeout", type=float, default=Limits.submission, metavar="S",
                        help=f"seconds one submission may take in all (default: {Limits.submission:g})")
    parser.add_argument("--memory", type=int, default=Limits.memory_mb, metavar="MB",
                        help=f"memory one submission may use, all its processes together (default: {Limits.memory_mb} "
                             "MiB)")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="grade without the sandbox (each submission still runs apart from the checks, but can "
                             "read and write what you can): only for submissions you trust, where no sandbox can "
                             "be made (macOS, no user namespaces)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


class Progress:
    """A progress bar on a terminal, one line per submission otherwise (both on stderr)."""

    def __init__(self, stream: TextIO, total: int, width: int = 30) -> None:
        self.stream = stream
        self.total = total
        self.width = width
        self.tty = stream.isatty()
        self.started = time.monotonic()

    def __call__(self, done: int, total: int, outcome: Outcome) -> None:
        filled = self.width * done // max(total, 1)
        bar = "#" * filled + "-" * (self.width - filled)
        what = f"{outcome.name}: {outcome.total}/{outcome.max_points} {outcome.status}"
        line = f"[{bar}] {done}/{total} {what}"
        if self.tty:
            self.stream.write("\r\033[K" + line[:200])
            if done == total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def run(args: argparse.Namespace) -> int:
    for name, value in (("--jobs", args.jobs), ("--cell-timeout", args.cell_timeout), ("--timeout", args.timeout),
                        ("--memory", args.memory)):
        if value <= 0:
            print(f"wslab grade: {name} must be > 0", file=sys.stderr)
            return 2
    if args.check_timeout is not None and args.check_timeout <= 0:
        print("wslab grade: --check-timeout must be > 0", file=sys.stderr)
        return 2
    files = expand(args.submissions)
    if not files:
        print("wslab grade: no notebooks found in the paths given", file=sys.stderr)
        return 2
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        print(f"wslab grade: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    # Fail before grading, not after: the gradebook and feedback places must be writable.
    try:
        Path(args.out).resolve().parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).touch()
        Path(args.feedback).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"wslab grade: cannot write {exc.filename or args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    limits = Limits(cell=args.cell_timeout, check=args.check_timeout, submission=args.timeout, memory_mb=args.memory)
    progress = None if args.quiet else Progress(sys.stderr, len(files))
    started = time.monotonic()
    try:
        outcomes = grade(files, jobs=args.jobs, limits=limits, progress=progress, sandbox=not args.no_sandbox)
    except GradingRefused as exc:
        print(f"wslab grade: {exc}", file=sys.stderr)
        return 2
    write_gradebook(outcomes, args.out)
    write_feedback(outcomes, args.feedback)
    full = sum(1 for o in outcomes if o.max_points and o.total == o.max_points)
    trouble = sum(1 for o in outcomes if o.status != "ok")
    print(
        f"graded {len(outcomes)} submission(s) in {time.monotonic() - started:.1f} s: "
        f"{full} with full marks, {trouble} with problems (see the status column); "
        f"gradebook {args.out}, feedback in {args.feedback}/",
        file=sys.stderr,
    )
    return 0
