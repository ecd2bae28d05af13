"""TLS for the chat server: ``wss://`` and ``https://`` on the server's one port.

* :func:`server_context` turns a certificate and its key (PEM files) into the
  :class:`ssl.SSLContext` the server speaks TLS with; the server then speaks
  TLS only, so a plain ``ws://`` or ``http://`` client cannot connect. A file
  that is missing, or a certificate without its key, is a :class:`ValueError`
  that says which file and what to give.
* :func:`trust_problem` says, before anything listens, whether a client on this
  machine would trust the certificate (with the system's CAs and, optionally, a
  CA file), by a TLS handshake in memory: what ``wslab serve``'s banner needs to
  print notebook lines that work when pasted.
* :class:`HandshakeLog` remembers which peers failed the TLS handshake, so the
  server logs a failure once per address instead of once per attempt (a phone
  that does not trust the certificate retries every few seconds).

Learners' browsers need a certificate they trust (one from the venue's CA, or
Let's Encrypt for a public name); see ``docs/classroom.md`` for putting the
server behind a TLS-terminating proxy instead.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection

__all__ = ["HandshakeLog", "describe_tls_error", "server_context", "tls_connections", "trust_problem"]


def _has_private_key(path: str | Path) -> bool:
    try:
        return b"PRIVATE KEY-----" in Path(path).read_bytes()
    except OSError:
        return False


def server_context(certfile: str | Path, keyfile: str | Path | None = None) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2 or newer) for ``certfile`` and ``keyfile``.

    ``keyfile`` may be left out when ``certfile`` holds the key as well. Raises
    :class:`ValueError` naming the file for a file that is missing, a
    certificate without its key, or a certificate and key that do not match.
    """
    for label, path in (("certificate", certfile), ("key", keyfile)):
        if path is not None and not Path(path).is_file():
            raise ValueError(f"TLS {label} file {str(path)!r} does not exist")
    if keyfile is None and not _has_private_key(certfile):
        raise ValueError(
            f"{str(certfile)!r} holds a certificate but no private key: give the key file too "
            "(--keyfile KEY.pem with wslab serve, keyfile= in Python)"
        )
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


def trust_problem(
    server: ssl.SSLContext, cafile: str | Path | None = None, hostname: str | None = "127.0.0.1"
) -> str | None:
    """None if a client trusting the system's CAs (and ``cafile``) accepts ``server``'s certificate for
    ``hostname`` (None: for any name); else why not, in OpenSSL's words (``self-signed certificate``,
    ``Hostname mismatch``...).

    The handshake runs in memory: nothing listens, nothing is sent.
    """
    client = ssl.create_default_context()
    if hostname is None:
        client.check_hostname = False
    if cafile is not None:
        try:
            client.load_verify_locations(cafile=str(cafile))
        except (OSError, ssl.SSLError) as exc:
            return f"cannot read {str(cafile)!r} as a PEM certificate: {getattr(exc, 'reason', None) or exc}"
    buffers = [ssl.MemoryBIO() for _ in range(4)]
    ends = [
        client.wrap_bio(buffers[0], buffers[1], server_hostname=hostname),
        server.wrap_bio(buffers[2], buffers[3], server_side=True),
    ]
    try:
        for _ in range(20):  # TLS 1.3 takes two round trips
            done = 0
            for end in ends:
                try:
                    end.do_handshake()
                    done += 1
                except ssl.SSLWantReadError:
                    pass
            buffers[2].write(buffers[1].read())
            buffers[0].write(buffers[3].read())
            if done == 2:
                return None
    except ssl.SSLCertVerificationError as exc:
        return str(exc.verify_message or exc.reason or exc)
    except ssl.SSLError as exc:
        return str(exc.reason or exc)
    return "the TLS handshake did not finish"


def describe_tls_error(exc: BaseException) -> str:
    """What a failed server-side handshake means, in a few plain words (for the server's log)."""
    reason = getattr(exc, "reason", None) or ""
    plain = {
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the client does not trust this certificate (give it the CA)",
        "TLSV1_ALERT_UNKNOWN_CA": "the client does not know the CA that issued this certificate (give it the CA)",
        "SSLV3_ALERT_BAD_CERTIFICATE": "the client rejected this certificate",
        "HTTP_REQUEST": "a plain http:// request on the TLS port (use https://)",
        "WRONG_VERSION_NUMBER": "not TLS (a plain ws:// or http:// client? use wss:// or https://)",
        "UNSUPPORTED_PROTOCOL": "the client's TLS version is too old",
        "NO_SHARED_CIPHER": "no cipher in common with the client",
    }.get(reason)
    if plain is not None:
        return plain
    if isinstance(exc, TimeoutError | ConnectionAbortedError):
        return "the client did not finish the handshake in time"
    if isinstance(exc, ConnectionError | EOFError):
        # Python's asyncio clients close without a TLS alert when they do not trust the certificate.
        return "the client left during the handshake (as one that does not trust this certificate does)"
    return str(reason or exc or type(exc).__name__)


class HandshakeLog:
    """Which peer addresses already had a failed TLS handshake logged (at most ``limit``, oldest forgotten)."""

    def __init__(self, limit: int = 1024) -> None:
        self.limit = limit
        self._seen: OrderedDict[str, int] = OrderedDict()

    def first(self, host: str) -> bool:
        """Count a failure from ``host``; True if it is the first one remembered (log it), else False."""
        count = self._seen.pop(host, 0)
        self._seen[host] = count + 1
        while len(self._seen) > self.limit:
            self._seen.popitem(last=False)
        return count == 0

    def failures(self, host: str) -> int:
        """How many failed handshakes ``host`` had (while remembered)."""
        return self._seen.get(host, 0)


class _Handshaking(asyncio.Protocol):
    """Holds what arrives on a TLS connection between its handshake and the WebSocket taking it over."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.eof = False
        self.lost: tuple[Exception | None] | None = None

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)

    def eof_received(self) -> None:
        self.eof = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = (exc,)


def tls_connections(
    context: ssl.SSLContext,
    handshake_timeout: float,
    on_failure: Callable[[str, BaseException], None],
    pending: set[asyncio.Task[Any]],
) -> type[ServerConnection]:
    """A :class:`ServerConnection` that runs the TLS handshake itself, so a failed one can be reported.

    Pass it to :func:`websockets.asyncio.server.serve` as ``create_connection``
    (with ``ssl=None``). asyncio's own server-side TLS drops a failed handshake
    without a word; here the handshake runs through :meth:`loop.start_tls
    <asyncio.loop.start_tls>` (bounded by ``handshake_timeout``) and a failure
    calls ``on_failure(peer host, exception)``. What arrives between the
    handshake and the WebSocket taking the connection over is held and handed
    on in order. The handshake tasks are kept in ``pending`` (cancel them on stop).
    """

    class TLSServerConnection(ServerConnection):
        _tls_started = False

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            if self._tls_started:  # pragma: no cover - start_tls does not call it again
                super().connection_made(transport)
                return
            self._tls_started = True
            transport.pause_reading()  # type: ignore[attr-defined]
            task = asyncio.get_running_loop().create_task(self._handshake(transport))
            pending.add(task)
            task.add_done_callback(pending.discard)

        async def _handshake(self, raw: asyncio.BaseTransport) -> None:
            loop = asyncio.get_running_loop()
            holder = _Handshaking()
            try:
                secured = await loop.start_tls(
                    raw,  # type: ignore[arg-type]
                    holder,
                    context,
                    server_side=True,
                    ssl_handshake_timeout=handshake_timeout,
                )
            except asyncio.CancelledError:
                raw.abort()  # type: ignore[attr-defined]
                raise
            except (OSError, TimeoutError, EOFError) as exc:
                peer = raw.get_extra_info("peername")
                raw.abort()  # type: ignore[attr-defined]
                on_failure(str(peer[0]) if peer else "unknown", exc)
                return
            if secured is None:  # closed during the handshake
                raw.abort()  # type: ignore[attr-defined]
                return
            secured.set_protocol(self)
            super().connection_made(secured)
            for chunk in holder.chunks:
                self.data_received(chunk)
            if holder.eof:
                self.eof_received()
            if holder.lost is not None:
                self.connection_lost(holder.lost[0])

    return TLSServerConnection
