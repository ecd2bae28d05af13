"""``wslab lab``: which folder it serves, what it asks JupyterLab for, the links it prints, its errors.

JupyterLab itself runs in ``tests/e2e/browser/test_lab.py``, which runs the
README's course command under zsh and bash and opens the printed link in
Chromium; here, what needs no server.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path
from urllib.parse import ParseResult, parse_qs, urlparse

import pytest

from support import ROOT
from wslab import cli
from wslab.classroom import lab
from wslab.classroom.lab import FIRST_LESSON, LANDING, find_course, lab_argv, query_in_place


def course_copy(tmp_path: Path) -> Path:
    course = tmp_path / "my course"
    (course / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / FIRST_LESSON, course / FIRST_LESSON)
    return course


def test_the_first_lesson_is_the_courses(tmp_path: Path) -> None:
    assert (ROOT / FIRST_LESSON).is_file()
    assert LANDING == "/lab/tree/notebooks/01-basics.ipynb?file-browser-path=/"


def test_the_course_is_the_current_directory_when_it_holds_lesson_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    course = course_copy(tmp_path)
    monkeypatch.chdir(course)
    assert find_course() == course.resolve()
    assert find_course(None) == course.resolve()


def test_a_given_folder_is_served_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The learner's edition (a folder without solutions) plugs in here: ``wslab lab FOLDER``."""
    course = course_copy(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert find_course("my course") == course.resolve()
    assert find_course(course) == course.resolve()


def test_elsewhere_the_error_says_where_to_run_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as here:
        find_course()
    message = str(here.value)
    assert f"{tmp_path} is not the course's folder (it has no {FIRST_LESSON})" in message
    assert "run `wslab lab` in the folder you cloned wslab into" in message and "wslab lab PATH" in message
    with pytest.raises(ValueError, match="does not exist"):
        find_course(tmp_path / "nowhere")
    (tmp_path / "notebooks").mkdir()
    with pytest.raises(ValueError, match=r"it has no notebooks/01-basics\.ipynb\): give the folder with notebooks/"):
        find_course(tmp_path / "notebooks")


def test_jupyterlab_gets_the_course_as_its_root_and_lesson_1_as_its_landing_page(tmp_path: Path) -> None:
    argv = lab_argv(tmp_path)
    assert argv == [f"--ServerApp.root_dir={tmp_path}", f"--LabApp.default_url={LANDING}"]
    assert lab_argv(tmp_path, port=8899, open_browser=False)[2:] == [
        "--ServerApp.port=8899", "--ServerApp.open_browser=False",
    ]


def test_as_root_it_lets_jupyterlab_start_and_says_so_only_then(tmp_path: Path) -> None:
    """JupyterLab refuses root without --allow-root; learners are not root, containers and CI are."""
    assert "--ServerApp.allow_root=True" in lab_argv(tmp_path, as_root=True)
    assert not any("allow_root" in arg for arg in lab_argv(tmp_path, as_root=False))
    assert lab.running_as_root() == (hasattr(os, "geteuid") and os.geteuid() == 0)


@pytest.mark.parametrize(
    ("path", "query", "url"),
    [
        # JupyterLab's own: the landing page's query, then the token after a second "?", never read
        ("/lab/tree/notebooks/01-basics.ipynb?file-browser-path=/", "token=abc",
         "http://localhost:8888/lab/tree/notebooks/01-basics.ipynb?file-browser-path=/&token=abc"),
        ("/lab/tree/notebooks/01-basics.ipynb?file-browser-path=/", "",
         "http://localhost:8888/lab/tree/notebooks/01-basics.ipynb?file-browser-path=/"),
        ("/lab", "token=abc", "http://localhost:8888/lab?token=abc"),
        ("/lab", "", "http://localhost:8888/lab"),
    ],
)
def test_printed_links_carry_the_token_in_the_query(path: str, query: str, url: str) -> None:
    parts = ParseResult("http", "localhost:8888", path, "", query, "")
    fixed = query_in_place(parts).geturl()
    assert fixed == url
    assert fixed.count("?") <= 1
    if query:
        assert parse_qs(urlparse(fixed).query)["token"] == ["abc"]


def run_lab(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    lab.add_arguments(parser)
    return lab.run(parser.parse_args(list(argv)))


def test_not_a_course_is_status_2_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_lab() == 2
    assert capsys.readouterr().err.startswith(f"wslab lab: error: {tmp_path} is not the course's folder")
    assert run_lab(str(tmp_path / "elsewhere")) == 2
    assert "does not exist" in capsys.readouterr().err
    assert run_lab(str(course_copy(tmp_path)), "--port", "70000") == 2
    assert "wslab lab: error: --port must be 1 to 65535, got 70000" in capsys.readouterr().err


def test_without_jupyterlab_it_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_jupyterlab() -> None:
        raise ImportError("No module named 'jupyterlab'")

    monkeypatch.setattr(lab, "_course_lab_app", no_jupyterlab)
    assert run_lab(str(course_copy(tmp_path))) == 1
    err = capsys.readouterr().err
    assert "wslab lab: error: JupyterLab is not installed" in err and 'pip install -e ".[course]"' in err


def test_it_starts_jupyterlab_with_those_arguments_and_returns_its_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What reaches JupyterLab's ``launch_instance`` (the real launch is the browser test's)."""
    launched: list[list[str]] = []

    class FakeLab:
        status: int | None = None

        @classmethod
        def launch_instance(cls, argv: list[str]) -> None:
            launched.append(argv)
            if cls.status is not None:
                raise SystemExit(cls.status)

    monkeypatch.setattr(lab, "_course_lab_app", lambda: FakeLab)
    monkeypatch.setattr(lab, "running_as_root", lambda: False)
    course = course_copy(tmp_path)
    assert run_lab(str(course), "--no-browser", "--port", "8899") == 0
    assert launched == [lab_argv(course.resolve(), port=8899, open_browser=False)]
    out = capsys.readouterr().out
    assert out == f"wslab lab: opening the course in {course.resolve()}, lesson 1 ({FIRST_LESSON}) first\n"

    monkeypatch.setattr(lab, "running_as_root", lambda: True)
    FakeLab.status = 1  # JupyterLab's own exit: a port taken with no retries left, say
    assert run_lab(str(course)) == 1
    assert "--ServerApp.allow_root=True" in launched[-1]
    out = capsys.readouterr().out
    assert "wslab lab: running as root (a container?): JupyterLab is started with --allow-root" in out


def test_the_course_lab_app_is_jupyterlabs_with_its_server_printing_valid_links() -> None:
    pytest.importorskip("jupyterlab")
    from jupyter_server.serverapp import ServerApp
    from jupyterlab.labapp import LabApp

    app = lab._course_lab_app()
    assert issubclass(app, LabApp) and issubclass(app.serverapp_class, ServerApp)
    # the server loads JupyterLab's extension, not one named after wslab
    assert app.get_extension_package() == "jupyterlab"
    assert app.get_extension_point() == LabApp.get_extension_point()


def test_it_is_the_wslab_lab_command() -> None:
    assert cli._SUBCOMMANDS["lab"][0] == "wslab.classroom.lab"
