"""The server's TLS context: a PEM certificate and its key become ``ssl=`` for serve, or a clear ValueError."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from support.tls import CertFiles, cert_files, handshake
from wslab.client.tls import client_context
from wslab.server.tls import HandshakeLog, describe_tls_error, server_context, trust_problem


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return cert_files(tmp_path_factory.mktemp("tls"))


def test_a_certificate_and_its_key_make_a_server_context_on_tls_1_2_or_newer(files: CertFiles) -> None:
    context = server_context(files.certfile, files.keyfile)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert not context.check_hostname  # a server does not ask its clients for a name
    assert handshake(client_context(files.cafile), context) in ("TLSv1.2", "TLSv1.3")


def test_the_key_may_be_in_the_certificate_file(files: CertFiles, tmp_path: Path) -> None:
    both = tmp_path / "both.pem"
    both.write_bytes(files.keyfile.read_bytes() + files.certfile.read_bytes())
    assert handshake(client_context(files.cafile), server_context(both)) in ("TLSv1.2", "TLSv1.3")
    with pytest.raises(ValueError, match=r"'.*cert\.pem' holds a certificate but no private key: .*--keyfile"):
        server_context(files.certfile)  # the key is elsewhere: said, naming the file and the option


def test_missing_files_are_named(files: CertFiles, tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(ValueError, match=f"TLS certificate file '{missing}' does not exist"):
        server_context(missing, files.keyfile)
    with pytest.raises(ValueError, match=f"TLS key file '{missing}' does not exist"):
        server_context(files.certfile, missing)


def test_a_key_that_does_not_match_or_a_file_that_is_not_pem_is_refused(files: CertFiles, tmp_path: Path) -> None:
    other = cert_files(tmp_path / "other")
    with pytest.raises(ValueError, match="with key .*key.pem' for TLS: .*private key that matches"):
        server_context(files.certfile, other.keyfile)
    garbage = tmp_path / "notes.txt"
    garbage.write_text("not a certificate")
    with pytest.raises(ValueError, match="Give a PEM certificate"):
        server_context(garbage, files.keyfile)


def test_trust_is_checked_in_memory_as_a_client_on_this_machine_would_see_it(files: CertFiles, tmp_path: Path) -> None:
    server = server_context(files.certfile, files.keyfile)
    assert trust_problem(server, files.cafile) is None
    assert trust_problem(server, files.cafile, hostname="localhost") is None
    assert "unable to get local issuer certificate" in (trust_problem(server) or "")
    assert "Hostname mismatch" in (trust_problem(server, files.cafile, hostname="chat.example.org") or "")
    other = cert_files(tmp_path / "other")
    assert trust_problem(server, other.cafile) is not None  # another CA does not vouch for it


def test_a_failed_handshake_is_described_in_plain_words_and_counted_once_per_address() -> None:
    error = ssl.SSLError(1, "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca")
    error.reason = "TLSV1_ALERT_UNKNOWN_CA"
    assert "does not know the CA" in describe_tls_error(error)
    plain = ssl.SSLError(1, "x")
    plain.reason = "HTTP_REQUEST"
    assert "plain http://" in describe_tls_error(plain)
    log = HandshakeLog(limit=2)
    assert [log.first("10.0.0.1"), log.first("10.0.0.1"), log.first("10.0.0.2")] == [True, False, True]
    assert log.failures("10.0.0.1") == 2
    log.first("10.0.0.3")  # the oldest is forgotten past the limit
    assert log.failures("10.0.0.1") == 0
