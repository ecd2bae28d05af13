"""The learner's edition (issue 18): what a learner installs and opens holds no solution and no hidden check.

The edition is built once from this repository with ``wslab release --edition`` and
scanned whole (:func:`wslab.grading.leaks.find_leaks`: every answer line of
``solutions/``, every hidden check's title, hint and body); planted answers show that
the scan catches them. It works on its own: ``import wslab`` from it runs
``check("readystate")``, and it has no hidden checks to grade with. Updating an
edition keeps what a learner changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path
from typing import Any

import pytest

from support import ROOT, readme_command
from wslab.cli import main
from wslab.grading import edition
from wslab.grading.edition import (
    LEARNER_DOCS,
    MARKER,
    Edition,
    check_destination,
    course_command,
    plan,
    read_marker,
    write,
)
from wslab.grading.leaks import KNOWN_OVERLAPS, find_leaks, read_folder, scan, secrets, shipped_lines

TOP = {"notebooks", "exercises", "docs", "wslab", "README.md", "environment.yml", "pyproject.toml", ".gitignore",
       MARKER}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The learner's edition of this repository, as `wslab release --edition DIR` writes it."""
    folder = tmp_path_factory.mktemp("edition") / "course"
    code = main(["release", "--source", str(ROOT / "solutions"), "--dest", str(ROOT / "exercises"),
                 "--edition", str(folder)])
    assert code == 0
    return folder


def _tracked(folder: Path) -> dict[str, bytes]:
    """The files under ``folder`` as the edition takes them (caches and JupyterLab's checkpoints left out: the
    browser tests open lessons in this checkout, and JupyterLab saves a checkpoint of each one it opens)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
        if p.is_file() and not {"__pycache__", ".ipynb_checkpoints"} & set(p.parts) and p.suffix != ".pyc"
    }


# ---------------------------------------------------------------------- what is in it


def test_the_edition_holds_the_learners_course_and_nothing_else(built: Path) -> None:
    assert {p.name for p in built.iterdir()} == TOP
    assert sorted(p.name for p in (built / "docs").iterdir()) == sorted(LEARNER_DOCS)
    for folder in ("notebooks", "exercises"):
        assert _tracked(built / folder) == _tracked(ROOT / folder), f"{folder}/ differs from the course's"
    assert _tracked(built / "wslab") == _tracked(ROOT / "wslab")
    assert (built / "environment.yml").read_bytes() == (ROOT / "environment.yml").read_bytes()
    every = [p.relative_to(built).as_posix() for p in built.rglob("*")]
    for never in ("solutions", "wslab_instructor", "tests", "bench", ".ci", "DEVELOPERS.md", ".nbval-sanitize.cfg",
                  "grading.md", "classroom.md", "architecture.md", "benchmarks.md"):
        assert not [p for p in every if never in p.split("/")], f"{never} is in the edition"


def test_the_edition_installs_the_wslab_package_only_with_the_courses_dependencies(built: Path) -> None:
    mine = tomllib.loads((built / "pyproject.toml").read_text())
    course = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert mine["tool"]["setuptools"]["packages"]["find"]["include"] == ["wslab", "wslab.*"]
    assert mine["project"]["dependencies"] == course["project"]["dependencies"]
    extras = course["project"]["optional-dependencies"]
    assert mine["project"]["optional-dependencies"] == {k: extras[k] for k in ("course", "hub", "scale")}
    assert mine["project"]["scripts"] == course["project"]["scripts"]
    assert mine["project"]["version"] == course["project"]["version"]
    assert mine["build-system"] == course["build-system"]
    package_data = course["tool"]["setuptools"]["package-data"]
    assert mine["tool"]["setuptools"]["package-data"] == {"wslab": package_data["wslab"]}
    assert set(mine["tool"]) == {"setuptools"}, "no test, lint or type-check configuration"


def test_the_edition_opens_with_the_courses_own_command(built: Path) -> None:
    readme = (built / "README.md").read_text()
    command = readme_command("course-command")
    assert f"```bash\n{command}\n```" in readme
    assert course_command((ROOT / "README.md").read_text()) == command
    with pytest.raises(edition.ReleaseError, match="no course command"):
        course_command("# a README\n")
    for path in re.findall(r"/lab/tree/([\w./-]+\.ipynb)", command):
        assert (built / path).is_file(), f"the course command opens {path}, which the edition lacks"
    assert "[.course]" not in command and '".[course]"' in command


def test_every_link_in_the_editions_pages_leads_somewhere_in_it(built: Path) -> None:
    for page in [built / "README.md", *sorted((built / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            assert (page.parent / target).exists(), f"{page.relative_to(built)} links to {target}, not in the edition"


def test_the_marker_says_it_is_a_learners_edition_and_lists_every_file_it_wrote(built: Path) -> None:
    marker = read_marker(built)
    assert marker is not None and marker.first == "notebooks/01-basics.ipynb" and (built / marker.first).is_file()
    files = {p.relative_to(built).as_posix(): p for p in built.rglob("*") if p.is_file() and p.name != MARKER}
    assert marker.files == {k: "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest() for k, p in files.items()}
    assert read_marker(ROOT) is None, "the course's own folder is not an edition"


# ---------------------------------------------------------------------- the scan


def _given() -> set[str]:
    """The lines a learner is given on purpose: the course's lessons and released exercises."""
    notebooks = [p for folder in ("notebooks", "exercises") for p in sorted((ROOT / folder).glob("*.ipynb"))]
    return shipped_lines(p.read_bytes() for p in notebooks)


def test_the_learners_edition_holds_no_solution_and_no_hidden_check(built: Path) -> None:
    files = read_folder(built)
    assert len(files) > 100 and MARKER in files
    found = secrets(ROOT, _given())
    # what is looked for: every exercise's answers, every hidden check
    answered = {source.split(",")[0] for source in found.answers.values()}
    assert answered == {f"solutions/{p.name}" for p in (ROOT / "solutions").glob("*.ipynb")}
    hidden = {source.split(":")[0] for source in [*found.hidden_texts.values(), *found.hidden_lines.values()]}
    assert hidden == {f"wslab_instructor/checks/{p.name}" for p in (ROOT / "wslab_instructor" / "checks").glob("*.py")
                      if p.name != "__init__.py"}
    assert len(found.answers) > 100 and len(found.hidden_texts) >= 2 * 20
    leaks = find_leaks(files, ROOT)
    assert not leaks, "\n".join(str(leak) for leak in leaks)


def test_each_known_overlap_is_still_an_answer_line_in_its_file(built: Path) -> None:
    files = read_folder(built)
    found = secrets(ROOT, _given())
    for (path, line), why in KNOWN_OVERLAPS.items():
        assert why
        assert line in found.answers, f"{line!r} is no longer an answer line: drop it from KNOWN_OVERLAPS"
        text = files[path].decode("utf-8")
        assert any(" ".join(t.split()) == line for t in text.split("\n")), (
            f"{path} no longer has {line!r}: drop it from KNOWN_OVERLAPS"
        )
    # allowed in its own file only: the same line anywhere else is a leak
    (path, line), _ = next(iter(KNOWN_OVERLAPS.items()))
    planted = scan({"docs/notes.md": f"{line}\n".encode()}, found)
    assert [leak.kind for leak in planted] == ["answer"]


def _edited(files: dict[str, bytes], path: str, change: Any) -> dict[str, bytes]:
    copy = dict(files)
    copy[path] = change(copy[path])
    return copy


def test_the_scan_catches_an_answer_line_planted_in_an_exercise(built: Path) -> None:
    files = read_folder(built)
    answer = 'raise ValueError(f"frame is not valid JSON: {exc}") from None'
    solution = json.loads((ROOT / "solutions" / "01-basics.ipynb").read_text())
    assert answer in "".join(next(c for c in solution["cells"] if c["id"] == "parse-message")["source"])

    def plant(data: bytes) -> bytes:
        nb = json.loads(data)
        cell = next(c for c in nb["cells"] if c["id"] == "parse-message")
        cell["source"].append(f"\n    {answer}  \n")
        return json.dumps(nb).encode()

    leaks = find_leaks(_edited(files, "exercises/01-basics.ipynb", plant), ROOT)
    assert [(leak.path, leak.kind, leak.source, leak.text) for leak in leaks] == [
        ("exercises/01-basics.ipynb", "answer", "solutions/01-basics.ipynb, cell parse-message", answer),
    ]
    assert "cell parse-message, line" in leaks[0].where


def test_the_scan_catches_hidden_checks_wherever_they_are(built: Path) -> None:
    files = read_folder(built)
    hidden = (ROOT / "wslab_instructor" / "checks" / "readystate.py").read_text()
    title = "Outbox keeps sends while closed and flushes them once on reconnect"
    assert title in hidden
    body = 'assert sent == ["a"], f"while closed, send() delivered {sent[1:]}"'
    assert body in hidden
    planted = dict(files)
    # a hidden check back in the public checks (the starting point)...
    planted["wslab/grading/checks/readystate.py"] += f"\n\ndef extra(box, sent):\n    {body}\n".encode()
    # ...a title in a doc, wrapped across lines...
    planted["docs/lessons.md"] += b"\nSee: Outbox keeps sends while closed\nand flushes them once on reconnect.\n"
    # ...and a hint HTML-escaped in a notebook's output
    nb = json.loads(files["notebooks/02-readystate.ipynb"])
    hint = "A socket opens once, from CONNECTING only; unknown events are mistakes too."
    assert hint in hidden
    nb["cells"][0]["outputs"] = [{"output_type": "display_data", "metadata": {},
                                  "data": {"text/html": [f"<td>{hint.replace(';', '&#59;')}</td>"]}}]
    planted["notebooks/02-readystate.ipynb"] = json.dumps(nb).encode()
    leaks = {(leak.path, leak.kind, leak.source.split(": ")[-1]) for leak in find_leaks(planted, ROOT)}
    assert leaks == {
        ("wslab/grading/checks/readystate.py", "hidden check", "outbox_survives_reconnect"),
        ("docs/lessons.md", "hidden check", "outbox_survives_reconnect (title)"),
        ("notebooks/02-readystate.ipynb", "hidden check", "impossible_events (hint)"),
    }


def test_the_scan_refuses_what_an_edition_never_holds_by_name(built: Path) -> None:
    files = read_folder(built)
    planted = dict(files)
    planted["solutions/02-readystate.ipynb"] = b"{}"
    planted["wslab/tests/test_x.py"] = b""
    planted["wslab_instructor/__init__.py"] = b""
    planted["notes/DEVELOPERS.md"] = b""
    named = sorted(leak.path for leak in find_leaks(planted, ROOT) if leak.kind == "name")
    assert named == ["notes/DEVELOPERS.md", "solutions", "wslab/tests", "wslab/tests/test_x.py", "wslab_instructor"]


def test_release_writes_nothing_when_the_course_would_leak(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    course = tmp_path / "course"
    for name in ("solutions", "notebooks", "docs", "wslab", "wslab_instructor"):
        shutil.copytree(ROOT / name, course / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("README.md", "pyproject.toml", "environment.yml"):
        shutil.copy(ROOT / name, course / name)
    answer = "others = [name for name in dict.fromkeys(names) if name != me]"
    page = course / "docs" / "reconnect.md"
    page.write_text(page.read_text() + f"\n```python\n{answer}\n```\n")  # the answer, in a page
    solution = json.loads((course / "solutions" / "04-chat.ipynb").read_text())
    assert answer in "".join(next(c for c in solution["cells"] if c["id"] == "typing-line")["source"])
    target = tmp_path / "edition"
    code = main(["release", "--source", str(course / "solutions"), "--dest", str(course / "exercises"),
                 "--edition", str(target)])
    err = capsys.readouterr().err
    assert code == 2 and not target.exists()
    assert "docs/reconnect.md" in err and "solutions/04-chat.ipynb, cell typing-line" in err
    assert "nothing written" in err


# ---------------------------------------------------------------------- it works on its own


def test_the_edition_runs_the_public_checks_and_cannot_grade(built: Path) -> None:
    solution = json.loads((ROOT / "solutions" / "02-readystate.ipynb").read_text())
    answers = "\n\n".join("".join(c["source"]) for c in solution["cells"]
                          if c["id"] in ("state-name", "next-state", "outbox"))
    script = """
import importlib.util, json, sys
import wslab
from wslab.grading.owned import course_root, released_notebook
from wslab.grading.registry import exercises, hidden_installed, hidden_missing
from wslab.grading.self_check import check

ns = {}
exec("from collections import deque\\nCONNECTING, OPEN, CLOSING, CLOSED = 0, 1, 2, 3\\n" + sys.stdin.read(), ns)
report = check("readystate", namespace=ns)
print(json.dumps({
    "wslab": wslab.__file__,
    "instructor": importlib.util.find_spec("wslab_instructor") is not None,
    "hidden_installed": hidden_installed(),
    "cannot_grade": hidden_missing(),
    "public_only": all(c.public for ex in exercises() for c in ex.checks),
    "passed": [r.passed for r in report.results],
    "text": str(report),
    "course": str(course_root()),
    "released": released_notebook("readystate")["metadata"]["wslab"],
}))
"""
    # `python -S`: no site-packages processing, so not this repository's editable install; the
    # course's dependencies come from the same folders, but wslab only from the edition.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "WSLAB"))}
    env["PYTHONPATH"] = os.pathsep.join([str(built), sysconfig.get_paths()["purelib"],
                                         sysconfig.get_paths()["platlib"]])
    done = subprocess.run([sys.executable, "-S", "-c", script], input=answers, cwd=built, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(seen["wslab"]).resolve() == (built / "wslab" / "__init__.py").resolve()
    assert seen["instructor"] is False and seen["hidden_installed"] is False and seen["public_only"] is True
    assert "this install has no hidden checks" in seen["cannot_grade"]
    assert seen["passed"] == [True, True, True, True]
    assert "4 of 4 public checks pass, 6/6 points" in seen["text"] and "3" in seen["text"]
    assert Path(seen["course"]) == built.resolve()
    assert seen["released"] == {"exercise": "readystate", "released": True}


# ---------------------------------------------------------------------- writing it again


def _edition(**files: str) -> Edition:
    return Edition({name.replace("__", "/"): text.encode() for name, text in files.items()}, "9.9")


def test_writing_again_updates_what_no_one_changed_and_keeps_the_rest(tmp_path: Path) -> None:
    dest = tmp_path / "course"
    first = write(_edition(a="1", b="1", c="1", gone="1", gone_changed="1", docs__x="1"), dest)
    assert first.new == sorted(["a", "b", "c", "gone", "gone_changed", "docs/x"]) and not first.kept
    (dest / "b").write_text("the learner's")
    (dest / "gone_changed").write_text("the learner's too")
    (dest / "mine.txt").write_text("never the edition's")
    (dest / "c").unlink()
    second = _edition(a="2", b="2", c="2", new="2")
    assert plan(second.files, dest).changes
    report = write(second, dest)
    assert (report.new, report.updated, report.unchanged, report.kept, report.removed) == (
        ["c", "new"], ["a"], [], ["b", "gone_changed"], ["docs/x", "gone"],
    )
    assert {p.relative_to(dest).as_posix(): p.read_text() for p in dest.rglob("*") if p.is_file()
            and p.name != MARKER} == {"a": "2", "b": "the learner's", "c": "2", "new": "2",
                                      "gone_changed": "the learner's too", "mine.txt": "never the edition's"}
    assert not (dest / "docs").exists(), "a folder left empty goes too"
    marker = read_marker(dest)
    assert marker is not None and marker.version == "9.9"
    assert set(marker.files) == {"a", "b", "c", "new", "gone_changed"}  # b: still the hash the edition wrote
    assert "kept as they are (changed since the last edition wrote them): b, gone_changed" in report.summary()
    # once the learner's file is back as the edition wrote it, the next edition updates it again
    (dest / "b").write_text("1")
    assert write(_edition(a="2", b="3", c="2", new="2"), dest).updated == ["b"]
    again = plan(_edition(a="2", b="3", c="2", new="2").files, dest)
    assert not again.changes and again.unchanged == ["a", "b", "c", "new"]


def test_a_folder_that_is_not_an_edition_is_refused(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "thesis.tex").write_text("mine")
    with pytest.raises(edition.ReleaseError, match="is not empty and holds no learner's edition"):
        write(_edition(a="1"), tmp_path / "full")
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["thesis.tex"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(edition.ReleaseError, match="is a file"):
        plan({"a": b"1"}, tmp_path / "file")
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)  # a fresh clone of the edition's own repository
    assert write(_edition(a="1"), repo).new == ["a"]
    (repo / MARKER).write_text("{oops")
    with pytest.raises(edition.ReleaseError, match="cannot be read"):
        plan({"a": b"1"}, repo)


def test_the_edition_is_never_written_over_the_course(tmp_path: Path) -> None:
    for bad in (ROOT, ROOT.parent, ROOT / "wslab" / "x", ROOT / "notebooks", ROOT / "solutions" / "e"):
        with pytest.raises(edition.ReleaseError, match="folder of its own"):
            check_destination(ROOT, bad)
    check_destination(ROOT, tmp_path / "edition")
    check_destination(ROOT, ROOT / "build" / "edition")


def test_release_check_says_whether_an_edition_is_current(
    built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["release", "--source", str(ROOT / "solutions"), "--dest", str(ROOT / "exercises")]
    copy = tmp_path / "course"
    shutil.copytree(built, copy)
    capsys.readouterr()
    assert main([*args, "--edition", str(copy), "--check"]) == 0
    assert "nothing written" in capsys.readouterr().out
    (copy / "exercises" / "02-readystate.ipynb").write_text("my work")
    (copy / "docs" / "protocol.md").unlink()
    assert main([*args, "--edition", str(copy), "--check"]) == 1
    out, err = capsys.readouterr()
    assert "1 new" in out and "would keep as they are" in out and "exercises/02-readystate.ipynb" in out
    assert "is out of date" in err
    assert not (copy / "docs" / "protocol.md").exists(), "--check writes nothing"
    assert main([*args, "--edition", str(copy)]) == 0
    assert (copy / "exercises" / "02-readystate.ipynb").read_text() == "my work"
    assert (copy / "docs" / "protocol.md").is_file()
