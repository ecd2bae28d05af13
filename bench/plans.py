"""What a run measures and how much: the server kinds, and the plan of scenario sizes for each kind of run.

A plan is handed to the load client as JSON (:mod:`bench.peers_load`), which runs
each scenario it names (:mod:`bench.scenarios`):

* ``fanout_n``: the fan-out rooms (one room per N; connection setup is reported for
  the largest), with ``burst_messages`` sent at once and ``paced_messages[str(N)]``
  sent at ``paced_rate`` per second;
* ``echo_count``: one client's sequential echoes; ``echo_clients`` x ``echo_each``:
  concurrent echoes;
* ``setup_concurrency``: how many clients open and join at a time;
* ``storm_n``, ``storm_chats_before``, ``storm_chats_during``, ``storm_delay_ms``:
  the reconnect storm (``hub`` and ``raw`` only);
* ``deflate_n``: the compression plan's room size, once without and once with
  permessage-deflate.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Plan",
    "KINDS",
    "RELAYS",
    "LABELS",
    "FULL_PLAN",
    "QUICK_PLAN",
    "COMPRESSION_PLAN",
    "QUICK_COMPRESSION_PLAN",
    "SCALING_PLAN",
    "QUICK_SCALING_PLAN",
    "SCALING",
    "SCALING_LABELS",
]

Plan = dict[str, Any]
"""Scenario sizes, by the names above (JSON-compatible: its keys are strings)."""

KINDS = ["hub", "raw", "sio", "node", "picows", "floor", "syscall"]
"""The servers compared, in the table's order; ``raw`` is the reference, ``floor`` the floor.

``syscall`` is not a server: ``socket.send`` of one pre-built frame to each of N loopback
sockets (:func:`bench.floor.syscall_figures`), the kernel's own cost of a delivery, in the
fan-out rows only."""

RELAYS = ("raw", "picows", "floor", "syscall")
"""The kinds the load client speaks to as to raw websockets: rooms by path, each frame relayed as received."""

LABELS = {
    "hub": "wslab hub",
    "raw": "raw websockets",
    "sio": "python-socketio",
    "node": "Node ws",
    "picows": "picows",
    "floor": "asyncio floor",
    "syscall": "socket.send only",
    "hub+deflate": "wslab hub, deflate",
    "raw+deflate": "raw websockets, deflate",
}
"""How the report and the progress lines name each server (``KIND+deflate``: started with compression)."""

FULL_PLAN: Plan = {
    "fanout_n": [500, 250],
    "burst_messages": 200,
    "paced_messages": {"500": 200, "250": 100},
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
QUICK_PLAN: Plan = {
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
COMPRESSION_PLAN: Plan = {
    "deflate_n": 250, "burst_messages": 100, "echo_clients": 50, "echo_each": 100, "setup_concurrency": 20
}
QUICK_COMPRESSION_PLAN: Plan = {**COMPRESSION_PLAN, "deflate_n": 50, "burst_messages": 50, "echo_each": 20}

# Scaling out (docs/scaling.md): the same fan-out, memory hub against rooms on Redis/Valkey.
SCALING_PLAN: Plan = {"fanout_n": [500], "burst_messages": 200, "paced_messages": {"500": 100}, "paced_rate": 20.0,
                      "setup_concurrency": 20}
QUICK_SCALING_PLAN: Plan = {"fanout_n": [250], "burst_messages": 50, "paced_messages": {"250": 30},
                            "paced_rate": 20.0, "setup_concurrency": 20}
SCALING = ["memory", "redis1", "redis2"]
"""The scaling rows: the memory hub in one process, 1 and 2 hub workers on an embedded Valkey."""
SCALING_LABELS = {"memory": "memory hub, 1 process", "redis1": "1 worker on Redis", "redis2": "2 workers on Redis"}
