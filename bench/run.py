"""wslab's chat hub against raw websockets, python-socketio and Node's ws, side by side.

From the repository root (``bench`` is a package there, ``wslab`` the editable install)::

    python -m bench.run            # 3 repetitions, writes docs/benchmarks.md (a few minutes)
    python -m bench.run --quick    # 1 short repetition, results in bench/results/ only (< 60 s)

Each repetition starts every server in a subprocess of its own (order rotated
from one repetition to the next), drives it with the same load client
(:mod:`bench.peers_load`, another subprocess) through every scenario, and stops it
(:mod:`bench.runner`). Server CPU time and memory are read from the server
process's own ``/proc`` entries. Figures are medians over repetitions with their
min-max spread, and ratios are taken per repetition against raw websockets of the
same repetition (the median of those paired ratios is shown), because this machine
is shared and its speed drifts over minutes (:mod:`bench.stats`, :mod:`bench.report`).

Node's peer (``bench/relay.js``) needs ``ws``, which this command installs with
``npm install`` into ``bench/node_modules``; without node/npm, or if the
install fails, Node's column is skipped with a message saying why.

Every wait has a timeout and every subprocess is stopped on the way out,
including on Ctrl-C and SIGTERM. Raw results go to ``bench/results/`` (ignored by git).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

try:
    from bench import procs, report, runner
    from bench.plans import (
        COMPRESSION_PLAN,
        FULL_PLAN,
        KINDS,
        QUICK_COMPRESSION_PLAN,
        QUICK_PLAN,
        QUICK_SCALING_PLAN,
        SCALING,
        SCALING_PLAN,
    )
    from bench.stats import Results
except ModuleNotFoundError as exc:  # `python bench/run.py`, the command before bench was a package
    if exc.name != "bench":
        raise
    raise SystemExit("run the benchmark from the repository root as: python -m bench.run [--quick ...]") from None

__all__ = ["COMMAND", "parser", "main"]

COMMAND = "python -m bench.run"
"""How the report says the run was made (with its flags)."""


def parser() -> argparse.ArgumentParser:
    """The command line: the same flags as ever (``--quick``, ``--pin``, ...)."""
    parser = argparse.ArgumentParser(
        prog=COMMAND, description="Benchmark the wslab hub against its peers, side by side."
    )
    parser.add_argument("--quick", action="store_true", help="one short repetition (< 60 s); docs untouched")
    parser.add_argument("--reps", type=int, help="repetitions (default 3, or 1 with --quick)")
    parser.add_argument("--kinds", default=",".join(KINDS), help="servers to run, from " + ",".join(KINDS))
    parser.add_argument("--no-compression", action="store_true", help="skip the deflate runs")
    parser.add_argument("--no-startup", action="store_true", help="skip the in-kernel start measurement")
    parser.add_argument("--pin", choices=["auto", "yes", "no"], default="auto",
                        help="pin the server and the load client to different CPUs (auto: when there are 2 or more)")
    parser.add_argument("--scaling", choices=["yes", "no"], default="yes",
                        help="the scaling rows: memory hub, 1 and 2 workers on an embedded Valkey (docs/scaling.md)")
    parser.add_argument("--only-scaling", action="store_true",
                        help="run the scaling rows only (of the docs, only their block is rewritten)")
    parser.add_argument("--docs", choices=["auto", "yes", "no"], default="auto",
                        help="write the table into docs/benchmarks.md (auto: only for a full run)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when done, 130 when interrupted (Ctrl-C or SIGTERM), with every subprocess stopped."""
    cli = parser()
    args = cli.parse_args(argv)
    reps = args.reps or (1 if args.quick else 3)
    if reps < 1:
        cli.error("--reps must be >= 1")
    plan = QUICK_PLAN if args.quick else FULL_PLAN
    comp_plan = QUICK_COMPRESSION_PLAN if args.quick else COMPRESSION_PLAN
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = set(kinds) - set(KINDS)
    if unknown or "raw" not in kinds:
        cli.error(f"--kinds takes {','.join(KINDS)} and must include raw (the reference); got {args.kinds}")
    procs.raise_nofile()
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pins: dict[str, set[int]] = {}
    if args.pin == "yes" or (args.pin == "auto" and len(cpus) >= 2):
        if len(cpus) < 2:
            cli.error("--pin yes needs at least 2 CPUs")
        pins = {"server": {cpus[0]}, "client": {cpus[1]}}
    procs.sigterm_as_interrupt()
    started = time.monotonic()
    skipped = None
    if args.only_scaling:
        kinds = []
    if "node" in kinds:
        skipped = runner.install_node()
        if skipped:
            procs.log(f"skipping Node's ws: {skipped}")
            kinds.remove("node")
            skipped = f"Node's ws ({skipped})."
    blocks = list(kinds)
    if not args.no_compression:
        blocks += [f"{k}+deflate" for k in ("hub", "raw") if k in kinds]
    runner.RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if args.only_scaling:
        blocks = []
        args.no_startup = True
    results: Results = {k: [] for k in blocks}
    scaling: Results = {k: [] for k in SCALING} if args.scaling == "yes" else {}
    data: dict[str, Any] = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": COMMAND + (" --quick" if args.quick else "")
        + (f" --reps {reps}" if args.reps else "") + (" --only-scaling" if args.only_scaling else "")
        + (" --scaling no" if args.scaling == "no" and not args.only_scaling else ""),
        "reps": reps, "plan": plan, "compression_plan": comp_plan, "machine": procs.machine(),
        "versions": runner.versions(), "skipped": skipped, "results": results,
        "scaling": scaling, "scaling_plan": QUICK_SCALING_PLAN if args.quick else SCALING_PLAN,
        "pinned": {k: sorted(v) for k, v in pins.items()},
    }
    run = runner.Runner(
        log_path=runner.RESULTS / f"{stamp}-servers.log",
        timeout=240.0 if not args.quick else 60.0,
        server_cpus=pins.get("server"),
        client_cpus=pins.get("client"),
        started=started,
    )
    try:
        run.run(reps, blocks, plan, comp_plan, data["scaling_plan"], results, scaling)
        if args.only_scaling:
            data["micro"] = None
        else:
            procs.log("hub, sans I/O ...")
            data["micro"] = runner.hub_micro(args.quick)
        if not args.no_startup:
            procs.log("in-kernel start ...")
            data["startup"] = runner.startup_times(5 if not args.quick else 2)
    except KeyboardInterrupt:
        procs.log("interrupted: stopping servers")
        return 130
    finally:
        procs.stop_all()
    data["elapsed_s"] = round(time.monotonic() - started, 1)
    data["load_end"] = procs.loadavg()
    raw = runner.RESULTS / f"{stamp}.json"
    raw.write_text(json.dumps(data, indent=1))
    text = report.render(data)
    scaling_text = "\n".join(report.render_scaling(data))
    print(text + "\n" + scaling_text)
    if args.docs == "yes" or (args.docs == "auto" and not args.quick):
        if not args.only_scaling:
            report.write_docs(text)
        if scaling_text:  # its own block, so --only-scaling refreshes it alone
            report.write_docs(scaling_text, "scaling")
        procs.log(f"wrote {report.DOCS.relative_to(runner.ROOT)}")
    procs.log(f"done in {data['elapsed_s']} s; raw results in {raw.relative_to(runner.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
