"""What a chat server can be told: :class:`ServerConfig`, and the rules about where it may listen.

A server that other machines can reach must have a token (:func:`is_loopback`
says which hosts only this machine reaches; :func:`generate_token` makes one).
The config is plain data, validated when it is made, so a bad value is an error
before anything listens. :mod:`wslab.server.chat_server` serves it;
:mod:`wslab.classroom.options` builds it from ``wslab serve``'s options.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass

from wslab.core import protocol as p
from wslab.core.admission import validate_join_code

__all__ = ["ServerConfig", "generate_token", "is_loopback"]


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach: 127.x, ``::1``, ``localhost``."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False



@dataclass(frozen=True)
class ServerConfig:
    """Everything a server can be told. Defaults suit a learner's kernel.

    ``token`` of ``None`` means no token is needed, which is allowed on loopback
    only: a server that other machines can reach must have a token (``wslab
    serve`` generates one), so a config off loopback without one is a
    :class:`ValueError`.
    """

    host: str = "127.0.0.1"
    port: int = 0
    history_size: int = p.HISTORY_SIZE
    typing_timeout: float = p.TYPING_TIMEOUT
    rate: float = p.RATE_PER_SECOND
    burst: int = p.RATE_BURST
    flood_strikes: int = p.FLOOD_STRIKES
    max_frame_bytes: int = p.MAX_FRAME_BYTES
    slow_consumer_bytes: int = p.SLOW_CONSUMER_BYTES
    token: str | None = None
    allowed_origins: tuple[str, ...] = ()
    update_interval: float | None = 1.0
    update_seed: int = 8
    compression: str | None = None
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    close_timeout: float = 2.0
    index_html: str | None = None
    epoch: str | None = None
    """The epoch of the hub's rooms (see :class:`~wslab.core.hub.Hub`); None: a fresh random one."""
    reuse_port: bool = False
    """Bind with SO_REUSEPORT, so several processes share the port (``wslab serve --workers``)."""
    certfile: str | None = None
    """A PEM certificate (chain): serve ``wss://`` and ``https://`` on the port (see :mod:`wslab.server.tls`)."""
    keyfile: str | None = None
    """The certificate's private key, when it is not in ``certfile``."""
    join_code: str | None = None
    """A short code learners may give instead of the token (:mod:`wslab.core.admission`); needs a token."""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0 to 65535, got {self.port}")
        if self.update_interval is not None and self.update_interval <= 0:
            raise ValueError("update_interval must be > 0 or None")
        if self.token is None and not is_loopback(self.host):
            raise ValueError(
                f"host {self.host!r} lets other machines connect, so the server needs a token: "
                "pass token=wslab.server.generate_token() (learners add ?token=... to the URL), "
                "or use wslab serve, which makes one"
            )
        if self.token is not None and not self.token:
            raise ValueError("token must not be empty")
        if self.epoch is not None:
            p.validate_epoch(self.epoch)
        if self.keyfile is not None and self.certfile is None:
            raise ValueError("keyfile needs certfile: give the certificate too")
        if self.join_code is not None:
            if self.token is None:
                raise ValueError("join_code needs a token: without one, everyone may join anyway")
            object.__setattr__(self, "join_code", validate_join_code(self.join_code))


def generate_token() -> str:
    """A fresh random token for ``wslab serve`` (URL-safe, 16 bytes of entropy)."""
    return secrets.token_urlsafe(16)
