"""TLS for wslab's clients: verify the server's certificate, trusting a CA of your own too.

:func:`client_context` is the :class:`ssl.SSLContext` a client passes as
``ssl=`` to reach a ``wss://`` server whose certificate comes from a private
CA (a workshop's own, or one made with ``trustme`` in the lessons and tests).
"""

from __future__ import annotations

import ssl
from pathlib import Path

__all__ = ["client_context"]


def client_context(cafile: str | Path | None = None) -> ssl.SSLContext:
    """A client-side context that verifies the server, trusting ``cafile`` (a PEM CA) besides the system's."""
    context = ssl.create_default_context(cafile=None if cafile is None else str(cafile))
    context.load_default_certs()  # with a cafile, create_default_context loads that one alone
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
