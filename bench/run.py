"""wslab's chat hub against raw websockets, python-socketio and Node's ws, side by side.

From the repository root (``bench`` is a package there, ``wslab`` the editable install)::

    python -m bench.run            # 3 repetitions, writes docs/benchmarks.md (a few minutes)
    python -m bench.run --quick    # 1 short repetition, results in bench/results/ only (< 60 s)

Each repetition starts every server in a subprocess of its own (order rotated
from one repetition to the next), drives it with the same load client
(``python -m bench.peers_load``, another subprocess) through every scenario, and stops it.
Server CPU time and memory are read from the server process's own ``/proc``
entries. Figures are medians over repetitions with their min-max spread, and
ratios are taken per repetition against raw websockets of the same repetition
(the median of those paired ratios is shown), because this machine is shared
and its speed drifts over minutes.

Node's peer (``bench/relay.js``) needs ``ws``, which this script installs with
``npm install`` into ``bench/node_modules``; without node/npm, or if the
install fails, Node's column is skipped with a message saying why.

Every wait has a timeout and every subprocess is stopped on the way out,
including on Ctrl-C. Raw results go to ``bench/results/`` (ignored by git).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DOCS = ROOT / "docs" / "benchmarks.md"
RESULTS = BENCH / "results"
PY = sys.executable

FULL_PLAN = {
    "fanout_n": [500, 100],
    "burst_messages": 200,
    "paced_messages": {"500": 200, "100": 60},
    "paced_rate": 20.0,
    "echo_count": 1000,
    "echo_clients": 50,
    "echo_each": 200,
    "setup_concurrency": 20,
    "storm_n": 500,
    "storm_chats_before": 20,
    "storm_chats_during": 5,
    "storm_delay_ms": 100,
}
QUICK_PLAN = {
    "fanout_n": [250, 50],
    "burst_messages": 50,
    "paced_messages": {"250": 30, "50": 20},
    "paced_rate": 20.0,
    "echo_count": 300,
    "echo_clients": 50,
    "echo_each": 40,
    "setup_concurrency": 20,
    "storm_n": 250,
    "storm_chats_before": 20,
    "storm_chats_during": 5,
    "storm_delay_ms": 100,
}
COMPRESSION_PLAN = {
    "deflate_n": 250, "burst_messages": 100, "echo_clients": 50, "echo_each": 100, "setup_concurrency": 20
}
QUICK_COMPRESSION_PLAN = {**COMPRESSION_PLAN, "deflate_n": 50, "burst_messages": 50, "echo_each": 20}

# Scaling out (docs/scaling.md): the same fan-out, memory hub against rooms on Redis/Valkey.
SCALING_PLAN = {"fanout_n": [500], "burst_messages": 200, "paced_messages": {"500": 100}, "paced_rate": 20.0,
                "setup_concurrency": 20}
QUICK_SCALING_PLAN = {"fanout_n": [250], "burst_messages": 50, "paced_messages": {"250": 30}, "paced_rate": 20.0,
                      "setup_concurrency": 20}
SCALING = ["memory", "redis1", "redis2"]
SCALING_LABELS = {"memory": "memory hub, 1 process", "redis1": "1 worker on Redis", "redis2": "2 workers on Redis"}

KINDS = ["hub", "raw", "sio", "node"]
LABELS = {
    "hub": "wslab hub",
    "raw": "raw websockets",
    "sio": "python-socketio",
    "node": "Node ws",
    "hub+deflate": "wslab hub, deflate",
    "raw+deflate": "raw websockets, deflate",
}

def rows(plan: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """The table's rows for ``plan``: (section, figure, scenario, metric, unit)."""
    out = [
        ("Echo", "1 client round trip p50", "echo1", "rtt_p50_us", "µs"),
        ("Echo", "1 client round trip p99", "echo1", "rtt_p99_us", "µs"),
        ("Echo", f"{plan['echo_clients']} clients, messages/s", "echo50", "msgs_per_s", "msg/s"),
        ("Echo", f"{plan['echo_clients']} clients, server CPU per message", "echo50", "cpu_us_per_msg", "µs"),
    ]
    for n in plan["fanout_n"]:
        paced = f"Fan-out N={n}, paced {plan['paced_rate']:g} msg/s"
        out += [
            (f"Fan-out N={n}, burst", "deliveries/s", f"burst{n}", "deliveries_per_s", "/s"),
            (f"Fan-out N={n}, burst", "server CPU per delivery", f"burst{n}", "cpu_us_per_delivery", "µs"),
            (f"Fan-out N={n}, burst", "delivery latency p50", f"burst{n}", "lat_p50_ms", "ms"),
            (f"Fan-out N={n}, burst", "delivery latency p99", f"burst{n}", "lat_p99_ms", "ms"),
            (paced, "server CPU per delivery", f"paced{n}", "cpu_us_per_delivery", "µs"),
            (paced, "delivery latency p50", f"paced{n}", "lat_p50_ms", "ms"),
            (paced, "delivery latency p99", f"paced{n}", "lat_p99_ms", "ms"),
        ]
    conn = f"Connections ({max(plan['fanout_n'])}, {plan['setup_concurrency']} at a time)"
    out += [
        (conn, "setup rate (open + join)", "setup", "setup_per_s", "conn/s"),
        (conn, "server CPU per setup, until all have seen all online", "setup", "setup_cpu_us", "µs"),
        (conn, "bytes sent to the clients while they join", "setup", "setup_rx_mib", "MiB"),
        (conn, "server memory per idle connection", "setup", "rss_per_conn_kib", "KiB"),
    ]
    if plan.get("storm_n"):
        storm = f"Reconnect storm ({plan['storm_n']}, drop_all 1012)"
        out += [
            (storm, "time until all re-joined and caught up", "storm", "storm_back_ms", "ms"),
            (storm, "server CPU per reconnect", "storm", "storm_cpu_us", "µs"),
            (storm, "bytes sent to the clients", "storm", "storm_rx_mib", "MiB"),
        ]
    return out


BEFORE_JOIN = {
    "when": "2026-11-27 10:48 UTC", "protocol": "presence v1", "mib": 434.0, "cpu_us": 3342.0, "cpu_ratio": 13.14
}
"""The join figures of the last run before presence v2 (docs/benchmarks.md at that time):
500 learners joining 20 at a time, hub, median of 3 repetitions."""

JOIN_TARGETS = {"mib_share": 0.02, "cpu_ratio": 2.0}
"""Issue "Protocol v2 and one client core": bytes while joining at most 2 % of BEFORE_JOIN,
server CPU per setup at most 2x raw websockets'."""

_children: list[subprocess.Popen[Any]] = []

PIN: dict[str, set[int] | None] = {"server": None, "client": None}
"""CPUs the server and the load client are pinned to (``--pin``), so that they never
share a core with each other and sit on the same cores for every column."""


def pinned(role: str) -> Any:
    cpus = PIN[role]
    return (lambda: os.sched_setaffinity(0, cpus)) if cpus else None


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def raise_nofile(want: int = 65536) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# ---------------------------------------------------------------- subprocesses


def stop_child(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        try:
            if proc.stdin:
                proc.stdin.close()
        except OSError:
            pass
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    if proc in _children:
        _children.remove(proc)


def stop_all_children() -> None:
    for proc in list(_children):
        stop_child(proc, 5.0)


def start_server(kind: str, log_path: Path, extra: list[str] | None = None) -> tuple[subprocess.Popen[Any], int]:
    """Start one server subprocess and wait (bounded) for its ``READY <port>`` line."""
    base, _, variant = kind.partition("+")
    if base == "node":
        cmd = ["node", str(BENCH / "relay.js")]
    else:
        cmd = [PY, "-m", "bench.servers", base] + (["--compression", variant] if variant else []) + (extra or [])
    with open(log_path, "ab") as errors:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, cwd=ROOT, preexec_fn=pinned("server")
        )
    _children.append(proc)
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + 20
    line = b""
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        if not sel.select(max(0.0, deadline - time.monotonic())):
            break
        chunk = os.read(proc.stdout.fileno(), 1)
        if not chunk:
            break
        line += chunk
    sel.close()
    text = line.decode(errors="replace").strip()
    if not text.startswith("READY "):
        stop_child(proc)
        raise RuntimeError(f"{kind} server did not start (got {text!r}); see {log_path}")
    return proc, int(text.split()[1])


def run_block(kind: str, plan: dict[str, Any], log_path: Path, timeout: float) -> dict[str, Any]:
    """One server, one load-client process, every scenario of ``plan``."""
    try:
        server, port = start_server(kind, log_path)
    except RuntimeError as exc:
        return {"error": str(exc)}
    try:
        return run_client(kind.partition("+")[0], port, str(server.pid), plan, timeout)
    finally:
        stop_child(server)


def run_scaling_block(kind: str, plan: dict[str, Any], log_path: Path, timeout: float) -> dict[str, Any]:
    """The scaling rows: the memory hub, or 1 or 2 hub workers on one port sharing an embedded Valkey.

    Server CPU counts every server process and the Valkey; the Valkey runs on the server's CPU.
    """
    if kind == "memory":
        return run_block("hub", plan, log_path, timeout)
    from wslab.cluster.engine import EmbeddedValkey, EngineUnavailable

    try:
        engine = EmbeddedValkey().start()
    except EngineUnavailable as exc:
        return {"error": f"no Valkey: {exc}"}
    workers: list[subprocess.Popen[Any]] = []
    try:
        assert engine.process is not None
        if PIN["server"]:
            os.sched_setaffinity(engine.process.pid, PIN["server"])
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        try:
            for _ in range(int(kind.removeprefix("redis"))):
                proc, _port = start_server("hub", log_path, ["--redis", engine.url, "--port", str(port)])
                workers.append(proc)
        except RuntimeError as exc:
            return {"error": str(exc)}
        pids = ",".join(str(p) for p in [*(w.pid for w in workers), engine.process.pid])
        return run_client("hub", port, pids, plan, timeout, engine_pid=engine.process.pid)
    finally:
        for proc in workers:
            stop_child(proc)
        engine.stop()


def run_client(
    kind: str, port: int, pids: str, plan: dict[str, Any], timeout: float, engine_pid: int | None = None
) -> dict[str, Any]:
    """The load client against a server already listening on ``port``; ``pids``: whose CPU counts."""
    client = subprocess.Popen(
        [PY, "-m", "bench.peers_load", "--kind", kind, "--port", str(port),
         "--server-pid", pids, "--plan", json.dumps(plan), "--timeout", str(timeout)]
        + (["--engine-pid", str(engine_pid)] if engine_pid else []),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=None, cwd=ROOT, preexec_fn=pinned("client"),
    )
    _children.append(client)
    try:
        out, _ = client.communicate(timeout=timeout + 15)
    except subprocess.TimeoutExpired:
        return {"error": f"load client did not finish within {timeout + 15:g} s"}
    finally:
        stop_child(client)  # no-op once it has exited; kills it on timeout or Ctrl-C
    if client.returncode != 0:
        return {"error": f"load client exited with {client.returncode}"}
    return json.loads(out.decode().strip().splitlines()[-1])




def install_node() -> str | None:
    """Install ``ws`` for the Node peer; return None if ready, else why Node is skipped."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node or npm is not installed"
    if (BENCH / "node_modules" / "ws" / "package.json").exists():
        return None
    log("installing ws for the Node peer (npm install in bench/) ...")
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
    args = ["--messages", "2000", "--reps", "1"] if quick else ["--messages", "5000", "--reps", "3"]
    try:
        done = subprocess.run([PY, "-m", "bench.hub_micro", *args], capture_output=True, timeout=120, cwd=ROOT)
        return json.loads(done.stdout.decode().strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError):
        log("hub_micro failed")
        return None


def startup_times(reps: int) -> dict[str, list[dict[str, float]]]:
    out: dict[str, list[dict[str, float]]] = {"wslab": [], "bare": []}
    for _ in range(reps):
        for which in ("wslab", "bare"):
            try:
                done = subprocess.run(
                    [PY, "-m", "bench.startup", which], capture_output=True, timeout=60, cwd=ROOT
                )
                out[which].append(json.loads(done.stdout.decode().strip().splitlines()[-1]))
            except (subprocess.TimeoutExpired, ValueError, IndexError):
                log(f"startup measurement {which} failed")
    return out


# ---------------------------------------------------------------- figures


def versions() -> dict[str, str]:
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


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "cpu": model, "kernel": platform.release(),
            "load": load()}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def value(results: dict[str, list[dict[str, Any]]], kind: str, scenario: str, metric: str) -> list[float | None]:
    out: list[float | None] = []
    for rep in results.get(kind, []):
        v = rep.get(scenario, {}).get(metric)
        out.append(float(v) if isinstance(v, (int, float)) else None)
    return out


def summary(values: list[float | None]) -> tuple[float, float, float] | None:
    got = [v for v in values if v is not None]
    if not got:
        return None
    return statistics.median(got), min(got), max(got)


def paired_ratio(a: list[float | None], b: list[float | None]) -> tuple[float, float, float] | None:
    ratios = [x / y for x, y in zip(a, b, strict=False) if x is not None and y not in (None, 0)]
    return summary(ratios)  # type: ignore[arg-type]


def fmt(x: float) -> str:
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def cell(s: tuple[float, float, float] | None, spread: bool = True) -> str:
    if s is None:
        return "n/a"
    med, lo, hi = s
    return f"{fmt(med)} ({fmt(lo)}–{fmt(hi)})" if spread and lo != hi else fmt(med)


def ratio_cell(s: tuple[float, float, float] | None) -> str:
    if s is None:
        return "n/a"
    med, lo, hi = s
    return f"{med:.2f}× ({lo:.2f}–{hi:.2f})" if lo != hi else f"{med:.2f}×"


def render(data: dict[str, Any]) -> str:
    results = data["results"]
    kinds = [k for k in KINDS if k in results]
    lines = [
        f"Run {data['when']} with `{data['command']}`: {data['reps']} repetition(s); "
        f"each cell is the median (min–max); ratios are medians of per-repetition ratios "
        f"against raw websockets of the same repetition.",
        "",
        f"Machine: {data['machine']['nproc']} × {data['machine']['cpu']}, Linux {data['machine']['kernel']}, "
        f"load average {data['machine']['load']} at the start and {data.get('load_end', '?')} at the end "
        "(the machine is shared with other work). "
        "Versions: " + ", ".join(f"{k} {v}" for k, v in data["versions"].items()) + ".",
        "",
    ]
    if data.get("skipped"):
        lines += [f"Skipped: {data['skipped']}", ""]
    head = "| Scenario | Figure | " + " | ".join(LABELS[k] for k in kinds) + " | " + " | ".join(
        f"{LABELS[k]} ÷ raw" for k in kinds if k != "raw"
    ) + " |"
    if not kinds:  # --only-scaling
        return "\n".join(lines)
    lines += [head, "|" + "---|" * (2 + len(kinds) + len(kinds) - 1)]
    for section, label, scenario, metric, unit in rows(data["plan"]):
        vals = {k: value(results, k, scenario, metric) for k in kinds}
        row = [section, f"{label} ({unit})"]
        row += [cell(summary(vals[k])) for k in kinds]
        row += [ratio_cell(paired_ratio(vals[k], vals["raw"])) for k in kinds if k != "raw"]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    comp = [k for k in ("hub+deflate", "raw+deflate") if k in results]
    if comp:
        n = data["compression_plan"]["deflate_n"]
        lines += [
            f"Compression: each server below runs with permessage-deflate enabled and serves, in the same "
            f"process, a room of {n} clients that do not offer it and a room of {n} that do "
            "(ratios paired within the process):",
            "",
            "| Server | Figure | clients without deflate | clients with deflate | with ÷ without |",
            "|---|---|---|---|---|",
        ]
        for k in comp:
            for scenario, figure in (("burst_%s", f"fan-out N={n} burst, server CPU per delivery (µs)"),
                                     ("echo50_%s", "50-client echo, server CPU per message (µs)")):
                metric = "cpu_us_per_delivery" if scenario.startswith("burst") else "cpu_us_per_msg"
                a = value(results, k, scenario % "deflate", metric)
                b = value(results, k, scenario % "plain", metric)
                lines.append(f"| {LABELS[k.partition('+')[0]]} | {figure} | {cell(summary(b))} | "
                             f"{cell(summary(a))} | {ratio_cell(paired_ratio(a, b))} |")
        lines.append("")
    micro = data.get("micro")
    if micro:
        lines += [
            "The hub's own work per chat message, sans I/O (`bench/hub_micro.py`: `hub.receive` of a `chat` "
            "frame, against `json.loads` + `json.dumps` of the same message in the same process; "
            "\"long-running\" is a room that has seen more than `RECENT_IDS` messages):",
            "",
            "| Room size | JSON round trip (µs) | hub, fresh room (µs) | ÷ JSON | hub, long-running room (µs) "
            "| ÷ JSON |",
            "|---|---|---|---|---|---|",
        ]
        for n in (100, 500):
            lines.append(
                f"| {n} | {fmt(micro[f'json_us_per_msg_n{n}'])} | {fmt(micro[f'hub_us_per_msg_n{n}'])} | "
                f"{micro[f'hub_ratio_n{n}']:.2f}× | {fmt(micro[f'hub_long_us_per_msg_n{n}'])} | "
                f"{micro[f'hub_long_ratio_n{n}']:.2f}× |"
            )
        lines.append("")
        if "join_hub_us_n500" in micro:
            lines += [
                "A `join`, sans I/O (`bench/hub_micro.py`: `hub.receive` of each join while a room fills up to N, "
                "and the `tick` that sends the coalesced presence, per member; against parsing the join and "
                "encoding a `welcome` that lists the room, the least the protocol asks):",
                "",
                "| Room size | parse + welcome (µs) | hub (µs) | ÷ parse + welcome |",
                "|---|---|---|---|",
            ]
            for n in (100, 500):
                lines.append(f"| {n} | {fmt(micro[f'join_json_us_n{n}'])} | {fmt(micro[f'join_hub_us_n{n}'])} | "
                             f"{micro[f'join_ratio_n{n}']:.2f}× |")
            lines.append("")
    st = data.get("startup")
    if st:
        w = summary([r["accepting_ms"] for r in st["wslab"]])
        b = summary([r["accepting_ms"] for r in st["bare"]])
        wr = summary([r["returned_ms"] for r in st["wslab"]])
        lines += [
            "In-kernel start, call to first completed WebSocket handshake (fresh process each time, "
            "imports done before):",
            "",
            "| | call returned (ms) | accepting connections (ms) |",
            "|---|---|---|",
            f"| `wslab.start_server()` | {cell(wr)} | {cell(w)} |",
            f"| bare `websockets` serve in a thread | {cell(summary([r['returned_ms'] for r in st['bare']]))} "
            f"| {cell(b)} |",
            "",
        ]
        imp = summary([r["import_ms"] for r in st["wslab"] if "import_ms" in r])
        if imp:
            lines += [f"Not in these figures: the first use of `wslab.start_server` after `import wslab` imports the "
                      f"server's modules (`wslab` exports lazily), {cell(imp)} ms here.", ""]
    lines += targets(data)
    return "\n".join(lines)


def targets(data: dict[str, Any]) -> list[str]:
    results = data["results"]
    big = max(data["plan"]["fanout_n"])
    out = ["Targets (issue 7, defined at N=500):", ""]
    if big != 500:
        out += [f"(This run's largest room is N={big}: an indication only.)", ""]
    hub = value(results, "hub", f"burst{big}", "cpu_us_per_delivery")
    for peer in ("raw", "sio", "node"):
        if peer in results:
            r = paired_ratio(hub, value(results, peer, f"burst{big}", "cpu_us_per_delivery"))
            if r:
                limit = {"raw": 1.25, "sio": 1.0}.get(peer)
                verdict = "" if limit is None else (" (met)" if r[0] <= limit else " (MISSED)")
                bound = f", target at most {limit:g}×" if limit else ""
                out.append(
                    f"- hub ÷ {LABELS[peer]}, server CPU per delivery at N={big} burst: {ratio_cell(r)}{bound}{verdict}"
                )
    paced = summary(value(results, "hub", f"paced{big}", "lat_p99_ms"))
    if paced:
        out.append(f"- hub, paced {data['plan']['paced_rate']:g} msg/s to {big} clients, "
                   f"delivery p99: {cell(paced)} ms, "
                   "target under 50 ms" + (" (met)" if paced[0] < 50 else " (MISSED)"))
    st = data.get("startup")
    if st and st["wslab"]:
        w = summary([r["accepting_ms"] for r in st["wslab"]])
        assert w
        out.append(f"- in-kernel start to accepting: {cell(w)} ms, target under 100 ms"
                   + (" (met)" if w[0] < 100 else " (MISSED)"))
    out.append("")
    quoted = []
    for peer in ("raw", "sio", "node"):
        if peer in results:
            r = paired_ratio(hub, value(results, peer, f"burst{big}", "cpu_us_per_delivery"))
            if r:
                quoted.append(f"{r[0]:.2f}× {LABELS[peer]}" + ("'" if LABELS[peer].endswith("s") else "'s"))
    if quoted:
        out += [
            f"Closing note: at N={big} the hub's server CPU per delivery is " + ", ".join(quoted)
            + " (medians of paired per-repetition ratios, this run).",
            "",
        ]
    out += join_targets(data)
    return out


def join_targets(data: dict[str, Any]) -> list[str]:
    """Before/after for joining and the storm's ratios (issue "Protocol v2 and one client core")."""
    results = data["results"]
    if "hub" not in results:
        return []
    n = max(data["plan"]["fanout_n"])
    b = BEFORE_JOIN
    mib = summary(value(results, "hub", "setup", "setup_rx_mib"))
    cpu = summary(value(results, "hub", "setup", "setup_cpu_us"))
    ratio = paired_ratio(value(results, "hub", "setup", "setup_cpu_us"), value(results, "raw", "setup", "setup_cpu_us"))
    limit_mib = JOIN_TARGETS["mib_share"] * b["mib"]
    out = [f"Joining, before and after (issue \"Protocol v2 and one client core\"; defined at N=500, "
           f"{data['plan']['setup_concurrency']} at a time; \"before\" is the run of {b['when']}, "
           f"{b['protocol']}):", ""]
    if n != 500:
        out += [f"(This run's room is N={n}: an indication only.)", ""]
    out += [
        "| Figure | before | this run | target |",
        "|---|---|---|---|",
        f"| bytes sent to the clients while they join (MiB) | {fmt(b['mib'])} | {cell(mib)} | at most "
        f"{JOIN_TARGETS['mib_share']:.0%} of before ({fmt(limit_mib)})"
        + ("" if mib is None else " (met)" if mib[0] <= limit_mib else " (MISSED)") + " |",
        f"| server CPU per setup (µs) | {fmt(b['cpu_us'])} | {cell(cpu)} | |",
        f"| server CPU per setup, hub ÷ raw websockets | {b['cpu_ratio']:.2f}× | {ratio_cell(ratio)} | at most "
        f"{JOIN_TARGETS['cpu_ratio']:g}×"
        + ("" if ratio is None else " (met)" if ratio[0] <= JOIN_TARGETS["cpu_ratio"] else " (MISSED)") + " |",
        "",
    ]
    if any("storm" in rep for rep in results["hub"]):
        t = paired_ratio(value(results, "hub", "storm", "storm_back_ms"),
                         value(results, "raw", "storm", "storm_back_ms"))
        c = paired_ratio(value(results, "hub", "storm", "storm_cpu_us"), value(results, "raw", "storm", "storm_cpu_us"))
        out += [
            f"Reconnect storm: the hub's time until all {data['plan']['storm_n']} re-joined and caught up is "
            f"{ratio_cell(t)} raw websockets' time until all redid their handshake, and its server CPU per "
            f"reconnect {ratio_cell(c)} raw's (paired per repetition).",
            "",
        ]
    warnings = [
        f"{LABELS[k]}, repetition {i + 1}, {scenario}: {fig['error']}"
        for k, reps in results.items()
        for i, rep in enumerate(reps)
        for scenario, fig in (rep.items() if isinstance(rep, dict) else ())
        if isinstance(fig, dict) and fig.get("error")
    ] + [f"{LABELS[k]}, repetition {i + 1}: {rep['error']}" for k, reps in results.items()
         for i, rep in enumerate(reps) if isinstance(rep.get("error"), str)]
    if warnings:
        out += ["Warnings from this run:", ""] + [f"- {w}" for w in warnings] + [""]
    return out


def render_scaling(data: dict[str, Any]) -> list[str]:
    """The scaling-out table: the memory hub, one and two workers on Redis (Valkey), same run."""
    results = data.get("scaling")
    if not results:
        return []
    n = data["scaling_plan"]["fanout_n"][0]
    burst, paced = f"burst{n}", f"paced{n}"
    kinds = [k for k in SCALING if k in results]
    lines = [
        f"Run {data['when']} with `{data['command']}`: {data['reps']} repetition(s); each cell is the median "
        "(min–max); ratios are medians of per-repetition ratios against the memory hub of the same repetition. "
        f"Machine: {data['machine']['nproc']} × {data['machine']['cpu']}, load average {data['machine']['load']} "
        f"at the start and {data.get('load_end', '?')} at the end (shared with other work). "
        + ("The servers and Valkey share one CPU, the load client has the other (pinned)."
           if data.get("pinned") else "Nothing was pinned: servers, Valkey and the load client share every CPU."),
        "",
        f"Fan-out to N = {n} members of one room ({data['scaling_plan']['burst_messages']} messages in a burst, "
        f"then {data['scaling_plan']['paced_messages'][str(n)]} paced at {data['scaling_plan']['paced_rate']:g}/s), "
        "the same load client, in the same run: wslab's hub with its rooms in memory (one process), and "
        "the hub with its rooms in an embedded Valkey (`RedisBackplane`), as one worker and as two "
        "workers sharing the port (SO_REUSEPORT, so the members are split between them). Server CPU counts "
        "every server process **and Valkey**; the Valkey column is Valkey's share alone. Ratios are "
        "paired per repetition against the memory hub.",
        "",
        "| Figure | " + " | ".join(SCALING_LABELS[k] for k in kinds) + " | "
        + " | ".join(f"{SCALING_LABELS[k]} ÷ memory" for k in kinds if k != "memory") + " |",
        "|" + "---|" * (1 + len(kinds) + len(kinds) - 1),
    ]
    figures = [
        ("deliveries/s, burst (/s)", burst, "deliveries_per_s"),
        ("server CPU per delivery, burst, incl. Valkey (µs)", burst, "cpu_us_per_delivery"),
        ("server CPU per message, burst, incl. Valkey (µs)", burst, "cpu_us_per_msg"),
        ("Valkey's CPU per message, burst (µs)", burst, "engine_cpu_us_per_msg"),
        ("delivery latency p50, burst (ms)", burst, "lat_p50_ms"),
        ("delivery latency p99, burst (ms)", burst, "lat_p99_ms"),
        ("server CPU per delivery, paced, incl. Valkey (µs)", paced, "cpu_us_per_delivery"),
        ("delivery latency p50, paced (ms)", paced, "lat_p50_ms"),
    ]
    for label, scenario, metric in figures:
        vals = {k: value(results, k, scenario, metric) for k in kinds}
        row = [label] + [cell(summary(vals[k])) for k in kinds]
        paired = "memory" in vals and metric != "engine_cpu_us_per_msg"
        row += [ratio_cell(paired_ratio(vals[k], vals["memory"])) if paired else "" for k in kinds if k != "memory"]
        lines.append("| " + " | ".join(row) + " |")
    # The backplane's cost per message: CPU per message on Redis minus the memory hub's, paired per repetition.
    for scenario, how in ((burst, "in the burst"), (paced, "paced")):
        costs = []
        for k in kinds:
            if k == "memory":
                continue
            a, b = value(results, k, scenario, "cpu_us_per_msg"), value(results, "memory", scenario, "cpu_us_per_msg")
            diffs = [x - y for x, y in zip(a, b, strict=False) if x is not None and y is not None]
            if diffs:
                costs.append(f"{SCALING_LABELS[k]}, {fmt(statistics.median(diffs))} µs "
                             f"({fmt(min(diffs))} to {fmt(max(diffs))})")
        if costs:
            lines += ["", f"The backplane's cost per message {how} (server CPU per message, every process and "
                      "Valkey, minus the memory hub's, paired per repetition): " + "; ".join(costs) + "."]
    lines.append("")
    return lines


def write_docs(text: str, section: str = "results") -> None:
    start, end = f"<!-- {section}:start -->", f"<!-- {section}:end -->"
    block = f"{start}\n{text}\n{end}"
    if DOCS.exists() and start in (old := DOCS.read_text()) and end in old:
        new = old[: old.index(start)] + block + old[old.index(end) + len(end):]
    else:
        new = f"# Benchmarks\n\n{block}\n"
    DOCS.write_text(new)


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description="Benchmark the wslab hub against its peers, side by side."
    )
    parser.add_argument("--quick", action="store_true", help="one short repetition (< 60 s); docs untouched")
    parser.add_argument("--reps", type=int, help="repetitions (default 3, or 1 with --quick)")
    parser.add_argument("--kinds", default=",".join(KINDS), help="servers to run, from hub,raw,sio,node")
    parser.add_argument("--no-compression", action="store_true", help="skip the deflate runs")
    parser.add_argument("--no-startup", action="store_true", help="skip the in-kernel start measurement")
    parser.add_argument("--pin", choices=["auto", "yes", "no"], default="auto",
                        help="pin the server and the load client to different CPUs (auto: when there are 2 or more)")
    parser.add_argument("--scaling", choices=["yes", "no"], default="yes",
                        help="the scaling rows: memory hub, 1 and 2 workers on an embedded Valkey (docs/scaling.md)")
    parser.add_argument("--only-scaling", action="store_true", help="run the scaling rows only (docs untouched)")
    parser.add_argument("--docs", choices=["auto", "yes", "no"], default="auto",
                        help="write the table into docs/benchmarks.md (auto: only for a full run)")
    args = parser.parse_args()
    reps = args.reps or (1 if args.quick else 3)
    if reps < 1:
        parser.error("--reps must be >= 1")
    plan = QUICK_PLAN if args.quick else FULL_PLAN
    comp_plan = QUICK_COMPRESSION_PLAN if args.quick else COMPRESSION_PLAN
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = set(kinds) - set(KINDS)
    if unknown or "raw" not in kinds:
        parser.error(f"--kinds takes hub,raw,sio,node and must include raw (the reference); got {args.kinds}")
    raise_nofile()
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if args.pin == "yes" or (args.pin == "auto" and len(cpus) >= 2):
        if len(cpus) < 2:
            parser.error("--pin yes needs at least 2 CPUs")
        PIN["server"], PIN["client"] = {cpus[0]}, {cpus[1]}
    # SIGTERM unwinds like Ctrl-C, through the finally that stops every subprocess.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    started = time.monotonic()
    skipped = None
    if args.only_scaling:
        kinds = []
    if "node" in kinds:
        skipped = install_node()
        if skipped:
            log(f"skipping Node's ws: {skipped}")
            kinds.remove("node")
            skipped = f"Node's ws ({skipped})."
    blocks = list(kinds)
    if not args.no_compression:
        blocks += [f"{k}+deflate" for k in ("hub", "raw") if k in kinds]
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_path = RESULTS / f"{stamp}-servers.log"
    if args.only_scaling:
        blocks = []
        args.no_startup = True
    results: dict[str, list[dict[str, Any]]] = {k: [] for k in blocks}
    scaling: dict[str, list[dict[str, Any]]] = {k: [] for k in SCALING} if args.scaling == "yes" else {}
    data: dict[str, Any] = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m bench.run" + (" --quick" if args.quick else "")
        + (f" --reps {reps}" if args.reps else "") + (" --only-scaling" if args.only_scaling else ""),
        "reps": reps, "plan": plan, "compression_plan": comp_plan, "machine": machine(), "versions": versions(),
        "skipped": skipped, "results": results,
        "scaling": scaling, "scaling_plan": QUICK_SCALING_PLAN if args.quick else SCALING_PLAN,
        "pinned": {k: sorted(v) for k, v in PIN.items() if v},
    }
    timeout = 240.0 if not args.quick else 60.0
    try:
        for rep in range(reps):
            order = blocks[rep % len(blocks):] + blocks[: rep % len(blocks)] if blocks else []
            for kind in order:
                log(f"[rep {rep + 1}/{reps}] {LABELS[kind]} ({time.monotonic() - started:.0f} s)")
                p = comp_plan if "+" in kind else plan
                out = run_block(kind, p, log_path, timeout)
                if "error" in out:
                    log(f"  {kind}: {out['error']}")
                results[kind].append(out)
            for kind in SCALING[rep % len(SCALING):] + SCALING[: rep % len(SCALING)] if scaling else []:
                log(f"[rep {rep + 1}/{reps}] scaling: {SCALING_LABELS[kind]} ({time.monotonic() - started:.0f} s)")
                out = run_scaling_block(kind, data["scaling_plan"], log_path, timeout)
                if "error" in out:
                    log(f"  {kind}: {out['error']}")
                scaling[kind].append(out)
        if args.only_scaling:
            data["micro"] = None
        else:
            log("hub, sans I/O ...")
            data["micro"] = hub_micro(args.quick)
        if not args.no_startup:
            log("in-kernel start ...")
            data["startup"] = startup_times(5 if not args.quick else 2)
    except KeyboardInterrupt:
        log("interrupted: stopping servers")
        return 130
    finally:
        stop_all_children()
    data["elapsed_s"] = round(time.monotonic() - started, 1)
    data["load_end"] = load()
    (RESULTS / f"{stamp}.json").write_text(json.dumps(data, indent=1))
    text = render(data)
    scaling_text = "\n".join(render_scaling(data))
    print(text + "\n" + scaling_text)
    if args.docs == "yes" or (args.docs == "auto" and not args.quick):
        if not args.only_scaling:
            write_docs(text)
        if scaling_text:  # its own block, so --only-scaling refreshes it alone
            write_docs(scaling_text, "scaling")
        log(f"wrote {DOCS.relative_to(ROOT)}")
    log(f"done in {data['elapsed_s']} s; raw results in {(RESULTS / f'{stamp}.json').relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
