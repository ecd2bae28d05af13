"""``wslab lab``: open the course in JupyterLab, at the course's root, with lesson 1 open.

It is the last step of the README's course command and the command for every
day after the first: it installs nothing, it only starts JupyterLab (in this
process, from the Python that runs wslab, so no virtual environment needs
activating). What it does on top of ``jupyter lab``:

* the server's root is the course folder (``COURSE_DIR``, else the current
  directory when it holds ``notebooks/01-basics.ipynb``, else an error saying
  where to run it), so ``exercises/`` and ``docs/`` are one click away;
* the landing page is lesson 1 with the file browser at that root
  (:data:`LANDING`). JupyterLab glues its token after that address with a
  second ``?`` (``...01-basics.ipynb?file-browser-path=/?token=...``): the
  token is never read and a pasted link lands on the login page. Here the
  server's printed links put it in the query (``&token=...``), so the link a
  learner copies from the terminal (WSL, a remote machine, a closed tab) works
  (:func:`query_in_place`);
* nothing on the command line needs quoting: no ``?`` for zsh or fish to glob;
* Ctrl-C: on a terminal, JupyterLab's own question (a second Ctrl-C, or ``y``,
  stops it). Where it cannot ask (stdin is not a terminal, or Windows), the
  first Ctrl-C stops it cleanly: kernels shut down, its runtime files removed,
  exit status 0, instead of JupyterLab's bare ``KeyboardInterrupt`` there;
* as root (a container, CI), JupyterLab refuses to start without
  ``--allow-root``; this command passes it and says so on one line. Learners'
  accounts are not root; the server listens on this machine only, behind its
  token, either way.

Exit status: JupyterLab's (0 after Ctrl-C), 2 when ``COURSE_DIR`` is not the
course, 1 when JupyterLab is not installed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import ParseResult

__all__ = [
    "FIRST_LESSON",
    "LANDING",
    "add_arguments",
    "find_course",
    "lab_argv",
    "main",
    "query_in_place",
    "run",
    "running_as_root",
]

FIRST_LESSON = "notebooks/01-basics.ipynb"
"""The lesson the course opens on, relative to the course folder; its presence marks a course folder."""

LANDING = f"/lab/tree/{FIRST_LESSON}?file-browser-path=/"
"""JupyterLab's landing address: lesson 1 open, and the file browser at the server's root (the course folder)."""


def find_course(course: str | os.PathLike[str] | None = None) -> Path:
    """The course folder to serve, absolute: ``course``, or the current directory when not given.

    Raises :class:`ValueError`, saying where to run the command, when the
    folder does not hold :data:`FIRST_LESSON`.
    """
    folder = Path(course) if course is not None else Path.cwd()
    if (folder / FIRST_LESSON).is_file():
        return folder.resolve()
    if course is None:
        raise ValueError(
            f"{folder} is not the course's folder (it has no {FIRST_LESSON}): run `wslab lab` in the folder "
            "you cloned wslab into (the one with README.md and notebooks/), or give that folder: wslab lab PATH"
        )
    if not folder.exists():
        raise ValueError(f"{folder} does not exist: give the folder you cloned wslab into")
    raise ValueError(f"{folder} is not the course's folder (it has no {FIRST_LESSON}): give the folder with notebooks/")


def running_as_root() -> bool:
    """Whether this process runs as root (never on Windows)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def lab_argv(course: Path, *, port: int | None = None, open_browser: bool = True, as_root: bool = False) -> list[str]:
    """JupyterLab's command-line arguments for serving ``course`` (see the module's docstring)."""
    argv = [f"--ServerApp.root_dir={course}", f"--LabApp.default_url={LANDING}"]
    if port is not None:
        argv.append(f"--ServerApp.port={port}")
    if not open_browser:
        argv.append("--ServerApp.open_browser=False")
    if as_root:
        argv.append("--ServerApp.allow_root=True")
    return argv


def query_in_place(parts: ParseResult) -> ParseResult:
    """``parts`` with a query that sits in its path (``/lab/tree/x?a=1``) moved to the query, before its own.

    ``/lab/tree/x?a=1`` with query ``token=T`` becomes path ``/lab/tree/x``,
    query ``a=1&token=T``: what ``geturl()`` then gives is one valid URL.
    """
    path, sep, query = parts.path.partition("?")
    if not sep:
        return parts
    return parts._replace(path=path, query="&".join(q for q in (query, parts.query) if q))


def _course_lab_app() -> Any:
    """JupyterLab's application, whose server prints valid links and stops on one Ctrl-C where it cannot ask.

    Built on demand: importing JupyterLab takes a second, and ``wslab serve``
    or ``wslab grade`` should not pay for it.
    """
    from jupyter_server.serverapp import ServerApp
    from jupyterlab.labapp import LabApp

    class CourseServerApp(ServerApp):
        def _get_urlparts(
            self, path: str | None = None, include_token: bool = False, ip: str | None = None
        ) -> ParseResult:
            # every link the server prints for pasting is built here (its browser-open file was right already)
            return query_in_place(super()._get_urlparts(path, include_token, ip))

        def init_signal(self) -> None:
            super().init_signal()
            if sys.platform.startswith("win") or not (sys.stdin and sys.stdin.isatty()):
                signal.signal(signal.SIGINT, self._signal_stop)

    class CourseLabApp(LabApp):  # type: ignore[misc]
        serverapp_class = CourseServerApp

        # JupyterLab's, not this module's: the server loads the extension named here
        @classmethod
        def get_extension_package(cls) -> str:
            return str(LabApp.get_extension_package())

        @classmethod
        def get_extension_point(cls) -> str:
            return str(LabApp.get_extension_point())

    return CourseLabApp


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "course", nargs="?", metavar="COURSE_DIR",
        help=f"the course folder (default: the current directory, if it has {FIRST_LESSON})",
    )
    parser.add_argument("--port", type=int, help="JupyterLab's port (default: JupyterLab's, 8888, or the next free)")
    parser.add_argument(
        "--no-browser", dest="open_browser", action="store_false",
        help="do not open a browser; open the printed link yourself",
    )


def run(args: argparse.Namespace) -> int:
    """Entry point for ``wslab lab``: find the course, then run JupyterLab in the foreground until stopped."""
    try:
        course = find_course(args.course)
        if args.port is not None and not 1 <= args.port <= 65535:
            raise ValueError(f"--port must be 1 to 65535, got {args.port}")
    except ValueError as exc:
        print(f"wslab lab: error: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        app = _course_lab_app()
    except ImportError as exc:
        print(
            f"wslab lab: error: JupyterLab is not installed for {sys.executable} ({exc}): "
            'install the course with: python -m pip install -e ".[course]"',
            file=sys.stderr, flush=True,
        )
        return 1
    as_root = running_as_root()
    print(f"wslab lab: opening the course in {course}, lesson 1 ({FIRST_LESSON}) first", flush=True)
    if as_root:
        print(
            "wslab lab: running as root (a container?): JupyterLab is started with --allow-root, "
            "so its terminals and kernels run as root",
            flush=True,
        )
    try:
        app.launch_instance(lab_argv(course, port=args.port, open_browser=args.open_browser, as_root=as_root))
    except SystemExit as exc:  # JupyterLab's own exits (a port taken, a bad config file)
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m wslab.classroom.lab``: the same as ``wslab lab``."""
    parser = argparse.ArgumentParser(prog="wslab lab", description="open the course in JupyterLab")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
