"""What ``wslab serve`` prints: every link to share, the tokens, the admin channel, then a line per server event."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest

from support.qr import decode_text
from support.tls import cert_files
from wslab.classroom.banner import join_link, join_urls, print_banner, print_event
from wslab.classroom.options import classroom_options
from wslab.server.chat_server import ServerEvent


@pytest.fixture(autouse=True)
def direct_links(monkeypatch: pytest.MonkeyPatch) -> None:
    """The links stay direct even if the tests run in a JupyterLab terminal (``wslab.kernel.jupyter_links``)."""
    monkeypatch.setenv("WSLAB_JUPYTER_PROXY", "off")


def banner(host: str, port: int = 8765, **options: object) -> list[str]:
    out = io.StringIO()
    print_banner(classroom_options(host, port, **options), port, out)  # type: ignore[arg-type]
    return out.getvalue().splitlines()


def test_join_urls_quote_the_token() -> None:
    urls = join_urls("127.0.0.1", 8765, "a b&c", "lobby")
    assert urls == [
        ("on this machine", "http://127.0.0.1:8765/?token=a%20b%26c&room=lobby", "ws://127.0.0.1:8765/chat?token=a%20b%26c")
    ]
    wildcard = join_urls("0.0.0.0", 8765, None, "lobby")
    assert wildcard[-1] == ("on this machine", "http://127.0.0.1:8765/?room=lobby", "ws://127.0.0.1:8765/chat")


def test_a_wildcard_host_lists_the_network_addresses_then_loopback() -> None:
    urls = join_urls("0.0.0.0", 8765, "t", "lobby")
    assert [where for where, _, _ in urls[:-1]] == ["on the network"] * (len(urls) - 1)
    for _, page, chat in urls[:-1]:
        assert "127.0.0.1" not in page and page.endswith(":8765/?token=t&room=lobby")
        assert chat.endswith(":8765/chat?token=t")
    assert join_urls("192.0.2.7", 8765, None, "lobby") == [
        ("on the network", "http://192.0.2.7:8765/?room=lobby", "ws://192.0.2.7:8765/chat")
    ]
    assert join_urls("::1", 8765, None, "lobby", tls=True) == [
        ("on this machine", "https://[::1]:8765/?room=lobby", "wss://[::1]:8765/chat")
    ]


def test_on_loopback_the_banner_says_no_token_is_needed_and_gives_the_admin_channel() -> None:
    lines = banner("127.0.0.1", admin_token="teacher")
    assert lines[0] == "wslab serve: listening on 127.0.0.1:8765, room 'lobby'"
    assert re.fullmatch(r"  Browser \(on this machine\): +http://127\.0\.0\.1:8765/\?room=lobby", lines[1])
    assert re.fullmatch(r"  Notebook \(on this machine\): +ws://127\.0\.0\.1:8765/chat  \(room 'lobby'\)", lines[2])
    assert lines[3] == (
        "  In a notebook: from wslab.ui import ChatUI; ChatUI('ws://127.0.0.1:8765/chat', 'YOUR NAME', room='lobby')"
    )
    assert "  No token: only this machine can connect." in lines
    assert re.fullmatch(r"  Admin \(instructor only\): +ws://127\.0\.0\.1:8765/admin", lines[5])
    assert lines[6] == "  Admin token (the one given with --admin-token): teacher"
    assert lines[7] == (
        "  Dashboard: from wslab.classroom.instructor_dashboard import InstructorDashboard; "
        "InstructorDashboard('ws://127.0.0.1:8765/admin', admin_token='teacher', room='lobby')"
    )
    assert lines[-1] == "Press Ctrl-C to stop." and len(lines) == 9


def test_off_loopback_the_token_is_shown_as_generated_or_given() -> None:
    generated = classroom_options("0.0.0.0", 8765)
    out = io.StringIO()
    print_banner(generated, 8765, out)
    assert f"  Token (generated, share it with the room): {generated.config.token}" in out.getvalue().splitlines()
    assert f"  Admin token (generated; keep it to yourself): {generated.admin_token}" in out.getvalue()
    given = banner("0.0.0.0", token="s3cret", room="workshop", origins=["http://lab.example:8888"])
    assert "  Token: the one given with --token." in given
    assert "  Browser origins allowed besides this page: http://lab.example:8888" in given
    assert any(line.endswith("room='workshop', token='s3cret')") for line in given)
    assert given[0] == "wslab serve: listening on 0.0.0.0:8765, room 'workshop'"


def test_the_rooms_engine_lines_come_right_after_the_first() -> None:
    out = io.StringIO()
    print_banner(classroom_options("127.0.0.1", 8765), 8765, out, rooms=["Rooms: Valkey 9", "Data: not kept"])
    assert out.getvalue().splitlines()[1:3] == ["  Rooms: Valkey 9", "  Data: not kept"]


def test_each_server_event_is_one_stamped_line_but_start_and_stop_are_left_to_the_banner() -> None:
    out = io.StringIO()
    now = time.time()
    for kind in ("start", "refused", "stop", "admin"):
        print_event(ServerEvent(now, kind, f"{kind} happened"), out)
    stamp = time.strftime("%H:%M:%S", time.localtime(now))
    assert out.getvalue().splitlines() == [f"[{stamp}] refused: refused happened", f"[{stamp}] admin: admin happened"]


def test_off_loopback_the_banner_gives_the_join_code_warns_of_restarts_and_draws_the_join_link() -> None:
    options = classroom_options("0.0.0.0", 8765, room="workshop")
    out = io.StringIO()
    print_banner(options, 8765, out)
    lines = out.getvalue().splitlines()
    link = join_link("0.0.0.0", 8765, options.config.token, "workshop")
    assert link is not None and link == [page for where, page, _ in join_urls(
        "0.0.0.0", 8765, options.config.token, "workshop") if where == "on the network"][0]
    short = link.partition("?")[0]
    code = f"{options.join_code[:3]}-{options.join_code[3:]}"  # type: ignore[index]
    assert f"  Join code (type it on the page at {short} instead of the token): {code}" in lines
    restart = next(line for line in lines if line.startswith("  Restarts: "))
    assert "the token, the join code, the admin token above are new at every start" in restart
    assert "--data DIR keeps them" in restart
    start = lines.index("  Scan to join (the Browser link on the network):")
    qr = lines[start + 1 : lines.index("Press Ctrl-C to stop.")]
    assert len(qr) > 10 and decode_text(qr) == [link]  # what a phone scanning the terminal opens
    assert join_link("127.0.0.1", 8765, None, "lobby") is None  # phones cannot reach loopback: no QR then


def test_kept_secrets_are_said_kept_and_a_replaced_one_says_old_links_break(tmp_path: Path) -> None:
    from wslab.classroom.options import options_from_args
    from wslab.classroom.serve import add_arguments

    def parse_and_print(*argv: str) -> list[str]:
        import argparse

        parser = argparse.ArgumentParser()
        add_arguments(parser)
        options = options_from_args(parser.parse_args(["--host", "0.0.0.0", "--data", str(tmp_path), *argv]), {})
        out = io.StringIO()
        print_banner(options, 8765, out)
        return out.getvalue().splitlines()

    parse_and_print()
    lines = parse_and_print()
    path = tmp_path / "wslab-room.json"
    assert any(line.startswith(f"  Token (kept in {path} since an earlier run): ") for line in lines)
    assert any(line.startswith(f"  Admin token (kept in {path} since an earlier run; keep it") for line in lines)
    assert f"  Restarts: the tokens and the join code are kept in {path} (mode 0600): " \
        "links and the dashboard keep working" in lines
    replaced = parse_and_print("--token", "fresh")
    assert f"  Token: the one given with --token; it replaced the one kept in {path}: links with the old one " \
        "no longer work." in replaced


def test_with_tls_the_notebook_lines_name_the_real_ca_file(tmp_path: Path) -> None:
    files = cert_files(tmp_path / "tls")
    options = classroom_options("127.0.0.1", 8765, certfile=str(files.certfile), keyfile=str(files.keyfile),
                                cafile=str(files.cafile), admin_token="teacher")
    out = io.StringIO()
    print_banner(options, 8765, out)
    text = out.getvalue()
    ca = str(files.cafile.resolve())
    dashboard = f"InstructorDashboard('wss://127.0.0.1:8765/admin', admin_token='teacher', room='lobby', cafile={ca!r})"
    assert dashboard in text
    assert "ChatUI('wss://127.0.0.1:8765/chat', 'YOUR NAME', room='lobby', cafile='ca.pem')" in text
    assert f"Notebooks need the CA certificate {ca} (no secret in it): share that file" in text
    assert "cafile=..." not in text and "TLS note" not in text
    unknown = classroom_options("127.0.0.1", 8765, certfile=str(files.certfile), keyfile=str(files.keyfile))
    out = io.StringIO()
    print_banner(unknown, 8765, out)
    assert "  TLS note: this machine does not trust the certificate (unable to get local issuer certificate)" in (
        out.getvalue()
    )
