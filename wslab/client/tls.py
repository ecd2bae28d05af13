"""TLS for wslab's clients: verify the server's certificate, trusting a CA of your own too.

:func:`client_context` is the :class:`ssl.SSLContext` a client passes as
``ssl=`` to reach a ``wss://`` server whose certificate comes from a private
CA (a workshop's own, or one made with ``trustme`` in the lessons and tests).
:func:`ReconnectingClient <wslab.client.reconnecting.ReconnectingClient>`,
``ChatUI`` and the instructor's dashboard take ``cafile=`` and make it with this.
:func:`describe_failure` words a failed ``wss://`` connection for a widget.
"""

from __future__ import annotations

import ssl
from pathlib import Path

__all__ = ["client_context", "describe_failure"]


def client_context(cafile: str | Path | None = None) -> ssl.SSLContext:
    """A client-side context that verifies the server, trusting ``cafile`` (a PEM CA) besides the system's.

    Raises :class:`ValueError` naming ``cafile`` when it is missing or not a PEM certificate.
    """
    if cafile is not None and not Path(cafile).is_file():
        raise ValueError(
            f"CA file {str(cafile)!r} does not exist: give the path of the CA certificate (PEM) that issued "
            "the server's certificate (wslab serve --cafile prints it)"
        )
    try:
        context = ssl.create_default_context(cafile=None if cafile is None else str(cafile))
    except ssl.SSLError as exc:
        raise ValueError(f"CA file {str(cafile)!r} is not a PEM certificate: {exc.reason or exc}") from None
    context.load_default_certs()  # with a cafile, create_default_context loads that one alone
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def describe_failure(exc: BaseException) -> str | None:
    """A sentence for a TLS failure while connecting (what went wrong, and what to give); None if ``exc`` is not one.

    For a certificate that is not trusted it quotes OpenSSL's reason
    (:attr:`ssl.SSLCertVerificationError.verify_message`), e.g. "self-signed certificate".
    """
    if isinstance(exc, ssl.SSLCertVerificationError):
        why = exc.verify_message or exc.reason or str(exc)
        if exc.verify_code == 62:  # X509_V_ERR_HOSTNAME_MISMATCH
            return f"the server's TLS certificate is not for this address ({why}): use the name it was issued for"
        return (
            f"the server's TLS certificate is not trusted ({why}): give cafile='CA.pem' (the CA that issued "
            "it; wslab serve's banner names it) or ssl= a context that trusts it"
        )
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    return None
