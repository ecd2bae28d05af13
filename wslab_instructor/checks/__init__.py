"""Hidden checks, one module per exercise, named as in :mod:`wslab.grading.checks`."""
