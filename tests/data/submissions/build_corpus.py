"""Build the corpus of realistic submissions from the solutions, and what each must score.

Run from the repository root after changing a solution notebook::

    python tests/data/submissions/build_corpus.py

Each submission is a solution as a learner would hand it in (markers gone,
outputs cleared, release metadata), with one realistic mistake applied to
named cells. ``expected.json`` says, for each file, its exercise, the
status the gradebook must show and the checks that must not pass (every
other check must pass). ``tests/test_grader.py`` grades the corpus and holds
the grader to this file.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

from wslab.grading.release import dumps  # noqa: E402

MARKER = re.compile(r"^[ \t]*### (BEGIN|END) (SOLUTION|HIDDEN TESTS).*$\n?", re.M)


def learner_copy(solution: str) -> dict[str, Any]:
    """A solution notebook as a learner who solved it hands it in: the released exercise's cells (their
    metadata too: which cells the course owns), with the answers filled in."""
    nb = json.loads((ROOT / "solutions" / solution).read_text(encoding="utf-8"))
    released = json.loads((ROOT / "exercises" / solution).read_text(encoding="utf-8"))
    metadata = {c.get("id"): c.get("metadata", {}) for c in released["cells"]}
    for cell in nb["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] == "code":
            text = MARKER.sub("", text)
            cell["outputs"], cell["execution_count"] = [], None
        cell["source"] = text.splitlines(keepends=True)
        cell["metadata"] = dict(metadata.get(cell.get("id"), {}))
    nb["metadata"]["wslab"]["released"] = True
    return nb


def cell(nb: dict[str, Any], cell_id: str) -> dict[str, Any]:
    for c in nb["cells"]:
        if c.get("id") == cell_id:
            return c
    raise KeyError(cell_id)


def replace(nb: dict[str, Any], cell_id: str, old: str, new: str) -> None:
    c = cell(nb, cell_id)
    text = "".join(c["source"])
    if old not in text:
        raise ValueError(f"{cell_id}: {old!r} not found")
    c["source"] = text.replace(old, new, 1).splitlines(keepends=True)


def insert_after(nb: dict[str, Any], cell_id: str, new_id: str, source: str) -> None:
    index = nb["cells"].index(cell(nb, cell_id))
    nb["cells"].insert(
        index + 1,
        {"cell_type": "code", "execution_count": None, "id": new_id, "metadata": {}, "outputs": [],
         "source": source.strip("\n").splitlines(keepends=True)},
    )


def set_source(nb: dict[str, Any], cell_id: str, source: str) -> None:
    """Replace a cell's whole source: an answer written another way."""
    cell(nb, cell_id)["source"] = source.strip("\n").splitlines(keepends=True)


def delete(nb: dict[str, Any], cell_id: str) -> None:
    nb["cells"].remove(cell(nb, cell_id))


CORPUS: dict[str, tuple[str, Any, str, list[str]]] = {}
"""file name -> (solution, mutation, expected status, checks that must not pass)."""


def submission(name: str, solution: str, status: str, failing: list[str]):
    def register(mutate: Any) -> Any:
        CORPUS[name] = (solution, mutate, status, failing)
        return mutate

    return register


# ----------------------------------------------------------------- 04-chat


@submission("chat-missing-timestamp.ipynb", "04-chat.ipynb", "ok", ["render_shows_time"])
def _(nb):
    replace(nb, "render-message", "return f'<div class=\"msg\">{when}<b", "return f'<div class=\"msg\"><b")


@submission("chat-no-escaping.ipynb", "04-chat.ipynb", "ok", ["render_escapes_html"])
def _(nb):
    replace(nb, "render-message", 'html.escape(str(msg.get("sender", "?")))', 'str(msg.get("sender", "?"))')
    replace(nb, "render-message", 'html.escape(str(msg.get("content", "")))', 'str(msg.get("content", ""))')


@submission("chat-typing-never-cleared.ipynb", "04-chat.ipynb", "ok",
            ["typing_stops_when_idle", "typing_stops_on_send", "typing_idle_from_last_key"])
def _(nb):
    replace(nb, "typing-sender", """        if self.typing and self.clock.monotonic() - self.last_key >= self.idle:
            self.typing = False
            self.send(dict(TYPING_OFF))""", "        pass  # the server clears it anyway")
    replace(nb, "typing-sender", """        if self.typing:
            self.typing = False
            self.send(dict(TYPING_OFF))""", "        pass")


@submission("chat-typing-every-keystroke.ipynb", "04-chat.ipynb", "ok", ["typing_not_every_key", "typing_refreshes"])
def _(nb):
    replace(nb, "typing-sender", "if not self.typing or now - self.last_sent >= self.refresh:", "if True:")


@submission("chat-awaits-forever.ipynb", "04-chat.ipynb", "ok",
            ["join_times_out", "join_closes_on_timeout", "join_reports_errors"])
def _(nb):
    replace(
        nb,
        "join-room",
        """    ws = await asyncio.wait_for(connect(url, open_timeout=timeout, close_timeout=1), timeout)
    try:
        async with asyncio.timeout(timeout):
            await ws.send(json.dumps({"type": "join", "name": name}))
            while True:
                frame = json.loads(await ws.recv())
                if frame.get("type") == "welcome":
                    return ws, frame
                if frame.get("type") == "error":
                    raise ConnectionError(f"the server refused to join: {frame.get('message')}")
    except BaseException:
        await ws.close()
        raise""",
        """    ws = await connect(url)
    await ws.send(json.dumps({"type": "join", "name": name}))
    while True:
        frame = json.loads(await ws.recv())
        if frame["type"] == "welcome":
            return ws, frame""",
    )


@submission("chat-never-awaits.ipynb", "04-chat.ipynb", "cell-error",
            ["join_gets_welcome", "join_reports_errors", "client_rejoins_after_outage", "client_loses_nothing"])
def _(nb):
    replace(nb, "join-room", 'await ws.send(json.dumps({"type": "join"', 'ws.send(json.dumps({"type": "join"')


@submission("chat-infinite-loop.ipynb", "04-chat.ipynb", "timeout", ["typing_one_and_two", "typing_leaves_me_out"])
def _(nb):
    replace(nb, "typing-line", """    if len(others) == 1:
        return f"{others[0]} is typing…"
    if len(others) == 2:
        return f"{others[0]} and {others[1]} are typing…"
    return "Several people are typing…\"""", """    if len(others) > 2:
        return "Several people are typing…"
    text = others[0]
    i = 1
    while i < len(others):
        text += " and " + others[i]
    return text + (" is typing…" if len(others) == 1 else " are typing…")""")


@submission("chat-loop-in-the-defining-cell.ipynb", "04-chat.ipynb", "timeout",
            ["typing_one_and_two", "typing_leaves_me_out"])
def _(nb):
    # The same bug, tried out at the bottom of the cell that defines it: the cell times out
    # after the definition, and every check that does not hit the loop must still pass.
    CORPUS["chat-infinite-loop.ipynb"][1](nb)
    replace(nb, "typing-line", "    return text + (\" is typing…\" if len(others) == 1 else \" are typing…\")",
            "    return text + (\" is typing…\" if len(others) == 1 else \" are typing…\")\n\n\n"
            "typing_line([\"Ada\", \"Bob\"])  # try it")
    delete(nb, "typing-line-try")


@submission("chat-holds-the-gil.ipynb", "04-chat.ipynb", "killed", ["typing_several"])
def _(nb):
    # A long call into C holds the GIL: no signal, no thread join can get in. Only the hard kill.
    replace(nb, "typing-line", "    return \"Several people are typing…\"",
            "    count = sum(range(10**12))  # count the ways to say it (one call into C, for ever)\n"
            "    return \"Several people are typing…\"")


@submission("chat-listens-forever.ipynb", "04-chat.ipynb", "timeout", [])
def _(nb):
    insert_after(nb, "join-room", "listen", """
# print everything the room says
ws, welcome = await join_room(server.chat_url, "Me")
async for frame in ws:
    print(frame)
""")
    insert_after(nb, "setup", "server", "server = wslab.start_server()")


@submission("chat-sleeps-in-cell.ipynb", "04-chat.ipynb", "timeout", [])
def _(nb):
    insert_after(nb, "typing-sender-try", "wait", "import time\ntime.sleep(1000)  # wait for Bob to type")


@submission("chat-bare-except-loop.ipynb", "04-chat.ipynb", "killed", [])
def _(nb):
    insert_after(nb, "chat-view", "retry", """
import time
# keep trying until the server is there
while True:
    try:
        time.sleep(0.5)
        url = open("server-url.txt").read()
        break
    except:
        pass
""")


@submission("chat-deleted-cell.ipynb", "04-chat.ipynb", "cell-error",
            ["typing_first_key_sends", "typing_not_every_key", "typing_stops_when_idle", "typing_stops_on_send",
             "typing_refreshes", "typing_idle_from_last_key"])
def _(nb):
    delete(nb, "typing-sender")


@submission("chat-syntax-error.ipynb", "04-chat.ipynb", "cell-error",
            ["view_history_and_new", "view_typing", "view_ignores_other_frames"])
def _(nb):
    replace(nb, "chat-view", "elif kind == \"chat\":", "elif kind == \"chat\"")


@submission("chat-client-delivers-twice.ipynb", "04-chat.ipynb", "ok", ["client_loses_nothing"])
def _(nb):
    # The welcome after a re-join replays history the client already delivered.
    replace(nb, "chat-client", """        if isinstance(seq, int):
            if seq <= self.last_seq:
                return
            self.last_seq = seq""", """        if isinstance(seq, int):
            self.last_seq = seq""")


@submission("chat-client-drops-offline.ipynb", "04-chat.ipynb", "cell-error",
            ["client_rejoins_after_outage", "client_loses_nothing"])
def _(nb):
    # The seed's send(): only while open, otherwise gone without a word. The notebook's own
    # outage demo waits for the message said offline, and the checks never hear it come back.
    replace(nb, "pieces", """        else:
            self._queue.append(data)""", "")


@submission("ada_04-chat.ipynb", "04-chat.ipynb", "ok", [])
def _(nb):
    del nb["metadata"]["wslab"]  # metadata lost (an old Jupyter); the file name still says which exercise


# ----------------------------------------------------------------- the others


@submission("basics-swallows-bad-json.ipynb", "01-basics.ipynb", "ok", ["rejects_bad_json", "rejects_non_objects"])
def _(nb):
    replace(nb, "parse-message", """    try:
        message = json.loads(data)
    except ValueError as exc:
        raise ValueError(f"frame is not valid JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ValueError(f"frame must be a JSON object, got {type(message).__name__}")
    return message""", """    try:
        return json.loads(data)
    except ValueError:
        return None  # like the seed's catch {}""")


@submission("basics-awaits-forever.ipynb", "01-basics.ipynb", "ok", ["echo_times_out", "echo_closes"])
def _(nb):
    replace(nb, "echo-once", """    async with asyncio.timeout(timeout):
        async with connect(url, open_timeout=timeout, close_timeout=1) as ws:
            await ws.send(text)
            return await ws.recv()""", """    async with connect(url) as ws:
        await ws.send(text)
        return await ws.recv()""")


@submission("readystate-drops-offline.ipynb", "02-readystate.ipynb", "ok",
            ["outbox_queues_before_open", "outbox_survives_reconnect"])
def _(nb):
    replace(nb, "outbox", """        else:
            self._queue.append(data)""", "")


@submission("readystate-exits-the-process.ipynb", "02-readystate.ipynb", "crashed", [])
def _(nb):
    insert_after(nb, "next-state", "restart", "import os\nos._exit(0)  # start again from a clean slate")


@submission("readystate-eats-memory.ipynb", "02-readystate.ipynb", "cell-error", [])
def _(nb):
    insert_after(nb, "state-name", "history", "buffer = bytearray(10**11)  # room for every frame, just in case")


@submission("reconnect-resets-on-open.ipynb", "03-reconnect.ipynb", "ok", ["no_reset_on_flap"])
def _(nb):
    opened = "self.opened_at = now"
    replace(nb, "backoff", opened, opened + "\n        self.attempt = 0")


@submission("reconnect-no-jitter.ipynb", "03-reconnect.ipynb", "ok", ["jitter_within_bounds"])
def _(nb):
    replace(nb, "backoff", 'return delay * self.rng() if self.jitter == "full" else delay', "return delay")


@submission("reconnect-never-awaits.ipynb", "03-reconnect.ipynb", "cell-error", ["retry_waits", "retry_gives_up"])
def _(nb):
    replace(nb, "retry", "await sleep(backoff.next_delay())", "sleep(backoff.next_delay())")


@submission(
    "reconnect-blocks-with-time-sleep.ipynb", "03-reconnect.ipynb", "ok", ["retry_waits", "retry_gives_up"]
)
def _(nb):
    replace(nb, "retry", "await sleep(backoff.next_delay())", "time.sleep(backoff.next_delay())")
    c = cell(nb, "retry")
    c["source"] = ["import time\n", "\n", *c["source"]]  # not in the setup cell: that one is the course's


@submission("reconnect-one-handler-breaks-all.ipynb", "03-reconnect.ipynb", "cell-error", ["handler_error_isolated"])
def _(nb):
    # The seed's #emit: one throw stops the rest (and its own try-out cell raises).
    replace(nb, "emitter", """            try:
                fn(data)
            except Exception as exc:
                self.errors.append(exc)""", "            fn(data)")


@submission("updates-swallows-bad-json.ipynb", "05-live-updates.ipynb", "ok", ["dispatch_bad_json"])
def _(nb):
    replace(nb, "dispatch", '        emit("error", exc)\n', "")


# ----------------------------------------------------------------- written differently (issue 19)
# Each check must cost only what its title names: an answer written otherwise than the solution
# keeps every other point.


@submission("production-aggressive-heartbeat.ipynb", "07-production.ipynb", "ok", ["heartbeat_keeps_quiet_connection"])
def _(nb):
    # Notices a stall at once, and takes a pong that needs 0.1 s for a dead server.
    replace(nb, "e2ae77d0", "ping_interval=0.25, ping_timeout=0.25, close_timeout=0.25",
            "ping_interval=0.1, ping_timeout=0.05, close_timeout=0.1")


@submission("production-default-close-timeout.ipynb", "07-production.ipynb", "ok", ["heartbeat_notices_stall"])
def _(nb):
    # A 0.4 s heartbeat with websockets' default close_timeout (10 s): up to 10.8 s to close.
    replace(nb, "e2ae77d0", "ping_interval=0.25, ping_timeout=0.25, close_timeout=0.25",
            "ping_interval=0.4, ping_timeout=0.4")
    delete(nb, "77e40fb6")  # its own try-out waits 3 s for the close, and would fail


@submission("reconnect-no-jitter-keyword.ipynb", "03-reconnect.ipynb", "ok", ["jitter_within_bounds"])
def _(nb):
    # A Backoff that never got its jitter: no jitter or rng setting at all. Only the jitter check may
    # cost it (the checks that need exact delays build it without the keyword it lacks).
    replace(nb, "backoff", 'jitter="full", stay_up=5.0, rng=random.random):', "stay_up=5.0):")
    replace(nb, "backoff", """        if jitter not in ("full", "none"):
            raise ValueError(f"jitter must be 'full' or 'none', got {jitter!r}")
""", "")
    replace(nb, "backoff", "        self.jitter, self.stay_up, self.rng = jitter, stay_up, rng",
            "        self.stay_up = stay_up")
    replace(nb, "backoff", 'return delay * self.rng() if self.jitter == "full" else delay', "return delay")
    set_source(nb, "backoff-try", "backoff = Backoff()\nprint([backoff.next_delay() for _ in range(7)])")


@submission("server-binary-json.ipynb", "06-your-server.ipynb", "ok", ["tiny_not_joined_and_bytes"])
def _(nb):
    # Parses binary frames as JSON (json.loads takes bytes), as lesson 6's own `tiny` does.
    replace(nb, "c35a6234", """        if isinstance(frame, bytes):
            await ws.send(error_frame("bad-json", "frames are JSON text, not bytes"))
            return
""", "")


@submission("updates-written-otherwise.ipynb", "05-live-updates.ipynb", "ok", [])
def _(nb):
    # A browser-style socket, an error frame raised as soon as it comes, a dispatch that checks first.
    set_source(nb, "dispatch", """
OWN_EVENTS = ("connect", "disconnect", "error", "message")


def dispatch(emit, frame):
    try:
        message = json.loads(frame)
    except ValueError as exc:
        return emit("error", exc)
    if type(message) is not dict:
        return emit("error", ValueError("not an object"))
    emit("message", message)
    if message.get("type") not in OWN_EVENTS and isinstance(message.get("type"), str):
        emit(message["type"], message)
""")
    set_source(nb, "collect", """
async def collect_updates(url, channel, count, timeout=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with wslab.WebSocket(url) as ws:
        ws.send(json.dumps({"type": "subscribe", "channel": channel}))
        got = []
        while len(got) < count:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"{len(got)} of {count} updates in {timeout} s")
            frame = json.loads(await ws.next_message(timeout=left))
            if frame["type"] == "error":
                raise ConnectionError(frame["message"])
            if frame["type"] == "update" and frame["channel"] == channel:
                got.append(frame)
        return got
""")


@submission("scaling-reads-from-dollar.ipynb", "08-scaling-out.ipynb", "cell-error", ["follow_after_cut"])
def _(nb):
    # After a lost link it reads only what comes next ("$"), like a pub/sub subscriber: what was
    # logged during the cut is lost.
    replace(nb, "follow", """                except redis.RedisError:
                    await asyncio.sleep(0.1)  # the link is down: try again, from the same last_id
                    continue""", """                except redis.RedisError:
                    await asyncio.sleep(0.1)
                    last_id = "$"  # start again from now
                    continue""")
    # ...and its own try-out, which waits 1 s for all six, fails (cell-error under any cell limit).
    replace(nb, "follow-try", "await asyncio.wait_for(task, 5)", "await asyncio.wait_for(task, 1)")


@submission("scaling-written-otherwise.ipynb", "08-scaling-out.ipynb", "ok", [])
def _(nb):
    # Every function right, none as the solution writes it: XRANGE polled from an exclusive id,
    # an expiry given as a timedelta, the nodes' hashes read in one pipeline and never removed.
    set_source(nb, "follow", """
from datetime import timedelta


async def follow(url, stream, deliver, count, last_id="0-0", timeout=5.0):
    r = redis.Redis.from_url(url, decode_responses=True, socket_timeout=1, socket_connect_timeout=1)
    got = 0
    try:
        async with asyncio.timeout(timeout):
            while got < count:
                try:
                    entries = await r.xrange(stream, min="(" + last_id, count=count - got)
                except (redis.ConnectionError, redis.TimeoutError):
                    entries = []
                for entry_id, fields in entries:
                    deliver(entry_id, fields)
                    last_id = entry_id
                    got += 1
                if got < count:
                    await asyncio.sleep(0.05)
    finally:
        await r.aclose()
    return last_id
""")
    set_source(nb, "announce", """
async def announce(url, room, node, members, ttl):
    r = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        async with asyncio.timeout(2):
            key = f"presence:{room}:{node}"
            await r.delete(key)
            for name, joined_at in members.items():
                await r.hset(key, name, joined_at)
            await r.pexpire(key, timedelta(seconds=ttl))
            await r.sadd(f"presence:{room}:nodes", node)
    finally:
        await r.aclose()
""")
    set_source(nb, "online", """
async def online(url, room):
    r = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        async with asyncio.timeout(2):
            nodes = sorted(await r.smembers(f"presence:{room}:nodes"))
            pipe = r.pipeline()
            for node in nodes:
                pipe.hgetall(b"presence:" + room.encode() + b":" + node)
            earliest = {}
            for members in await pipe.execute():
                for name, joined_at in members.items():
                    name = name.decode()
                    earliest[name] = min(earliest.get(name, float("inf")), float(joined_at))
    finally:
        await r.aclose()
    return [name for _, name in sorted((at, name) for name, at in earliest.items())]
""")


SPECIAL = {
    "not-a-notebook.ipynb": ("invalid-notebook", '{"cells": [{"cell_type": "code", "source": "print(1)"\n'),
    "mystery.ipynb": ("unknown-exercise", dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})),
}


def build() -> dict[str, Any]:
    expected: dict[str, Any] = {}
    for name, (solution, mutate, status, failing) in sorted(CORPUS.items()):
        nb = learner_copy(solution)
        mutate(nb)
        (HERE / name).write_text(dumps(nb), encoding="utf-8")
        meta = json.loads((ROOT / "solutions" / solution).read_text(encoding="utf-8"))["metadata"]["wslab"]
        expected[name] = {"exercise": meta["exercise"], "status": status, "failing": sorted(failing)}
    for name, (status, text) in sorted(SPECIAL.items()):
        (HERE / name).write_text(text, encoding="utf-8")
        expected[name] = {"exercise": "", "status": status, "failing": []}
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return expected


if __name__ == "__main__":
    print(f"{len(build())} submissions written to {HERE}")
