"""In-kernel server start: from the call to a completed WebSocket handshake.

    python -m bench.startup wslab|bare    # from the repository root

Run in a fresh process per measurement by :mod:`bench.run` (imports are done
before the clock starts, as in a notebook where ``import wslab`` ran in an
earlier cell). Prints one JSON line:

* ``returned_ms``: the start call returned (for ``wslab``, ``wslab.start_server()``
  with its defaults; it returns once the socket listens);
* ``accepting_ms``: a client completed the opening handshake on ``/echo``;
* ``import_ms``: the first use of ``wslab.start_server``, which imports the
  server's modules (``wslab`` exports lazily), before the clock starts; 0 for ``bare``.

``bare`` is the reference: a daemon thread with its own event loop running
``websockets.asyncio.server.serve`` with an echo handler, the least an
in-kernel server can do.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.sync.client import connect

import wslab

__all__ = ["start_bare", "main"]


def start_bare() -> tuple[int, threading.Event, list[Any]]:
    """The reference: ``serve`` with an echo handler in a daemon thread's own loop; its port once it listens.

    Also returns the event set once it listens and a box holding its loop and port.
    Raises :class:`TimeoutError` if it does not listen within 10 s.
    """
    ready = threading.Event()
    box: list[Any] = []

    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    def run() -> None:
        loop = asyncio.new_event_loop()
        box.append(loop)

        async def main() -> None:
            server = await serve(echo, "127.0.0.1", 0)
            box.append(server.sockets[0].getsockname()[1])
            ready.set()
            await server.serve_forever()

        try:
            loop.run_until_complete(main())
        except BaseException:
            pass

    threading.Thread(target=run, daemon=True, name="bare server").start()
    if not ready.wait(10):
        raise TimeoutError("bare server did not start in 10 s")
    return int(box[1]), ready, box


def main(argv: list[str] | None = None) -> None:
    """Measure one start of ``wslab`` or ``bare`` (the first argument) and print it as one JSON line."""
    which = (sys.argv[1:] if argv is None else argv)[0]
    # ``wslab`` exports lazily: the first use of ``wslab.start_server`` imports the
    # server's modules. Done here, before the clock, as the docstring promises; its
    # time is reported on its own (``import_ms``).
    t_import = time.perf_counter()
    start_server = wslab.start_server if which == "wslab" else None
    import_ms = (time.perf_counter() - t_import) * 1e3
    t0 = time.perf_counter()
    if start_server is not None:
        handle = start_server()
        port = handle.port
    else:
        port, _, _ = start_bare()
    t1 = time.perf_counter()
    with connect(f"ws://127.0.0.1:{port}/echo", open_timeout=10, close_timeout=2) as ws:
        t2 = time.perf_counter()
        ws.send("ping")
        assert ws.recv(timeout=10) == "ping"
    print(json.dumps({"returned_ms": (t1 - t0) * 1e3, "accepting_ms": (t2 - t0) * 1e3, "import_ms": import_ms}),
          flush=True)
    if which == "wslab":
        handle.stop(timeout=5)


if __name__ == "__main__":
    main()
