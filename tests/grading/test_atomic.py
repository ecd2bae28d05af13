"""Files replaced whole, never through a symlink, in the folder that was opened, even under SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from support import ROOT
from wslab.grading.atomic import TEMP_PREFIX, Folder, write_atomic


def _temps(path: Path) -> list[str]:
    return [p.name for p in path.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_a_write_replaces_the_file_whole_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    with Folder(tmp_path / "new" / "folder") as folder:  # created, parents too
        folder.write("gradebook.csv", b"one\n")
        folder.write("gradebook.csv", b"two\n", fsync=True)
    assert (tmp_path / "new" / "folder" / "gradebook.csv").read_bytes() == b"two\n"
    assert _temps(tmp_path / "new" / "folder") == []


def test_a_symlink_at_the_target_is_replaced_and_what_it_points_at_is_untouched(tmp_path: Path) -> None:
    gradebook = tmp_path / "gradebook.csv"
    gradebook.write_text("student,total\nada,9\n")
    feedback = tmp_path / "feedback"
    feedback.mkdir()
    (feedback / "ada.md").symlink_to(gradebook)
    with Folder(feedback) as folder:
        folder.write("ada.md", b"# Feedback: ada\n")
    assert gradebook.read_text() == "student,total\nada,9\n"
    assert not (feedback / "ada.md").is_symlink()
    assert (feedback / "ada.md").read_text() == "# Feedback: ada\n"
    write_atomic(gradebook.with_name("link.csv"), b"x")  # the convenience function, same rule
    (tmp_path / "link.csv").unlink()
    (tmp_path / "link.csv").symlink_to(gradebook)
    write_atomic(tmp_path / "link.csv", b"new")
    assert gradebook.read_text() == "student,total\nada,9\n" and (tmp_path / "link.csv").read_bytes() == b"new"


def test_writes_go_to_the_folder_opened_even_if_its_path_is_swapped_for_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "feedback"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with Folder(real) as folder:
        real.rename(tmp_path / "moved")
        real.symlink_to(elsewhere, target_is_directory=True)
        folder.write("ada.md", b"hello")
    assert (tmp_path / "moved" / "ada.md").read_bytes() == b"hello"
    assert list(elsewhere.iterdir()) == []


def test_a_directory_at_the_target_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    (tmp_path / "gradebook.csv").mkdir()
    with Folder(tmp_path) as folder, pytest.raises(IsADirectoryError):
        folder.write("gradebook.csv", b"x")
    assert _temps(tmp_path) == []
    assert (tmp_path / "gradebook.csv").is_dir()


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../up", "nul\0here"])
def test_only_plain_file_names_are_written(tmp_path: Path, name: str) -> None:
    with Folder(tmp_path) as folder, pytest.raises(ValueError, match="not a file name"):
        folder.write(name, b"x")


def test_a_folder_that_is_a_file_or_missing_is_an_os_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError):
        Folder(tmp_path / "file", create=False)
    with pytest.raises((FileExistsError, NotADirectoryError)):
        Folder(tmp_path / "file" / "sub")
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "missing" / "gradebook.csv", b"x")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in a read-only folder")
def test_check_writable_refuses_a_read_only_folder(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with Folder(tmp_path, create=False) as folder, pytest.raises(PermissionError):
            folder.check_writable()
    finally:
        tmp_path.chmod(0o700)


def test_temporary_files_of_dead_writers_are_swept_and_live_ones_kept(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(done.stdout)  # a pid whose process has exited (and was reaped)
    (tmp_path / f"{TEMP_PREFIX}{dead}-abc").write_text("half")
    (tmp_path / f"{TEMP_PREFIX}{os.getpid()}-def").write_text("mine, being written")
    (tmp_path / f"{TEMP_PREFIX}notapid").write_text("not ours to judge")
    with Folder(tmp_path, create=False) as folder:
        folder.check_writable()
    assert sorted(_temps(tmp_path)) == sorted([f"{TEMP_PREFIX}{os.getpid()}-def", f"{TEMP_PREFIX}notapid"])


WRITER = textwrap.dedent(
    """
    import sys
    from wslab.grading.atomic import Folder
    folder = Folder(sys.argv[1])
    size = 1 << 20
    n = 0
    print("ready", flush=True)
    while True:
        folder.write("gradebook.csv", (b"ab"[n % 2:n % 2 + 1]) * size)
        n += 1
    """
)


def test_a_reader_never_sees_half_a_file_and_a_writer_killed_mid_write_leaves_a_whole_one(tmp_path: Path) -> None:
    (tmp_path / "gradebook.csv").write_bytes(b"a" * (1 << 20))
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == b"ready\n"
        seen = set()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and len(seen) < 2:
            data = (tmp_path / "gradebook.csv").read_bytes()
            assert len(data) == 1 << 20 and data.count(data[:1]) == len(data), "a reader saw a torn file"
            seen.add(data[:1])
        assert seen == {b"a", b"b"}, "the writer never replaced the file"
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(10)
    data = (tmp_path / "gradebook.csv").read_bytes()
    assert len(data) == 1 << 20 and data.count(data[:1]) == len(data)
    with Folder(tmp_path, create=False):
        pass  # the killed writer's temporary file, if any, is swept
    assert _temps(tmp_path) == []
