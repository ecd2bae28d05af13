"""The report: the Markdown tables of ``docs/benchmarks.md`` from a run's results.

:func:`render` writes the main block (the servers side by side, compression, the
hub sans I/O, the in-kernel start, the targets of issue 7, joining before and
after, and any warnings of the run); :func:`render_scaling` the scaling-out
block; :func:`write_docs` puts a block between its ``<!-- NAME:start -->`` and
``<!-- NAME:end -->`` markers in ``docs/benchmarks.md``, leaving the rest of the
page as it is.

``data`` is what :mod:`bench.run` writes to ``bench/results/STAMP.json``: ``when``,
``command``, ``reps``, ``plan``, ``compression_plan``, ``scaling_plan``, ``machine``,
``versions``, ``skipped``, ``pinned``, ``results`` and ``scaling`` (server kind ->
one dict a repetition, scenario -> metric -> value), ``micro``, ``startup``,
``elapsed_s`` and ``load_end``. Figures are medians over repetitions with their
spread, and ratios are paired per repetition (:mod:`bench.stats`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.plans import KINDS, LABELS, SCALING, SCALING_LABELS, Plan
from bench.stats import Results, Spread, paired_difference, paired_ratio, series, summary

__all__ = [
    "DOCS",
    "BEFORE_JOIN",
    "JOIN_TARGETS",
    "Row",
    "rows",
    "fmt",
    "cell",
    "ratio_cell",
    "render",
    "FLOOR_TARGETS",
    "floor_table",
    "floor_targets",
    "targets",
    "join_targets",
    "warnings",
    "render_scaling",
    "backplane_targets",
    "write_docs",
]

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
"""The page the full run writes its tables into."""

Row = tuple[str, str, str, str, str]
"""One row of the main table: (section, figure, scenario, metric, unit)."""

def rows(plan: Plan) -> list[Row]:
    """The main table's rows for ``plan``: (section, figure, scenario, metric, unit)."""
    out: list[Row] = [
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


BEFORE_JOIN: dict[str, Any] = {
    "when": "2026-11-27 10:48 UTC", "protocol": "presence v1", "mib": 434.0, "cpu_us": 3342.0, "cpu_ratio": 13.14
}
"""The join figures of the last run before presence v2 (docs/benchmarks.md at that time):
500 learners joining 20 at a time, hub, median of 3 repetitions."""

JOIN_TARGETS = {"mib_share": 0.02, "cpu_ratio": 2.0}
"""Issue "Protocol v2 and one client core": bytes while joining at most 2 % of BEFORE_JOIN,
server CPU per setup at most 2x raw websockets'."""


def fmt(x: float) -> str:
    """A figure with three or four significant digits (thousands grouped)."""
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def cell(s: Spread | None, spread: bool = True) -> str:
    """A table cell: the median, and its min–max spread when there is one (and ``spread``); ``n/a`` for None."""
    if s is None:
        return "n/a"
    med, lo, hi = s
    return f"{fmt(med)} ({fmt(lo)}–{fmt(hi)})" if spread and lo != hi else fmt(med)


def ratio_cell(s: Spread | None) -> str:
    """A ratio's table cell: ``1.23×``, with its min–max spread when there is one; ``n/a`` for None."""
    if s is None:
        return "n/a"
    med, lo, hi = s
    return f"{med:.2f}× ({lo:.2f}–{hi:.2f})" if lo != hi else f"{med:.2f}×"


def render(data: dict[str, Any]) -> str:
    """The main block of ``docs/benchmarks.md`` for a run's ``data``."""
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
        vals = {k: series(results, k, scenario, metric) for k in kinds}
        row = [section, f"{label} ({unit})"]
        row += [cell(summary(vals[k])) for k in kinds]
        row += [ratio_cell(paired_ratio(vals[k], vals["raw"])) for k in kinds if k != "raw"]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines += floor_table(data, kinds)
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
                a = series(results, k, scenario % "deflate", metric)
                b = series(results, k, scenario % "plain", metric)
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
        bare = summary([r["accepting_ms"] for r in st["bare"]])
        wr = summary([r["returned_ms"] for r in st["wslab"]])
        lines += [
            "In-kernel start, call to first completed WebSocket handshake (fresh process each time, "
            "imports done before):",
            "",
            "| | call returned (ms) | accepting connections (ms) |",
            "|---|---|---|",
            f"| `wslab.start_server()` | {cell(wr)} | {cell(w)} |",
            f"| bare `websockets` serve in a thread | {cell(summary([r['returned_ms'] for r in st['bare']]))} "
            f"| {cell(bare)} |",
            "",
        ]
        imp = summary([r["import_ms"] for r in st["wslab"] if "import_ms" in r])
        if imp:
            lines += [f"Not in these figures: the first use of `wslab.start_server` after `import wslab` imports the "
                      f"server's modules (`wslab` exports lazily), {cell(imp)} ms here.", ""]
    lines += targets(data)
    lines += floor_targets(data)
    return "\n".join(lines)


FLOOR_TARGETS = {"fanout_floor": 1.25, "join_raw": 1.2, "storm_raw": 1.2, "rss_raw": 1.0, "backplane": 1.1}
"""Issue "A hub at the floor": hub ÷ asyncio floor, server CPU per delivery (burst and paced, every N);
hub ÷ raw websockets, CPU per setup and per reconnect, memory per idle connection; each worker
count on Valkey ÷ the memory hub, server CPU per delivery."""


def floor_table(data: dict[str, Any], kinds: list[str]) -> list[str]:
    """The main table's rows again, each server ÷ the asyncio floor of the same repetition (fan-out and echo)."""
    results = data["results"]
    if "floor" not in kinds:
        return []
    others = [k for k in kinds if k != "floor"]
    lines = [
        "The same rows against the floor: each server's figure ÷ the asyncio floor's (a bare `asyncio.Protocol`, "
        "`bench/floor.py`) of the same repetition; `socket.send only` is the kernel's send() with no event loop "
        "at all, measured in the same repetition on the same CPU:",
        "",
        "| Scenario | Figure | asyncio floor | " + " | ".join(f"{LABELS[k]} ÷ floor" for k in others) + " |",
        "|" + "---|" * (3 + len(others)),
    ]
    for section, label, scenario, metric, unit in rows(data["plan"]):
        if not scenario.startswith(("burst", "paced", "echo")):
            continue
        floor = series(results, "floor", scenario, metric)
        if not floor:
            continue
        row = [section, f"{label} ({unit})", cell(summary(floor))]
        row += [ratio_cell(paired_ratio(series(results, k, scenario, metric), floor)) for k in others]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    return lines


def _verdict(r: Spread | None, limit: float) -> str:
    if r is None:
        return "n/a"
    return f"{ratio_cell(r)}, target at most {limit:g}× " + ("(met)" if r[0] <= limit else "(MISSED)")


def floor_targets(data: dict[str, Any]) -> list[str]:
    """Issue "A hub at the floor": each figure, its spread over repetitions, met or missed."""
    results = data["results"]
    if "hub" not in results:
        return []
    t = FLOOR_TARGETS
    out = ["Targets (issue \"A hub at the floor\"; medians of paired per-repetition ratios, min–max):", ""]
    if "floor" in results:
        for n in data["plan"]["fanout_n"]:
            for how in ("burst", "paced"):
                hub = series(results, "hub", f"{how}{n}", "cpu_us_per_delivery")
                r = paired_ratio(hub, series(results, "floor", f"{how}{n}", "cpu_us_per_delivery"))
                out.append(f"- hub ÷ asyncio floor, server CPU per delivery, N={n} {how}: "
                           f"{_verdict(r, t['fanout_floor'])}")
                if "syscall" in results:
                    sc = paired_ratio(hub, series(results, "syscall", f"{how}{n}", "cpu_us_per_delivery"))
                    fl = paired_ratio(series(results, "floor", f"{how}{n}", "cpu_us_per_delivery"),
                                      series(results, "syscall", f"{how}{n}", "cpu_us_per_delivery"))
                    out.append(f"  (÷ socket.send only: hub {ratio_cell(sc)}, asyncio floor {ratio_cell(fl)})")
    for label, scenario, metric, key in (
        ("server CPU per setup (open + join, until all have seen all online)", "setup", "setup_cpu_us", "join_raw"),
        ("server CPU per reconnect (storm)", "storm", "storm_cpu_us", "storm_raw"),
        ("server memory per idle connection", "setup", "rss_per_conn_kib", "rss_raw"),
    ):
        r = paired_ratio(series(results, "hub", scenario, metric), series(results, "raw", scenario, metric))
        out.append(f"- hub ÷ raw websockets, {label}: {_verdict(r, t[key])}")
    out.append("")
    return out


def backplane_targets(data: dict[str, Any]) -> list[str]:
    """Issue "A hub at the floor", the backplane's target: in the scaling block, so that
    ``--only-scaling`` refreshes it with the rows it is read from."""
    scaling = data.get("scaling") or {}
    if "memory" not in scaling:
        return []
    n = data["scaling_plan"]["fanout_n"][0]
    out = ["Target (issue \"A hub at the floor\"; medians of paired per-repetition ratios, min–max):", ""]
    for k in ("redis1", "redis2"):
        for how in ("burst", "paced"):
            r = paired_ratio(series(scaling, k, f"{how}{n}", "cpu_us_per_delivery"),
                             series(scaling, "memory", f"{how}{n}", "cpu_us_per_delivery"))
            if r:
                out.append(f"- {SCALING_LABELS[k]} ÷ memory hub, server CPU per delivery incl. Valkey, "
                           f"N={n} {how}: {_verdict(r, FLOOR_TARGETS['backplane'])}")
    out.append("")
    return out


def targets(data: dict[str, Any]) -> list[str]:
    """Issue 7's targets at the largest room, met or missed, and the closing note quoting the CPU ratios."""
    results = data["results"]
    big = max(data["plan"]["fanout_n"])
    out = ["Targets (issue 7, defined at N=500):", ""]
    if big != 500:
        out += [f"(This run's largest room is N={big}: an indication only.)", ""]
    hub = series(results, "hub", f"burst{big}", "cpu_us_per_delivery")
    for peer in ("raw", "sio", "node"):
        if peer in results:
            r = paired_ratio(hub, series(results, peer, f"burst{big}", "cpu_us_per_delivery"))
            if r:
                limit = {"raw": 1.25, "sio": 1.0}.get(peer)
                verdict = "" if limit is None else (" (met)" if r[0] <= limit else " (MISSED)")
                bound = f", target at most {limit:g}×" if limit else ""
                out.append(
                    f"- hub ÷ {LABELS[peer]}, server CPU per delivery at N={big} burst: {ratio_cell(r)}{bound}{verdict}"
                )
    paced = summary(series(results, "hub", f"paced{big}", "lat_p99_ms"))
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
            r = paired_ratio(hub, series(results, peer, f"burst{big}", "cpu_us_per_delivery"))
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
    """Before/after for joining and the storm's ratios (issue "Protocol v2 and one client core"), then :func:`warnings`.

    Nothing at all (not even the warnings) when the run had no hub.
    """
    results = data["results"]
    if "hub" not in results:
        return []
    n = max(data["plan"]["fanout_n"])
    b = BEFORE_JOIN
    mib = summary(series(results, "hub", "setup", "setup_rx_mib"))
    cpu = summary(series(results, "hub", "setup", "setup_cpu_us"))
    ratio = paired_ratio(series(results, "hub", "setup", "setup_cpu_us"),
                         series(results, "raw", "setup", "setup_cpu_us"))
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
        t = paired_ratio(series(results, "hub", "storm", "storm_back_ms"),
                         series(results, "raw", "storm", "storm_back_ms"))
        c = paired_ratio(series(results, "hub", "storm", "storm_cpu_us"),
                         series(results, "raw", "storm", "storm_cpu_us"))
        out += [
            f"Reconnect storm: the hub's time until all {data['plan']['storm_n']} re-joined and caught up is "
            f"{ratio_cell(t)} raw websockets' time until all redid their handshake, and its server CPU per "
            f"reconnect {ratio_cell(c)} raw's (paired per repetition).",
            "",
        ]
    return out + warnings(results)


def warnings(results: Results) -> list[str]:
    """A list of what failed in the run (a scenario's or a whole repetition's ``error``), or nothing."""
    said = [
        f"{LABELS[k]}, repetition {i + 1}, {scenario}: {fig['error']}"
        for k, reps in results.items()
        for i, rep in enumerate(reps)
        for scenario, fig in (rep.items() if isinstance(rep, dict) else ())
        if isinstance(fig, dict) and fig.get("error")
    ] + [f"{LABELS[k]}, repetition {i + 1}: {rep['error']}" for k, reps in results.items()
         for i, rep in enumerate(reps) if isinstance(rep.get("error"), str)]
    if not said:
        return []
    return ["Warnings from this run:", ""] + [f"- {w}" for w in said] + [""]


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
        vals = {k: series(results, k, scenario, metric) for k in kinds}
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
            diff = paired_difference(series(results, k, scenario, "cpu_us_per_msg"),
                                     series(results, "memory", scenario, "cpu_us_per_msg"))
            if diff:
                costs.append(f"{SCALING_LABELS[k]}, {fmt(diff[0])} µs ({fmt(diff[1])} to {fmt(diff[2])})")
        if costs:
            lines += ["", f"The backplane's cost per message {how} (server CPU per message, every process and "
                      "Valkey, minus the memory hub's, paired per repetition): " + "; ".join(costs) + "."]
    lines.append("")
    return lines + backplane_targets(data)


def write_docs(text: str, section: str = "results", docs: Path = DOCS) -> None:
    """Put ``text`` between ``<!-- section:start -->`` and ``<!-- section:end -->`` in ``docs``.

    Without those markers, the page is written anew with that one block.
    """
    start, end = f"<!-- {section}:start -->", f"<!-- {section}:end -->"
    block = f"{start}\n{text}\n{end}"
    if docs.exists() and start in (old := docs.read_text()) and end in old:
        new = old[: old.index(start)] + block + old[old.index(end) + len(end):]
    else:
        new = f"# Benchmarks\n\n{block}\n"
    docs.write_text(new)

