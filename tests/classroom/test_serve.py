"""``wslab serve`` in this process: ``serve()`` on the test's loop, ``main()``'s exit codes, ``start_classroom()``.

The command itself, as a subprocess, is tested in ``tests/e2e/test_serve_command.py``.
"""

from __future__ import annotations

import asyncio
import io
import re
import socket

import pytest

from support import WAIT, Peer, close_code
from wslab.classroom import serve as serve_mod
from wslab.classroom.options import SECRET_ENV, classroom_options
from wslab.classroom.serve import _worker_argv, _worker_env, serve


class Printed(io.StringIO):
    """What serve() prints; ``banner`` is set once the banner's last line is out."""

    def __init__(self) -> None:
        super().__init__()
        self.banner = asyncio.Event()

    def write(self, text: str) -> int:
        if text.startswith("Press Ctrl-C"):
            self.banner.set()
        return super().write(text)


async def test_serve_prints_the_banner_then_closes_everyone_with_1001_when_stopped() -> None:
    printed, stop = Printed(), asyncio.Event()
    options = classroom_options("127.0.0.1", 0, admin_token="teacher")
    served = asyncio.create_task(serve(options, out=printed, stop=stop))
    await asyncio.wait_for(printed.banner.wait(), WAIT)
    found = re.search(r"listening on 127\.0\.0\.1:(\d+)", printed.getvalue())
    assert found, printed.getvalue()
    port = int(found.group(1))
    assert "  Rooms: this process's memory" in printed.getvalue().splitlines()
    ada = await Peer.open(f"ws://127.0.0.1:{port}/chat")
    assert (await ada.join("Ada"))["online"] == ["Ada"]
    admin = await Peer.open(f"ws://127.0.0.1:{port}/admin?token=teacher")  # the admin channel is installed
    await admin.send({"type": "report", "id": 1})
    assert (await admin.expect("report"))["report"]["online"] == ["Ada"]
    stop.set()
    assert await close_code(ada) == 1001 and await close_code(admin) == 1001
    assert await asyncio.wait_for(served, WAIT) == 0
    lines = printed.getvalue().splitlines()
    # Ada is counted; the admin's connection is no chat client.
    assert "wslab serve: stopping, closing 1 chat client(s) with 1001 (going away)" in lines
    assert lines[-1] == "wslab serve: stopped"


async def test_a_taken_port_is_status_1_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        status = await serve(classroom_options("127.0.0.1", port), out=io.StringIO(), stop=asyncio.Event())
    assert status == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"wslab serve: port {port} on 127.0.0.1 is already taken"), err


def test_main_refuses_a_bad_option_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert serve_mod.main(["--room", "two words", "--port", "0"]) == 2
    assert capsys.readouterr().err.startswith("wslab serve: error: --room: room must be")


def test_workers_get_their_secrets_in_the_environment_never_on_the_command_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    options = classroom_options("0.0.0.0", 0, token="-starts-with-a-dash", admin_token="teacher",
                                origins=["http://lab.example:8888"])
    url = "redis://:engine-pass@127.0.0.1:6379/0"
    argv = _worker_argv(options, 9000)
    assert argv[1:4] == ["-m", "wslab.cli", "serve"]
    for secret in ("-starts-with-a-dash", "teacher", "engine-pass", options.join_code or "?"):
        assert not any(secret in arg for arg in argv), argv  # ps shows a command line to every local user
    for flag, value in (("--port", "9000"), ("--host", "0.0.0.0"), ("--origin", "http://lab.example:8888")):
        assert argv[argv.index(flag) + 1] == value
    assert "--reuse-port" in argv and "--no-banner" in argv and "--redis" not in argv
    env = _worker_env(options, url)
    assert (env[SECRET_ENV["token"]], env[SECRET_ENV["admin_token"]], env[SECRET_ENV["redis"]]) == (
        "-starts-with-a-dash", "teacher", url
    )
    assert env[SECRET_ENV["join_code"]] == options.join_code
    # A variable the parent had but this server has no value for is not passed on.
    monkeypatch.setenv(SECRET_ENV["token"], "stale")
    assert SECRET_ENV["token"] not in _worker_env(classroom_options("127.0.0.1", 0), url)


async def test_start_classroom_in_the_kernel_has_the_same_rules_and_a_dashboard() -> None:
    from wslab.classroom.instructor_dashboard import InstructorDashboard

    handle = serve_mod.start_classroom("0.0.0.0", 0, room="workshop")
    try:
        token = handle.config.token
        assert token and handle.config.index_html and 'data-room="workshop"' in handle.config.index_html
        url = f"ws://127.0.0.1:{handle.port}/chat"
        assert await close_code(await Peer.open(url)) == 4001
        learner = await Peer.open(f"{url}?token={token}")
        await learner.join("Ada", room="workshop")
        dash = InstructorDashboard(handle, room="workshop", auto_refresh=None)
        assert list(dash.rows) == ["Ada"]
        dash.close()
        await learner.close()
    finally:
        handle.stop()


def test_start_classroom_refuses_bad_options() -> None:
    with pytest.raises(ValueError, match="is not an origin"):
        serve_mod.start_classroom("127.0.0.1", 0, origins=["localhost:8888"])
