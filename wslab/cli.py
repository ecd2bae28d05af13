"""The ``wslab`` command: ``wslab lab``, ``wslab serve``, ``wslab grade``, ``wslab release``, ``wslab execute``.

Each subcommand lives in its own module and exposes ``add_arguments(parser)``
and ``run(args) -> int``; this module only dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]

_SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "lab": ("wslab.classroom.lab", "open the course in JupyterLab, lesson 1 first (installs nothing)"),
    "serve": ("wslab.classroom.serve", "run the chat server for a classroom"),
    "grade": ("wslab.grading.cli", "grade a class's submissions into a gradebook"),
    "release": ("wslab.grading.release", "generate exercises/ from solutions/"),
    "execute": ("wslab.grading.execute", "run notebooks in a fresh kernel and save them with their outputs"),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wslab", description="The wslab course tools.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = {}
    for name, (module_name, help_text) in _SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        modules[name] = module
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return int(modules[args.command].run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
