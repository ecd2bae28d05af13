"""Throwaway TLS for tests: a CA and a certificate made by ``trustme`` at run time, and an in-memory handshake.

No key is ever committed: :func:`cert_files` writes a fresh CA's certificate and
a server certificate (for 127.0.0.1 and localhost) with its key into a
temporary folder. :func:`handshake` runs a TLS handshake between two contexts
through memory buffers (no socket), so a context's trust can be tested sans I/O.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class CertFiles:
    """PEM files: the server's certificate chain, its private key, and the CA that issued it."""

    ca: Any
    certfile: Path
    keyfile: Path
    cafile: Path


def cert_files(folder: Path, *hosts: str) -> CertFiles:
    """A new CA and a certificate for ``hosts`` (default: 127.0.0.1 and localhost), written under ``folder``."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert(*(hosts or ("127.0.0.1", "localhost")))
    folder.mkdir(parents=True, exist_ok=True)
    files = CertFiles(ca, folder / "cert.pem", folder / "key.pem", folder / "ca.pem")
    files.certfile.write_bytes(b"".join(pem.bytes() for pem in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(files.keyfile))
    ca.cert_pem.write_to_path(str(files.cafile))
    return files


def handshake(client: ssl.SSLContext, server: ssl.SSLContext, hostname: str = "127.0.0.1") -> str:
    """Run a TLS handshake between ``client`` and ``server`` in memory; return the TLS version agreed.

    Raises what the client's side raises (:class:`ssl.SSLCertVerificationError` for
    a server it does not trust), else what the server's side raises.
    """
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    ends = [
        client.wrap_bio(client_in, client_out, server_hostname=hostname),
        server.wrap_bio(server_in, server_out, server_side=True),
    ]
    for _ in range(20):  # a TLS 1.3 handshake takes two round trips
        finished = 0
        for end in ends:
            try:
                end.do_handshake()
                finished += 1
            except ssl.SSLWantReadError:
                pass
        server_in.write(client_out.read())
        client_in.write(server_out.read())
        if finished == 2:
            return str(ends[0].version())
    raise AssertionError("the TLS handshake did not finish")


def self_signed(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for ``host`` (an IP address) and its key, as ``mkcert``-less instructors make
    them: ``(certfile, keyfile)``. Made with ``cryptography`` (trustme's own dependency)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wslab test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    certfile, keyfile = folder / "self-signed.pem", folder / "self-signed-key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))
    return certfile, keyfile
