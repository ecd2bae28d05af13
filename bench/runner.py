"""Orchestration: per repetition, start each server in a subprocess, drive it with the load client, stop it.

A :class:`Runner` runs the repetitions of one benchmark run (:meth:`Runner.run`).
Each repetition starts every server kind in a process of its own, in an order
rotated from one repetition to the next (:func:`rotated`), drives it with the
same load client (:mod:`bench.peers_load`, another process) through every
scenario of its plan, and stops it; then the scaling rows, the memory hub and
one or two hub workers on an embedded Valkey. The server runs on the server's
CPUs and the load client on the client's when they are pinned.

Around the repetitions: :func:`install_node` (``ws`` for the Node peer, with
npm), :func:`hub_micro` and :func:`startup_times` (short measuring processes of
their own), and :func:`versions` of what is measured. Every wait is bounded and
every process is stopped by the time a block returns, also when it raises
(:mod:`bench.procs` stops any left over on the way out).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from bench import procs
from bench.plans import LABELS, SCALING, SCALING_LABELS, Plan
from bench.stats import Results
from wslab.cluster.engine import EmbeddedValkey
from wslab.cluster.workers import free_port
from wslab.core.errors import EngineUnavailable

__all__ = [
    "BENCH",
    "ROOT",
    "RESULTS",
    "Runner",
    "rotated",
    "install_node",
    "hub_micro",
    "startup_times",
    "versions",
]

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
"""Where each run's raw results and its servers' log go (ignored by git)."""

_PY = sys.executable
_T = TypeVar("_T")


def rotated(items: Sequence[_T], rep: int) -> list[_T]:
    """``items`` starting at ``rep`` (modulo their number), so that each takes its turn at going first."""
    if not items:
        return []
    k = rep % len(items)
    return [*items[k:], *items[:k]]


@dataclass
class Runner:
    """The repetitions of one run: servers' stderr to ``log_path``, the load client bounded by ``timeout`` s."""

    log_path: Path
    timeout: float
    server_cpus: set[int] | None = None
    """CPUs the servers (and the Valkey) are pinned to; None: not pinned."""
    client_cpus: set[int] | None = None
    """CPUs the load client is pinned to; None: not pinned."""
    started: float = field(default_factory=time.monotonic)

    def run(
        self, reps: int, blocks: list[str], plan: Plan, compression_plan: Plan, scaling_plan: Plan,
        results: Results, scaling: Results,
    ) -> None:
        """Run ``reps`` repetitions, appending each block's figures to ``results`` and ``scaling``.

        ``blocks``: server kinds, ``KIND+deflate`` for the compression plan; the scaling
        rows run when ``scaling`` has their kinds (:data:`bench.plans.SCALING`).
        """
        for rep in range(reps):
            for kind in rotated(blocks, rep):
                self._log(rep, reps, LABELS[kind])
                out = self.run_block(kind, compression_plan if "+" in kind else plan)
                if "error" in out:
                    procs.log(f"  {kind}: {out['error']}")
                results[kind].append(out)
            for kind in rotated(SCALING, rep) if scaling else []:
                self._log(rep, reps, f"scaling: {SCALING_LABELS[kind]}")
                out = self.run_scaling_block(kind, scaling_plan)
                if "error" in out:
                    procs.log(f"  {kind}: {out['error']}")
                scaling[kind].append(out)

    def _log(self, rep: int, reps: int, what: str) -> None:
        procs.log(f"[rep {rep + 1}/{reps}] {what} ({time.monotonic() - self.started:.0f} s)")

    def start_server(self, kind: str, extra: Sequence[str] = ()) -> tuple[subprocess.Popen[bytes], int]:
        """Start one server (``hub``, ``raw``, ``sio``, ``node``; ``KIND+deflate``: compressing); wait for its port."""
        base, _, variant = kind.partition("+")
        if base == "node":
            cmd = ["node", str(BENCH / "relay.js")]
        else:
            cmd = [_PY, "-m", "bench.servers", base, *(["--compression", variant] if variant else []), *extra]
        return procs.start_ready(cmd, what=f"{kind} server", cwd=ROOT, log_path=self.log_path, cpus=self.server_cpus)

    def run_block(self, kind: str, plan: Plan) -> dict[str, Any]:
        """One server, one load-client process, every scenario of ``plan`` (``syscall``: :meth:`run_syscall`)."""
        if kind == "syscall":
            return self.run_syscall(plan)
        try:
            server, port = self.start_server(kind)
        except RuntimeError as exc:
            return {"error": str(exc)}
        try:
            return self.run_client(kind.partition("+")[0], port, str(server.pid), plan)
        finally:
            procs.stop(server)

    def run_syscall(self, plan: Plan) -> dict[str, Any]:
        """``socket.send`` alone (:func:`bench.floor.syscall_figures`) on the server's CPUs, read on the client's."""
        cmd = [_PY, "-m", "bench.floor", "syscall", "--plan", json.dumps(plan),
               "--drain-cpus", ",".join(str(c) for c in sorted(self.client_cpus or ()))]
        proc = procs.spawn(cmd, cwd=ROOT, cpus=self.server_cpus, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        try:
            out, _ = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"the syscall measurement did not finish within {self.timeout:g} s"}
        finally:
            procs.stop(proc)
        if proc.returncode != 0:
            return {"error": f"the syscall measurement exited with {proc.returncode}"}
        figures: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
        return figures

    def run_scaling_block(self, kind: str, plan: Plan) -> dict[str, Any]:
        """The scaling rows: the memory hub, or 1 or 2 hub workers on one port sharing an embedded Valkey.

        Server CPU counts every server process and the Valkey; the Valkey runs on the server's CPU.
        """
        if kind == "memory":
            return self.run_block("hub", plan)
        try:
            engine = EmbeddedValkey().start()
        except EngineUnavailable as exc:
            return {"error": f"no Valkey: {exc}"}
        workers: list[subprocess.Popen[bytes]] = []
        try:
            assert engine.process is not None
            if self.server_cpus:
                os.sched_setaffinity(engine.process.pid, self.server_cpus)
            port = free_port()
            try:
                for _ in range(int(kind.removeprefix("redis"))):
                    proc, _port = self.start_server("hub", ["--redis", engine.url, "--port", str(port)])
                    workers.append(proc)
            except RuntimeError as exc:
                return {"error": str(exc)}
            pids = ",".join(str(p) for p in [*(w.pid for w in workers), engine.process.pid])
            return self.run_client("hub", port, pids, plan, engine_pid=engine.process.pid)
        finally:
            for proc in workers:
                procs.stop(proc)
            engine.stop()

    def run_client(
        self, kind: str, port: int, pids: str, plan: Plan, engine_pid: int | None = None
    ) -> dict[str, Any]:
        """The load client against a server already listening on ``port``; ``pids``: whose CPU counts."""
        client = procs.spawn(
            [_PY, "-m", "bench.peers_load", "--kind", kind, "--port", str(port),
             "--server-pid", pids, "--plan", json.dumps(plan), "--timeout", str(self.timeout)]
            + (["--engine-pid", str(engine_pid)] if engine_pid else []),
            cwd=ROOT, cpus=self.client_cpus, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        )
        try:
            out, _ = client.communicate(timeout=self.timeout + 15)
        except subprocess.TimeoutExpired:
            return {"error": f"load client did not finish within {self.timeout + 15:g} s"}
        finally:
            procs.stop(client)  # no-op once it has exited; kills it on timeout or Ctrl-C
        if client.returncode != 0:
            return {"error": f"load client exited with {client.returncode}"}
        figures: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
        return figures


def install_node() -> str | None:
    """Install ``ws`` for the Node peer; return None if ready, else why Node is skipped."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node or npm is not installed"
    if (BENCH / "node_modules" / "ws" / "package.json").exists():
        return None
    procs.log("installing ws for the Node peer (npm install in bench/) ...")
    try:
        done = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--no-save", "--loglevel=error"],
            cwd=BENCH, capture_output=True, timeout=180,
        )
    except subprocess.TimeoutExpired:
        return "npm install did not finish within 180 s"
    if done.returncode != 0 or not (BENCH / "node_modules" / "ws").exists():
        said = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
        why = " / ".join(line.strip() for line in said if line.strip())[:160] or "no message"
        return f"npm install in bench/ failed with exit code {done.returncode}: {why}"
    return None


def hub_micro(quick: bool) -> dict[str, float] | None:
    """The hub sans I/O (:mod:`bench.hub_micro`, a process of its own, 120 s at most); None if it failed."""
    args = ["--messages", "2000", "--reps", "1"] if quick else ["--messages", "5000", "--reps", "3"]
    try:
        figures: dict[str, float] = procs.run_json([_PY, "-m", "bench.hub_micro", *args], cwd=ROOT, timeout=120)
    except (subprocess.TimeoutExpired, ValueError, IndexError):
        procs.log("hub_micro failed")
        return None
    return figures


def startup_times(reps: int) -> dict[str, list[dict[str, float]]]:
    """``reps`` in-kernel starts of each kind (:mod:`bench.startup`, a fresh process each, 60 s at most)."""
    out: dict[str, list[dict[str, float]]] = {"wslab": [], "bare": []}
    for _ in range(reps):
        for which in ("wslab", "bare"):
            try:
                out[which].append(procs.run_json([_PY, "-m", "bench.startup", which], cwd=ROOT, timeout=60))
            except (subprocess.TimeoutExpired, ValueError, IndexError):
                procs.log(f"startup measurement {which} failed")
    return out


def versions() -> dict[str, str]:
    """The versions of Python, the Python servers' libraries, Node and ``ws``, as measured."""
    out = {"python": platform.python_version()}
    for dist in ("websockets", "python-socketio", "python-engineio", "uvicorn"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "missing"
    if shutil.which("node"):
        out["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    ws_pkg = BENCH / "node_modules" / "ws" / "package.json"
    if ws_pkg.exists():
        out["ws"] = json.loads(ws_pkg.read_text())["version"]
    return out
