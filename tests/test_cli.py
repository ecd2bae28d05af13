"""The ``wslab`` command: one entry point dispatching to lab, serve, grade, release and execute."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import subprocess
import sys

import pytest

from support import ROOT
from wslab import cli


def test_the_wslab_script_is_this_main() -> None:
    (script,) = importlib.metadata.entry_points(group="console_scripts", name="wslab")
    assert script.value == "wslab.cli:main" and script.load() is cli.main


def test_each_subcommand_module_has_add_arguments_and_run() -> None:
    assert set(cli._SUBCOMMANDS) == {"lab", "serve", "grade", "release", "execute"}
    for module_name, _ in cli._SUBCOMMANDS.values():
        module = importlib.import_module(module_name)
        assert callable(module.add_arguments) and callable(module.run), module_name


def test_no_command_prints_the_list_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    out = capsys.readouterr().out
    assert out.startswith("usage: wslab [-h] COMMAND ...")
    for name, (_, help_text) in cli._SUBCOMMANDS.items():
        assert name in out and help_text in out


def test_a_command_gets_its_arguments_and_its_status_is_the_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--port", "70000"]) == 2
    assert "wslab serve: error: --port must be 0 to 65535, got 70000" in capsys.readouterr().err
    with pytest.raises(SystemExit) as unknown:
        cli.main(["teleport"])
    assert unknown.value.code == 2 and "invalid choice: 'teleport'" in capsys.readouterr().err


def test_python_dash_m_runs_it_too() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wslab.cli", "grade", "--help"], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0 and done.stdout.startswith("usage: wslab grade [-h]")
