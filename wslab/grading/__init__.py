"""Grading for wslab's exercises: the check registry, bounded check runs, and the class grader.

* :mod:`wslab.grading.registry`: exercises and their checks (with points, public or not);
* :mod:`wslab.grading.runner`: run one check with a time limit, in a thread of its own;
* :mod:`wslab.grading.grader`: grade a class, two processes per submission, never the grader's own;
* :mod:`wslab.grading.checker`: the trusted process that holds the checks and decides every verdict,
  driven by the sans-I/O :mod:`wslab.grading.supervisor` and reporting :mod:`wslab.grading.events`;
* :mod:`wslab.grading.worker`: the learner's process, which runs the submission's cells, in the
  :mod:`wslab.grading.sandbox`, reached only through the data-only :mod:`wslab.grading.rpc` channel;
* :mod:`wslab.grading.owned`: the course's cells, and a submission prepared for grading;
* :mod:`wslab.grading.outputs`: what ``wslab grade`` writes, as each submission finishes, and ``--resume``;
* :mod:`wslab.grading.gradebook`: student ids, and the gradebook as CSV, Canvas or Moodle imports;
* :mod:`wslab.grading.feedback`: the feedback files, Markdown and HTML, escaped, with names that never collide;
* :mod:`wslab.grading.atomic`: files replaced whole, never through a symlink;
* :mod:`wslab.grading.release`, :mod:`wslab.grading.edition`, :mod:`wslab.grading.leaks`: ``wslab release``,
  the learner's edition, and the scan that keeps answers out of it;
* :mod:`wslab.grading.cli`: ``wslab grade``.

``docs/grading.md`` is the instructor's guide.
"""

from __future__ import annotations

from wslab.grading.feedback import write_feedback
from wslab.grading.gradebook import gradebook_text, write_gradebook
from wslab.grading.grader import Limits, Outcome, grade, grade_one
from wslab.grading.registry import Check, Exercise, exercise_for, exercises, get_exercise
from wslab.grading.runner import CheckResult, run_check

__all__ = [
    "Check",
    "CheckResult",
    "Exercise",
    "Limits",
    "Outcome",
    "exercise_for",
    "exercises",
    "get_exercise",
    "grade",
    "grade_one",
    "gradebook_text",
    "run_check",
    "write_feedback",
    "write_gradebook",
]
