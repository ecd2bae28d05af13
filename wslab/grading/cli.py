"""``wslab grade SUBMISSION... --out gradebook.csv --feedback DIR [-j N] [--format F] [--resume]``.

Exit statuses:

* 0: every submission graded, and the gradebook and every feedback file written;
* 1: grading finished, but something the instructor needs is missing: a file
  could not be written (the state file kept the results: ``--resume`` writes
  them), or, with ``--format canvas|moodle``, some submissions have no place in
  the gradebook (no student id, or no exercise);
* 2: refused before grading (bad arguments, nothing to grade, a place that
  cannot be written, a state file that cannot be resumed from);
* 130: interrupted (Ctrl-C): what was graded is written; ``--resume`` continues.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from wslab.core.errors import GradingRefused
from wslab.grading.feedback import one_line
from wslab.grading.gradebook import CANVAS_ID_COLUMNS, FORMATS, compile_id_pattern
from wslab.grading.grader import Limits, Outcome, display_names, expand, grade, refusal
from wslab.grading.outputs import OutputError, Outputs, Summary, state_path

__all__ = ["add_arguments", "run", "Progress"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                        help="notebooks to grade, or directories holding them")
    parser.add_argument("--out", default="gradebook.csv",
                        help="the gradebook, rewritten as each submission finishes (default: gradebook.csv); "
                             "its state file, for --resume, is beside it: OUT.state.jsonl")
    parser.add_argument("--feedback", default="feedback", metavar="DIR",
                        help="a Markdown and an HTML feedback file per submission go here (default: feedback/)")
    parser.add_argument("--format", choices=FORMATS, default="csv",
                        help="csv: a row per submission, a column per check; canvas: Canvas's gradebook import; "
                             "moodle: Moodle's CSV grade import (default: csv)")
    parser.add_argument("--resume", action="store_true",
                        help="take back what OUT.state.jsonl already graded from the same bytes, grade the rest")
    parser.add_argument("--id-pattern", metavar="REGEX", default=None,
                        help="where the student id is in a submission's path relative to the folder graded: a "
                             "regular expression with a group (?P<id>...) (default: the first folder, or what "
                             "comes before the first _ of the file name); else metadata.wslab.student")
    parser.add_argument("--canvas-id", choices=sorted(CANVAS_ID_COLUMNS), default="sis-login-id",
                        help="with --format canvas, the column the student id goes in (default: sis-login-id)")
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
    """A progress bar on a terminal, one line per submission otherwise (both on stderr).

    Submission names are shown with control characters made spaces, so a file
    name cannot send escape sequences to the instructor's terminal.
    """

    def __init__(self, stream: TextIO, total: int, width: int = 30) -> None:
        self.stream = stream
        self.total = total
        self.width = width
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.open_line = False

    def __call__(self, done: int, total: int, outcome: Outcome) -> None:
        filled = self.width * done // max(total, 1)
        bar = "#" * filled + "-" * (self.width - filled)
        what = f"{one_line(outcome.name)}: {outcome.total}/{outcome.max_points} {outcome.status}"
        line = f"[{bar}] {done}/{total} {what}"
        if self.tty:
            self.stream.write("\r\033[K" + line[:200])
            self.open_line = done != total
            if done == total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def say(self, message: str) -> None:
        """A message on a line of its own, under the bar."""
        if self.open_line:
            self.stream.write("\r\033[K")
        self.stream.write(message + "\n")
        self.stream.flush()


def _refuse(message: str) -> int:
    print(f"wslab grade: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    for name, value in (("--jobs", args.jobs), ("--cell-timeout", args.cell_timeout), ("--timeout", args.timeout),
                        ("--memory", args.memory)):
        if value <= 0:
            return _refuse(f"{name} must be > 0")
    if args.check_timeout is not None and args.check_timeout <= 0:
        return _refuse("--check-timeout must be > 0")
    pattern = None
    if args.id_pattern is not None:
        try:
            pattern = compile_id_pattern(args.id_pattern)
        except ValueError as exc:
            return _refuse(f"--id-pattern {args.id_pattern!r}: {exc}")
    files = expand(args.submissions)
    if not files:
        return _refuse("no notebooks found in the paths given")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        return _refuse(f"no such file: {', '.join(missing)}")
    problem = refusal(sandbox=not args.no_sandbox)
    if problem is not None:
        return _refuse(problem)
    limits = Limits(cell=args.cell_timeout, check=args.check_timeout, submission=args.timeout, memory_mb=args.memory)
    log = Progress(sys.stderr, len(files))
    try:  # refused here, before anything is graded
        outputs = Outputs(args.out, args.feedback, limits=limits, format=args.format, id_pattern=pattern,
                          id_column=args.canvas_id, resume=args.resume, report=lambda m: log.say(f"wslab grade: {m}"))
    except OutputError as exc:
        return _refuse(str(exc))
    started = time.monotonic()
    try:
        todo = outputs.begin(files, display_names(files))
        if args.resume:
            state = outputs.state
            if not state.found:
                log.say(f"wslab grade: nothing to resume in {state.path}: grading every submission")
            else:
                log.say(f"wslab grade: resuming: {outputs.summary.reused} of {len(files)} submission(s) already "
                        f"graded from the same bytes, {len(todo)} to grade")
            if state.unreadable:
                log.say(f"wslab grade: {state.unreadable} line(s) of {state.path} could not be read; "
                        "their submissions are graded again")
        progress = None if args.quiet else Progress(sys.stderr, len(todo))
        if progress is not None:
            log = progress
        grade([p for p, _ in todo], names=[n for _, n in todo], jobs=args.jobs, limits=limits, progress=progress,
              done=outputs.record, sandbox=not args.no_sandbox)
    except GradingRefused as exc:
        outputs.close()
        return _refuse(str(exc))
    except KeyboardInterrupt:
        summary = outputs.finish()
        log.say(f"wslab grade: interrupted after {summary.graded} submission(s) graded in this run; they are in "
                f"{args.out} and {args.feedback}/: run the same command with --resume to grade the rest")
        return 130
    summary = outputs.finish()
    return _conclude(args, summary, len(files), time.monotonic() - started, log)


def _names(names: list[str], most: int = 10) -> str:
    shown = ", ".join(one_line(n) for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _conclude(args: argparse.Namespace, summary: Summary, count: int, elapsed: float, log: Progress) -> int:
    """Tell the instructor what happened and what needs them; the exit status."""
    status = 0
    outcomes = [o for by in summary.placement.grades.values() for o in by.values()]
    if summary.without_id:
        how = "" if args.format == "csv" else ", so they are not in the gradebook"
        log.say(f"wslab grade: {len(summary.without_id)} submission(s) have no student id{how}: "
                f"{_names(summary.without_id)} (see --id-pattern)")
    if args.format != "csv":
        no_exercise = [o.name for o, why in summary.placement.left_out if why != "no student id"]
        if no_exercise:
            log.say(f"wslab grade: {len(no_exercise)} submission(s) are not in the gradebook: which exercise they "
                    f"are is unknown: {_names(no_exercise)}")
        if summary.placement.left_out:
            status = 1
    for (student, exercise), group in sorted(summary.placement.duplicates.items()):
        counted = summary.placement.grades[student][exercise].name
        also = "" if args.format == "csv" else f"; the gradebook counts {one_line(counted)} (the highest score)"
        log.say(f"wslab grade: the student id {one_line(student)} is on {len(group)} submissions for {exercise}: "
                f"{_names([o.name for o in group])}{also}")
    if summary.problems:
        status = 1
        log.say(f"wslab grade: {len(summary.problems)} output(s) could not be written (above); every result is in "
                f"{state_path(args.out)}: once fixed, run the same command with --resume")
    full = sum(1 for o in outcomes if o.max_points and o.total == o.max_points)
    log.say(
        f"graded {summary.graded} submission(s) in {elapsed:.1f} s"
        + (f" ({summary.reused} more taken back from the state file)" if summary.reused else "")
        + f"; {count} in the batch; gradebook {args.out} ({args.format}), feedback in {args.feedback}/"
        + ("" if summary.gradebook_written else " (the gradebook is NOT up to date)")
        + (f"; {full} student grade(s) with full marks" if outcomes else "")
    )
    return status
