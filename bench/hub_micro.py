"""The sans-I/O hub's own cost per chat message, against a bare JSON round trip.

    python -m bench.hub_micro [--messages 20000]    # from the repository root

No sockets: a :class:`wslab.core.hub.Hub` with a room of N members is fed
``chat`` frames as ``/chat`` receives them, and the time per
``hub.receive`` is compared with the least any JSON chat relay does per
message (``json.loads`` of the frame, then ``json.dumps`` of the stamped
message), measured alternately in the same process. Two hub figures: a fresh
room, and a long-running one that has already seen more messages than it
remembers ids for (:data:`wslab.core.room.RECENT_IDS`), where every message also
evicts the oldest id. The per-delivery work
(framing and writing to each socket) is websockets' ``broadcast`` and is not
in here: divide the hub's figure by the room size to see what it adds per
delivery. Also ``join``: ``hub.receive`` of a join per member while a room of
N fills up (and the one ``tick`` that sends the coalesced presence), against
parsing the join and encoding a ``welcome`` that lists the room, which is the
least the protocol asks. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence

from bench.frames import content
from bench.stats import paired_ratio
from wslab.core.hub import Hub
from wslab.core.room import RECENT_IDS

__all__ = [
    "frames",
    "hub_per_message",
    "json_per_message",
    "hub_join_per_member",
    "json_join_per_member",
    "median_ratio",
    "main",
]


def frames(count: int) -> list[str]:
    """``count`` chat frames as a client sends them to ``/chat``, each with its own content and id."""
    return [json.dumps({"type": "chat", "content": content(i), "id": f"m{i}"}) for i in range(count)]


def hub_per_message(members: int, batch: list[str], warm: Sequence[str] = ()) -> float:
    """Mean time of ``hub.receive`` of each frame of ``batch`` in a room of ``members`` (after ``warm``), in s."""
    hub = Hub(rate=1e9, burst=1_000_000_000)
    for conn in range(members):
        hub.connect(conn)
        hub.receive(conn, json.dumps({"type": "join", "name": f"n{conn}", "room": "r"}))
    for frame in warm:
        hub.receive(0, frame)
    t = time.perf_counter()
    for frame in batch:
        hub.receive(0, frame)
    return (time.perf_counter() - t) / len(batch)


def json_per_message(batch: list[str]) -> float:
    """The reference: mean time of parsing each frame of ``batch`` and encoding the chat it stamps, in s."""
    # The encoding of frames.stamped_chat, written out here: a call would add its own cost to the reference.
    t = time.perf_counter()
    for seq, frame in enumerate(batch, 1):
        obj = json.loads(frame)
        json.dumps(
            {"type": "chat", "room": "r", "seq": seq, "sender": "n0", "content": obj["content"],
             "timestamp": "2026-11-27T10:00:00.000Z", "id": obj["id"]},
            ensure_ascii=False, separators=(",", ":"),
        )
    return (time.perf_counter() - t) / len(batch)


def hub_join_per_member(members: int) -> float:
    """Mean time of ``hub.receive`` of a ``join`` while a room fills up to ``members``, then one ``tick``.

    The tick sends the coalesced ``presence`` frame (protocol v2; with v1 presence
    went out from each join and the tick has nothing to do).
    """
    hub = Hub(rate=1e9, burst=1_000_000_000)
    joins = [json.dumps({"type": "join", "name": f"n{conn}", "room": "r"}) for conn in range(members)]
    t = time.perf_counter()
    for conn, frame in enumerate(joins):
        hub.connect(conn)
        hub.receive(conn, frame)
    hub.tick()
    return (time.perf_counter() - t) / members


def json_join_per_member(members: int) -> float:
    """The least a join costs with the protocol's welcome: parse the join, encode a welcome listing the room."""
    joins = [json.dumps({"type": "join", "name": f"n{conn}", "room": "r"}) for conn in range(members)]
    online: list[str] = []
    t = time.perf_counter()
    for frame in joins:
        obj = json.loads(frame)
        online.append(obj["name"])
        json.dumps(
            {"type": "welcome", "name": obj["name"], "room": "r", "online": online, "typing": [], "seq": 0,
             "history": [], "history_complete": True, "epoch": "0123abcd"},
            ensure_ascii=False, separators=(",", ":"),
        )
    return (time.perf_counter() - t) / members


def median_ratio(a: list[float], b: list[float]) -> float:
    """The median of ``a[i] / b[i]``, the repetitions paired."""
    ratio = paired_ratio(a, b)
    assert ratio is not None, "no repetitions"
    return ratio[0]


def main(argv: list[str] | None = None) -> None:
    """Measure, and print the figures as one JSON object (``*_us_*`` in µs, ``*_ratio_*`` against the reference)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    every = frames(RECENT_IDS + 2 * args.messages)
    batch = every[: args.messages]
    warm, late = every[: RECENT_IDS + args.messages], every[RECENT_IDS + args.messages :]
    out: dict[str, float] = {}
    for members in (100, 500):
        hub_us: list[float] = []
        late_us: list[float] = []
        ref_us: list[float] = []
        for _ in range(args.reps):
            hub_us.append(hub_per_message(members, batch) * 1e6)
            late_us.append(hub_per_message(members, late, warm) * 1e6)
            ref_us.append(json_per_message(batch) * 1e6)
        out[f"json_us_per_msg_n{members}"] = statistics.median(ref_us)
        out[f"hub_us_per_msg_n{members}"] = statistics.median(hub_us)
        out[f"hub_ratio_n{members}"] = median_ratio(hub_us, ref_us)
        out[f"hub_long_us_per_msg_n{members}"] = statistics.median(late_us)
        out[f"hub_long_ratio_n{members}"] = median_ratio(late_us, ref_us)
        join_us: list[float] = []
        join_ref_us: list[float] = []
        for _ in range(args.reps):
            join_us.append(hub_join_per_member(members) * 1e6)
            join_ref_us.append(json_join_per_member(members) * 1e6)
        out[f"join_json_us_n{members}"] = statistics.median(join_ref_us)
        out[f"join_hub_us_n{members}"] = statistics.median(join_us)
        out[f"join_ratio_n{members}"] = median_ratio(join_us, join_ref_us)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
