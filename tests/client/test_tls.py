"""The clients' TLS context: it verifies the server's certificate, trusting a private CA besides the system's."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from support.tls import CertFiles, cert_files, handshake
from wslab.client.tls import client_context, describe_failure
from wslab.server.tls import server_context


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    return cert_files(tmp_path_factory.mktemp("tls"))


def test_the_context_verifies_the_server_and_its_name_on_tls_1_2_or_newer() -> None:
    context = client_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_a_server_from_the_given_ca_is_trusted_and_others_are_not(files: CertFiles, tmp_path: Path) -> None:
    server = server_context(files.certfile, files.keyfile)
    assert handshake(client_context(files.cafile), server) in ("TLSv1.2", "TLSv1.3")
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        handshake(client_context(), server)  # the system's CAs alone do not know the workshop's
    other = cert_files(tmp_path / "other")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(client_context(other.cafile), server)


def test_the_certificate_must_name_the_host_asked_for(files: CertFiles) -> None:
    server = server_context(files.certfile, files.keyfile)
    assert handshake(client_context(files.cafile), server, hostname="localhost")
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch|doesn't match"):
        handshake(client_context(files.cafile), server, hostname="example.org")


def test_a_private_ca_is_trusted_besides_the_systems_not_instead(files: CertFiles) -> None:
    system = client_context().cert_store_stats()["x509_ca"]
    assert client_context(files.cafile).cert_store_stats()["x509_ca"] == system + 1


def test_a_missing_or_broken_ca_file_is_named(files: CertFiles, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"CA file '.*nowhere\.pem' does not exist: give the path"):
        client_context(tmp_path / "nowhere.pem")
    notes = tmp_path / "notes.pem"
    notes.write_text("not a certificate")
    with pytest.raises(ValueError, match=r"CA file '.*notes\.pem' is not a PEM certificate"):
        client_context(notes)


def test_a_failure_is_said_with_openssls_reason_and_what_to_give(files: CertFiles) -> None:
    server = server_context(files.certfile, files.keyfile)
    with pytest.raises(ssl.SSLCertVerificationError) as untrusted:
        handshake(client_context(), server)
    said = describe_failure(untrusted.value)
    assert said is not None and "not trusted (unable to get local issuer certificate)" in said and "cafile=" in said
    with pytest.raises(ssl.SSLCertVerificationError) as elsewhere:
        handshake(client_context(files.cafile), server, hostname="chat.example.org")
    assert "not for this address" in (describe_failure(elsewhere.value) or "")
    assert describe_failure(OSError("refused")) is None
