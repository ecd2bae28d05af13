"""``wslab serve --redis URL``, ``--workers N``, ``--data DIR``: the rooms in Redis or Valkey.

* ``--redis URL``: this process keeps its rooms in that engine, shared with
  every other ``wslab serve`` pointed at it (on this machine or others);
* without ``--redis``, ``--workers`` or ``--data`` start an **embedded Valkey**
  (:class:`~wslab.net.engine.EmbeddedValkey`) on 127.0.0.1 and stop it on exit.
  It dies with its parent even after SIGKILL; with ``--data DIR`` its
  append-only file lives in DIR, written every second, and is read back by the
  next ``wslab serve --data DIR``: same epoch, seq continuing;
* ``--workers N``: N worker processes listen on one port with SO_REUSEPORT
  (the kernel spreads new connections over them) and share the rooms. The
  parent supervises them: a worker that dies is started again, and every
  worker dies with the parent. A client of a dead worker reconnects to another
  one and re-joins with ``since``: it misses nothing.

Exit status as for ``wslab serve``; a Redis that cannot be reached at start is
one line on stderr and status 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import IO, TextIO

from wslab.classroom.serve import STOP_TIMEOUT, ServeOptions, _print_banner, serve
from wslab.net.engine import EmbeddedValkey, EngineUnavailable, _die_with_parent
from wslab.net.redis_backplane import COMMAND_TIMEOUT, RedisBackplane, describe

__all__ = ["run", "WORKER_START_TIMEOUT"]

WORKER_START_TIMEOUT = 30.0
"""Seconds a worker may take to listen (Python start-up on a busy machine)."""


def run(options: ServeOptions, out: TextIO = sys.stdout) -> int:
    """Serve with the rooms in Redis/Valkey as ``options`` say; return the exit status."""
    engine: EmbeddedValkey | None = None
    url = options.redis
    note = ""
    if url is None:
        try:
            engine = EmbeddedValkey(options.data).start()
        except (EngineUnavailable, OSError) as exc:
            print(f"wslab serve: cannot start the embedded Valkey: {exc}", file=sys.stderr, flush=True)
            return 1
        url = engine.url
        note = " (embedded: started and stopped by wslab serve)"
        if options.data is not None:
            where = f"{engine.data_dir} (Valkey's append-only file, written every second)"
        else:
            where = "not kept: a temporary directory, removed when wslab serve stops (--data DIR keeps it)"
    else:
        where = f"in that engine ({describe(url)}), as it is configured to keep it"
    try:
        if options.workers == 1:
            backplane = RedisBackplane(url, where=where)
            try:
                return asyncio.run(serve(options, out=out, backplane=backplane, rooms_note=note))
            except KeyboardInterrupt:
                return 0
        return _supervise(options, url, where, note, out)
    finally:
        if engine is not None:
            engine.stop()


def _check_reachable(url: str) -> str:
    """The engine's name and version; raises ConnectionError with one line when it cannot be reached."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=COMMAND_TIMEOUT, socket_connect_timeout=COMMAND_TIMEOUT)
    try:
        info = client.info("server")
    except (redis.RedisError, OSError) as exc:
        raise ConnectionError(f"cannot reach Redis at {describe(url)}: {exc}") from None
    finally:
        client.close()
    if "valkey_version" in info:
        return f"Valkey {info['valkey_version']} at {describe(url)}"
    return f"Redis {info.get('redis_version', '?')} at {describe(url)}"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _worker_argv(options: ServeOptions, url: str, port: int) -> list[str]:
    cfg = options.config
    argv = [sys.executable, "-m", "wslab.cli", "serve", "--host", cfg.host, "--port", str(port)]
    argv += ["--room", options.room, "--redis", url, "--reuse-port", "--no-banner"]
    if cfg.token is not None:
        argv += ["--token", cfg.token]
    for origin in cfg.allowed_origins:
        argv += ["--origin", origin]
    argv += ["--admin-token", options.admin_token]  # one admin token for the room, whichever worker answers
    if cfg.certfile is not None:
        argv += ["--certfile", cfg.certfile] + (["--keyfile", cfg.keyfile] if cfg.keyfile else [])
    return argv


class _Worker:
    def __init__(self, index: int, argv: list[str], out: TextIO) -> None:
        self.index, self.argv, self.out = index, argv, out
        self.ready = threading.Event()
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen[str]:
        self.ready.clear()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        process = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True, env=env,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509
        )
        assert process.stdout is not None
        threading.Thread(target=self._forward, args=(process.stdout,), daemon=True).start()
        return process

    def _forward(self, stream: IO[str]) -> None:
        for line in stream:
            if "listening on port" in line:
                self.ready.set()
                continue
            print(f"[worker {self.index}] {line.rstrip()}", file=self.out, flush=True)

    def restart(self) -> None:
        self.process = self._spawn()


def _supervise(options: ServeOptions, url: str, where: str, note: str, out: TextIO) -> int:
    try:
        engine = _check_reachable(url)
    except ConnectionError as exc:
        print(f"wslab serve: {exc}", file=sys.stderr, flush=True)
        return 1
    port = options.config.port or _free_port(options.config.host)
    argv = _worker_argv(options, url, port)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    workers = [_Worker(i + 1, argv, out) for i in range(options.workers)]
    try:
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        for worker in workers:
            while not worker.ready.wait(0.1):
                if worker.process.poll() is not None or time.monotonic() > deadline or stop.is_set():
                    print(
                        f"wslab serve: worker {worker.index} did not start (port {port} taken, or see above)",
                        file=sys.stderr, flush=True,
                    )
                    return 1
        pids = ", ".join(str(w.process.pid) for w in workers)
        rooms = [
            f"Rooms: {engine}{note}",
            f"Data: {where}",
            f"Workers: {len(workers)} processes on port {port} (pids {pids})",
        ]
        _print_banner(options, port, out, rooms)
        while not stop.wait(0.2):
            for worker in workers:
                code = worker.process.poll()
                if code is not None:
                    how = f"signal {-code}" if code < 0 else f"status {code}"
                    print(f"wslab serve: worker {worker.index} ended with {how}; starting it again",
                          file=out, flush=True)
                    worker.restart()
        print(f"wslab serve: stopping {len(workers)} workers", file=out, flush=True)
        return 0
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.terminate()
        for worker in workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(STOP_TIMEOUT + 1)
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait(STOP_TIMEOUT)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        print("wslab serve: stopped", file=out, flush=True)
