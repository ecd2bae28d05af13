"""TLS for the chat server: ``wss://`` and ``https://`` on the server's one port.

:func:`server_context` turns a certificate and its key (PEM files) into the
:class:`ssl.SSLContext` that :func:`websockets.asyncio.server.serve` takes as
``ssl=``; the server then speaks TLS only, so a plain ``ws://`` or
``http://`` client cannot connect. Learners' browsers need a certificate they
trust (one from the venue's CA, or Let's Encrypt for a public name); see
``docs/classroom.md`` for putting the server behind a TLS-terminating proxy
instead.
"""

from __future__ import annotations

import ssl
from pathlib import Path

__all__ = ["server_context"]


def server_context(certfile: str | Path, keyfile: str | Path | None = None) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2 or newer) for ``certfile`` and ``keyfile``.

    ``keyfile`` may be left out when ``certfile`` holds the key as well. Raises
    :class:`ValueError` naming the file for a file that is missing or is not a
    PEM certificate and key that match.
    """
    for label, path in (("certificate", certfile), ("key", keyfile)):
        if path is not None and not Path(path).is_file():
            raise ValueError(f"TLS {label} file {str(path)!r} does not exist")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(certfile), None if keyfile is None else str(keyfile))
    except ssl.SSLError as exc:
        raise ValueError(
            f"cannot use {str(certfile)!r}"
            + (f" with key {str(keyfile)!r}" if keyfile is not None else "")
            + f" for TLS: {exc.reason or exc}. Give a PEM certificate and the private key that matches it."
        ) from None
    return context

