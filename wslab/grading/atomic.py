"""Write files the grader's readers can trust: whole or not at all, and never through a symlink.

A :class:`Folder` is a directory opened once and held by its descriptor. Each
:meth:`Folder.write` goes to a fresh temporary file in that directory (created
with ``O_EXCL | O_NOFOLLOW``), is flushed (and ``fsync``-ed when asked), then
renamed over the target with :func:`os.replace`. The contract:

* a reader of the target sees the old bytes or the new ones, never a mix, even if
  the writer is killed with SIGKILL half way (then a ``.wslab-tmp-<pid>-…`` file
  may be left beside it; the next :class:`Folder` on that directory removes those
  whose process is gone);
* a symlink at the target is replaced by the file, never written through: a link
  planted at ``feedback/ada.md`` pointing at ``gradebook.csv`` cannot make the
  grader overwrite the gradebook;
* writes go to the directory that was opened, even if its path is later swapped
  for a symlink or renamed;
* a target that is a directory is refused with :class:`IsADirectoryError`, and
  the temporary file is removed.

POSIX only (``dir_fd`` and ``O_NOFOLLOW``), like the rest of the grader.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from types import TracebackType

__all__ = ["Folder", "write_atomic", "TEMP_PREFIX"]

TEMP_PREFIX = ".wslab-tmp-"
"""How the temporary files of :meth:`Folder.write` start: ``.wslab-tmp-<pid>-<random>``."""


def _check_name(name: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise ValueError(f"not a file name in a folder: {name!r}")


class Folder:
    """A directory, opened once, in which files are replaced atomically by name.

    ``create`` makes the directory (and its parents) first if it is missing.
    Raises :class:`OSError` (``NotADirectoryError``, ``PermissionError``...) if it
    cannot be opened. Close it, or use it as a context manager.
    """

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if create:
            self.path.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._sweep()

    def __enter__(self) -> Folder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _sweep(self) -> None:
        """Remove temporary files left by writers that were killed (their process is gone)."""
        try:
            names = os.listdir(self.fd)
        except OSError:
            return
        for name in names:
            if not name.startswith(TEMP_PREFIX):
                continue
            pid_text = name[len(TEMP_PREFIX):].partition("-")[0]
            if not pid_text.isdigit():
                continue
            try:
                os.kill(int(pid_text), 0)
                continue  # its writer is alive (or the pid was reused): leave it
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=self.fd)

    def write(self, name: str, data: bytes, *, fsync: bool = False) -> None:
        """Replace the file ``name`` in this folder with ``data``, atomically (see the module's contract).

        With ``fsync``, the data and then the directory entry are flushed to disk
        before returning, so the new file survives a power cut too.
        Raises :class:`OSError` (the target is a directory, the disk is full...)
        with nothing left behind; :class:`ValueError` if ``name`` is not a plain file name.
        """
        _check_name(name)
        temp = f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(8)}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temp, flags, 0o666, dir_fd=self.fd)
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(data)
                stream.flush()
                if fsync:
                    os.fsync(stream.fileno())
            os.replace(temp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=self.fd)
            raise
        if fsync:
            os.fsync(self.fd)

    def check_writable(self) -> None:
        """Raise :class:`OSError` unless a file can be created in this folder (tried, then removed)."""
        temp = f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(8)}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=self.fd)
        os.close(fd)
        os.unlink(temp, dir_fd=self.fd)


def write_atomic(path: str | Path, data: bytes, *, fsync: bool = True) -> None:
    """Replace the file at ``path`` with ``data`` atomically, replacing (never following) a symlink there.

    The parent directory must exist. Raises :class:`OSError` as :meth:`Folder.write` does.
    """
    path = Path(path)
    with Folder(path.parent, create=False) as folder:
        folder.write(path.name, data, fsync=fsync)
