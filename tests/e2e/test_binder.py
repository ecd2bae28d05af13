"""Binder serves the learner's edition: the repository's ``postBuild`` turns the checkout into it.

repo2docker runs ``postBuild`` in the checkout after installing ``environment.yml``. Here
it runs in a copy of this repository's files, with a stand-in ``python`` that records
the reinstall instead of running pip; what is left must be exactly the edition that
``wslab release --edition`` writes, with no git history, solutions or hidden checks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROOT
from wslab.cli import main
from wslab.grading.leaks import read_folder


def _tracked_copy(dest: Path) -> None:
    try:
        listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True,
                                timeout=30).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError) as exc:  # pragma: no cover - the repository is a git checkout
        pytest.skip(f"not a git checkout: {exc}")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


@pytest.mark.slow
def test_postbuild_leaves_exactly_the_learners_edition(tmp_path: Path) -> None:
    checkout = tmp_path / "home"
    _tracked_copy(checkout)
    (checkout / ".git" / "objects").mkdir(parents=True)  # the history holds the solutions
    assert (checkout / "solutions").is_dir() and (checkout / "wslab_instructor").is_dir()
    assert os.access(checkout / "postBuild", os.X_OK), "repo2docker runs postBuild only when it is executable"

    stubs = tmp_path / "bin"
    stubs.mkdir()
    log = tmp_path / "python.log"
    (stubs / "python").write_text(f'#!/bin/sh\necho "$PWD $*" >> {log}\n')
    (stubs / "python").chmod(0o755)
    env = dict(os.environ, PATH=os.pathsep.join([str(stubs), str(Path(sys.executable).parent), "/usr/bin", "/bin"]))
    done = subprocess.run(["./postBuild"], cwd=checkout, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]

    direct = tmp_path / "direct"
    assert main(["release", "--source", str(ROOT / "solutions"), "--dest", str(ROOT / "exercises"),
                 "--edition", str(direct)]) == 0
    assert read_folder(checkout) == read_folder(direct)
    assert not (checkout / ".git").exists()
    assert log.read_text() == f"{checkout} -m pip install --no-deps -e .\n"
