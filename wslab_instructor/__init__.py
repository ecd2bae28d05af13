"""The instructor's part of the course: what grades, and what learners must never have.

``wslab_instructor.checks`` holds each exercise's hidden checks (the public ones are
:mod:`wslab.grading.checks`). This package is in the course's repository and the
instructor's install; a learner's edition of the course (``wslab release --edition``)
leaves it out, and ``tests/grading/test_edition.py`` scans that edition for it.
"""

__all__: list[str] = []
