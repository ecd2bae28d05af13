"""The server's TLS context: a PEM certificate and its key become ``ssl=`` for serve, or a clear ValueError."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from support.tls import CertFiles, cert_files, handshake
from wslab.client.tls import client_context
from wslab.server.tls import server_context


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
    with pytest.raises(ValueError, match=r"cannot use '.*cert\.pem' for TLS"):
        server_context(files.certfile)  # the key is elsewhere: said, naming the file


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
