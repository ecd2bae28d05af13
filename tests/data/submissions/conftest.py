"""The notebooks here are learner submissions for the grader's tests (some hang on purpose, one is
not even JSON): they are graded by tests/test_grader.py, never collected or run by nbval."""

collect_ignore_glob = ["*.ipynb", "build_corpus.py"]
