"""The set-up promises: the README's two commands, CI calling the test one, environment.yml in step."""

from __future__ import annotations

import re
import tomllib

from support import ROOT, readme_command


def test_readme_gives_exactly_two_setup_commands() -> None:
    course = readme_command("course-command")
    tests = readme_command("test-command")
    assert "jupyter lab" in course and '.[course]' in course
    assert "pytest" in tests and '.[test]' in tests


def test_ci_runs_the_readmes_test_command_verbatim() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert readme_command("test-command") in ci.splitlines()


def test_ci_runs_the_static_checks_before_the_test_command_and_that_command_last() -> None:
    lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.strip()]
    commands = [line for line in lines if not line.lstrip().startswith("#")]
    assert commands[-1] == readme_command("test-command"), "the README's test command must be .ci/run's last"
    for check in (".venv/bin/python -m mypy", ".venv/bin/python -m ruff check wslab wslab_instructor tests bench"):
        assert any(check in line for line in commands[:-1]), f".ci/run must run {check!r} before the tests"


def _name(requirement: str) -> tuple[str, str]:
    match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", requirement)
    assert match, requirement
    return match.group(1).lower().replace("_", "-"), match.group(2).replace(" ", "")


def test_environment_yml_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = dict(_name(r) for r in project["dependencies"] + extras["course"] + extras["hub"])
    listed: dict[str, str] = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        item = re.match(r"\s+- (.+)$", line)
        if not item or item.group(1).endswith(":") or item.group(1).startswith("-e"):
            continue
        name, spec = _name(item.group(1))
        if name not in ("python", "pip", "conda-forge"):
            listed[name] = spec
    assert listed == wanted


def test_binder_gets_a_jupyter_server_proxy_without_the_websocket_auth_bypass() -> None:
    """repo2docker reads environment.yml; jupyter-server-proxy < 4.1.1 skips auth on WebSockets (CVE-2024-28179)."""
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^  - jupyter-server-proxy>=4\.1\.1$", text, re.M)
    # repo2docker reads only binder/ (or .binder/) when one exists: none may hide the top-level file
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()


def test_python_floor_is_the_same_everywhere() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    assert "python>=3.11" in (ROOT / "environment.yml").read_text()


COURSE_URL = "/lab/tree/notebooks/01-basics.ipynb?file-browser-path=/"
"""Lesson 1 open, and the file browser at the course root (the folder the command runs in)."""


def test_course_opens_at_the_course_root_with_lesson_1() -> None:
    """Not ``jupyter lab notebooks/``: that root hides exercises/ and docs/ (tests/browser/test_lab.py runs it)."""
    course = readme_command("course-command")
    lab = course.split("&&")[-1].split()
    assert lab[lab.index("lab") + 1 :] == [f"--LabApp.default_url={COURSE_URL}"], lab
    assert (ROOT / "notebooks" / "01-basics.ipynb").is_file()
    conda = f"jupyter lab --LabApp.default_url={COURSE_URL}"
    assert conda in (ROOT / "README.md").read_text().split("Prefer conda?")[1].splitlines()[0]
    assert conda in (ROOT / "environment.yml").read_text()
