"""``wslab serve --certfile C --keyfile K``: wss:// and https:// on one port, with a throwaway CA.

The CA and the certificate (for 127.0.0.1 and localhost) are made by
``trustme`` at run time in a temporary folder: no key is ever committed.
A client that trusts the CA joins; a plain ``ws://`` client, a plain HTTP
request and a client that does not trust the CA are all refused.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from websockets.exceptions import InvalidHandshake, InvalidMessage

from support import WAIT, Peer
from support.serving import Served
from support.tls import cert_files as make_cert_files
from wslab.classroom import serve as serve_mod
from wslab.classroom.instructor_dashboard import InstructorDashboard
from wslab.classroom.options import classroom_options
from wslab.kernel.course_server import stop_all
from wslab.server.tls import server_context


@pytest.fixture(scope="module")
def cert_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    files = make_cert_files(tmp_path_factory.mktemp("tls"))
    return files.certfile, files.keyfile, files.cafile


def _trusting(cafile: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cafile))


async def test_wss_with_a_trusted_ca_joins_and_plain_clients_cannot(cert_files: tuple[Path, Path, Path]) -> None:
    certfile, keyfile, cafile = cert_files
    served = await Served.start(
        "--host", "0.0.0.0", "--token", "s3cret", "--admin-token", "admin-s3cret",
        "--certfile", str(certfile), "--keyfile", str(keyfile), "--cafile", str(cafile),
    )
    try:
        assert served.scheme == "wss"
        assert f"https://127.0.0.1:{served.port}/?token=s3cret&room=lobby" in served.banner
        assert f"wss://127.0.0.1:{served.port}/chat?token=s3cret" in served.banner
        assert served.admin_url == f"wss://127.0.0.1:{served.port}/admin"
        assert "http://" not in served.banner and "ws://" not in served.banner

        # A client that trusts the CA joins, and chats.
        ada = await Peer.open(served.url("?token=s3cret"), ssl=_trusting(cafile))
        welcome = await ada.join("Ada")
        assert welcome["online"] == ["Ada"]
        await ada.send({"type": "chat", "content": "over TLS", "id": "t1"})
        assert (await ada.expect("chat"))["content"] == "over TLS"

        # The page comes over https on the same port.
        page = await asyncio.to_thread(
            lambda: urllib.request.urlopen(
                f"https://127.0.0.1:{served.port}/", context=_trusting(cafile), timeout=WAIT
            ).read()
        )
        assert b"wslab chat" in page

        # A plain ws:// client cannot connect: the port speaks TLS only.
        with pytest.raises((InvalidHandshake, InvalidMessage, OSError, EOFError)):
            await Peer.open(f"ws://127.0.0.1:{served.port}/chat?token=s3cret")
        # Nor plain HTTP.
        with pytest.raises((urllib.error.URLError, OSError)):
            await asyncio.to_thread(
                lambda: urllib.request.urlopen(f"http://127.0.0.1:{served.port}/", timeout=WAIT).read()
            )
        # Nor a client that does not trust the CA (the system's trust store only).
        with pytest.raises(ssl.SSLCertVerificationError):
            await Peer.open(served.url("?token=s3cret"), ssl=ssl.create_default_context())

        # The instructor's dashboard attaches over wss:// with the CA.
        dash = await asyncio.to_thread(
            InstructorDashboard, served.admin_url, admin_token="admin-s3cret", cafile=str(cafile), auto_refresh=None
        )
        try:
            assert list(dash.rows) == ["Ada"]
            assert " · TLS · " in dash.health_label.value
        finally:
            await asyncio.to_thread(dash.close)

        # The banner's Dashboard line works pasted as printed: the real CA file, no "cafile=...".
        line = next(line for line in served.lines if line.strip().startswith("Dashboard: "))
        assert f"cafile={str(cafile.resolve())!r}" in line and "..." not in line
        statement, _, expression = line.strip().removeprefix("Dashboard: ").partition("; ")
        namespace: dict[str, object] = {}
        exec(statement, namespace)
        pasted = await asyncio.to_thread(eval, expression, namespace)
        try:
            assert list(pasted.rows) == ["Ada"] and "refused" not in pasted.status.value  # type: ignore[attr-defined]
        finally:
            await asyncio.to_thread(pasted.close)  # type: ignore[attr-defined]

        # Without the CA, the dashboard says why it cannot connect, with OpenSSL's reason.
        blind = await asyncio.to_thread(
            InstructorDashboard, served.admin_url, admin_token="admin-s3cret", auto_refresh=None
        )
        assert "TLS certificate is not trusted (unable to get local issuer certificate)" in blind.status.value
        await asyncio.to_thread(blind.close)
        await ada.close()
        status, out = await served.stop()
        assert status == 0
        # The handshakes that failed (plain ws://, plain http://, the untrusting clients) from 127.0.0.1: one line.
        assert len([line for line in out.splitlines() if "] tls: TLS handshake from 127.0.0.1 failed" in line]) == 1
    finally:
        await served.kill()


async def test_in_kernel_classroom_serves_tls_too(cert_files: tuple[Path, Path, Path]) -> None:
    certfile, keyfile, cafile = cert_files
    stop_all()  # a course server another test left running would be returned instead (start_server's registry)
    handle = serve_mod.start_classroom("127.0.0.1", 0, certfile=str(certfile), keyfile=str(keyfile))
    try:
        assert handle.chat_url.startswith("wss://127.0.0.1:") and handle.http_url.startswith("https://")
        ada = await Peer.open(handle.chat_url, ssl=_trusting(cafile))
        assert (await ada.join("Ada"))["online"] == ["Ada"]
        await ada.close()
    finally:
        handle.stop()


def test_bad_certificate_files_are_refused_before_listening(
    cert_files: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    certfile, keyfile, cafile = cert_files
    with pytest.raises(ValueError, match="does not exist"):
        classroom_options("127.0.0.1", 0, certfile=str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="--keyfile needs --certfile"):
        classroom_options("127.0.0.1", 0, keyfile=str(keyfile))
    with pytest.raises(ValueError, match="for TLS"):
        server_context(certfile, cafile)  # a CA certificate is not the key
    assert serve_mod.main(["--port", "0", "--certfile", str(tmp_path / "missing.pem")]) == 2
    capsys.readouterr()
    # A certificate without its key: one line naming the file and --keyfile, not "[SSL] PEM lib".
    assert serve_mod.main(["--port", "0", "--certfile", str(certfile)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds a certificate but no private key" in err[0] and "--keyfile" in err[0], err
    assert "PEM lib" not in err[0] and str(certfile) in err[0]
