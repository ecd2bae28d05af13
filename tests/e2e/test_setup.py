"""The set-up promises: the README's two commands, its day-2, Windows and conda lines, CI, environment.yml.

The course command also runs, whole, under zsh and bash, its printed link opened in
Chromium: ``tests/e2e/browser/test_lab.py``.
"""

from __future__ import annotations

import re
import tomllib

import pytest

from support import ROOT, readme_command


def test_readme_gives_exactly_two_setup_commands() -> None:
    course = readme_command("course-command")
    tests = readme_command("test-command")
    assert "wslab lab" in course and '.[course]' in course
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


COURSE_STEPS = ["python3 -m venv .venv", '.venv/bin/python -m pip install -e ".[course]"', ".venv/bin/wslab lab"]
"""Make the environment, install the course into it, open the course: no shell to activate anything."""


def test_the_course_command_installs_then_opens_the_course_with_wslab_lab() -> None:
    """``wslab lab`` opens lesson 1 at the course root (``tests/e2e/browser/test_lab.py`` sees it)."""
    assert readme_command("course-command").split(" && ") == COURSE_STEPS
    assert (ROOT / "notebooks" / "01-basics.ipynb").is_file()


SHELL_SPECIAL = set("*?[]{}()<>|;&$`!#~\\'")
"""Characters some shell (bash, zsh, fish) reads as more than themselves somewhere in a word."""


def unquoted_specials(command: str) -> set[str]:
    """What in ``command`` a shell could expand or read as syntax: outside double quotes, or ``$`\\!`` inside them."""
    found: set[str] = set()
    for i, part in enumerate(re.split(r'"', command)):
        if i % 2:  # inside "...": bash and zsh still expand $ and `, and ! in an interactive shell
            found |= set(part) & set("$`\\!")
        else:
            found |= set(part.replace("&&", "")) & SHELL_SPECIAL
    assert command.count('"') % 2 == 0, f"unbalanced quotes: {command}"
    return found


@pytest.mark.parametrize(
    ("command", "bad"),
    [
        ('.venv/bin/python -m jupyter lab --LabApp.default_url=/lab/tree/x.ipynb?file-browser-path=/', {"?"}),
        ("pip install -e .[course]", {"[", "]"}),
        ('pip install -e ".[course]" && wslab lab', set()),
        ('echo "$HOME"', {"$"}),
    ],
)
def test_the_shell_check_sees_what_zsh_would_glob(command: str, bad: set[str]) -> None:
    assert unquoted_specials(command) == bad


def test_every_command_for_learners_needs_no_quoting_in_bash_zsh_or_fish() -> None:
    """zsh (macOS's shell) stops at an unquoted ``?`` or ``[``: "no matches found", after the install ran."""
    readme = (ROOT / "README.md").read_text()
    conda = re.search(r"Prefer conda\? `([^`]+)`", readme)
    assert conda, "the README's conda line is gone"
    for command in (readme_command("course-command"), conda.group(1), ".venv/bin/wslab lab"):
        assert unquoted_specials(command) == set(), command


def test_the_day_2_windows_and_conda_lines_open_the_course_without_installing() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "\n```bash\n.venv/bin/wslab lab\n```\n" in readme, "the day-2 command"
    windows = re.search(r"\*\*On Windows\*\*.*?```text\n(.+?)\n```", readme, re.S)
    assert windows, "the Windows lines"
    assert windows.group(1).splitlines() == [
        "py -m venv .venv", '.venv\\Scripts\\python -m pip install -e ".[course]"', ".venv\\Scripts\\wslab lab",
    ]
    conda = readme.split("Prefer conda?")[1].split("\n\n")[0]
    assert "`conda env create -f environment.yml && conda activate wslab && wslab lab`" in conda
    assert "`conda activate wslab && wslab lab`" in conda
    assert "`wslab lab`" in (ROOT / "environment.yml").read_text()


def test_wslab_commands_for_instructors_say_how_to_run_them_without_activating() -> None:
    instructors = (ROOT / "README.md").read_text().split("## For instructors")[1].split("\n## ")[0]
    assert "`.venv/bin/wslab ...`" in instructors and "`source .venv/bin/activate`" in instructors


def test_the_test_extra_holds_the_course_so_the_course_command_test_installs_nothing_new() -> None:
    """tests/e2e/browser/test_lab.py runs the course command in the test command's .venv."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras["course"]) <= set(extras["test"])


def test_no_binder_badge_points_at_a_repository_that_does_not_exist() -> None:
    """No public copy of this repository exists to launch on Binder: no badge, and OWNER is said to be yours."""
    readme = (ROOT / "README.md").read_text()
    assert "mybinder.org/badge" not in readme
    binder = readme.split("**Binder.**")[1].split("\n\n")[0]
    assert "/v2/gh/OWNER/wslab/" in binder and "yours to fill in" in binder
