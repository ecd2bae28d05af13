"""The data-only channel between the checker and the learner's sandbox, over real pipes.

Each test wires a trusted :class:`Endpoint` to a sandbox one through two ``os.pipe()``
pairs in this process, each endpoint with its own reading thread as in the grader; the
sandbox serves the learner's names from its own event loop in a thread, as the learner's
process does. A peer that breaks the rules is played by hand (:class:`RawPeer`): no real
endpoint would. Nothing waits by sleeping: every wait is on an event or a future, bounded.
"""

from __future__ import annotations

import asyncio
import enum
import http
import json
import os
import select
import sys
import threading
import time
from collections import OrderedDict, defaultdict, namedtuple
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from typing import IO, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import CloseCode, Opcode
from websockets.protocol import State

from wslab.core.clock import FakeClock
from wslab.core.errors import ClientClosedError
from wslab.grading.rpc import FACADES, Capability, ChannelError, Endpoint, Limits, Proxy, RemoteError

pytestmark = pytest.mark.timeout(20)

WAIT = Limits(wait=5.0)
"""The channels' default here: a call that is never answered fails the test in seconds, not in a minute."""


def _pipe() -> tuple[IO[bytes], IO[bytes]]:
    read, write = os.pipe()
    return os.fdopen(read, "rb"), os.fdopen(write, "wb")


async def _cancel_tasks() -> None:
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class Channel:
    """A trusted endpoint and a sandbox endpoint wired together; the sandbox serves ``ns`` (the learner's names).

    The sandbox's handlers: ``lookup(name)`` gives the learner's object, ``echo(value)``
    gives back what it decoded (and keeps it in ``echoed``), ``blob(size)`` a string of
    ``size`` bytes.
    """

    def __init__(self, trusted: Limits = WAIT, sandbox: Limits = WAIT) -> None:
        self.ns: dict[str, Any] = {}
        self.echoed: list[Any] = []
        self.loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self.loop.run_forever, name="test-sandbox-loop", daemon=True)
        self._loop_thread.start()
        trusted_in, sandbox_out = _pipe()
        sandbox_in, trusted_out = _pipe()
        self._files = [trusted_in, sandbox_out, sandbox_in, trusted_out]

        def lookup(name: str) -> Any:
            return self.ns[name]

        def echo(value: Any) -> Any:
            self.echoed.append(value)
            return value

        def blob(size: int) -> str:
            return "x" * size

        handlers: dict[str, Callable[..., Any]] = {"lookup": lookup, "echo": echo, "blob": blob}
        self.sandbox = Endpoint(sandbox_in, sandbox_out, side="sandbox", limits=sandbox, handlers=handlers,
                                loop=self.loop)
        self.trusted = Endpoint(trusted_in, trusted_out, side="trusted", limits=trusted)

    @property
    def loop_thread(self) -> int | None:
        return self._loop_thread.ident

    def learner(self, name: str) -> Any:
        """The learner's ``name`` as the checks get it."""
        return self.trusted.request("lookup", name=name)

    def close(self) -> None:
        self.trusted.close()
        self.sandbox.close()
        for endpoint in (self.trusted, self.sandbox):  # each reads its peer's end of file, then stops
            endpoint._reader_thread.join(5)
            assert not endpoint._reader_thread.is_alive(), "an endpoint's reader outlived the channel"
        asyncio.run_coroutine_threadsafe(_cancel_tasks(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._loop_thread.join(5)
        self.loop.close()
        for file in self._files:
            file.close()


@pytest.fixture
def connect() -> Iterator[Callable[..., Channel]]:
    """Channels with the limits a test asks for, each closed after it."""
    made: list[Channel] = []

    def connect(trusted: Limits = WAIT, sandbox: Limits = WAIT) -> Channel:
        made.append(Channel(trusted, sandbox))
        return made[-1]

    yield connect
    for channel in made:
        channel.close()


@pytest.fixture
def channel(connect: Callable[..., Channel]) -> Channel:
    return connect()


class RawPeer:
    """The sandbox's end of a trusted endpoint's pipes, written by hand: a peer that breaks the rules."""

    def __init__(self, limits: Limits = WAIT) -> None:
        trusted_in, self._out = _pipe()
        into, trusted_out = os.pipe()
        self._in = into
        self._buffer = b""
        self.endpoint = Endpoint(trusted_in, os.fdopen(trusted_out, "wb"), side="trusted", limits=limits)
        self._trusted_in = trusted_in

    def receive(self, timeout: float = 5.0) -> Any:
        """The next message the endpoint sent, or None once it closed its end."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([self._in], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"the endpoint sent nothing within {timeout} s"
            chunk = os.read(self._in, 65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def write(self, data: bytes) -> None:
        self._out.write(data)
        self._out.flush()

    def send(self, message: dict[str, Any]) -> None:
        self.write(json.dumps(message).encode() + b"\n")

    def close(self) -> None:
        self.endpoint.close()
        self._out.close()  # the endpoint's reader sees the end: its thread stops
        self.endpoint._reader_thread.join(5)
        assert not self.endpoint._reader_thread.is_alive()
        self._trusted_in.close()
        os.close(self._in)


@pytest.fixture
def peer() -> Iterator[RawPeer]:
    raw = RawPeer()
    yield raw
    raw.close()


def in_thread(func: Callable[[], Any]) -> Future[Any]:
    """Run ``func`` in a thread of its own (a check blocked on the channel while the test plays the other side)."""
    future: Future[Any] = Future()

    def run() -> None:
        try:
            future.set_result(func())
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name="test-blocked-call", daemon=True).start()
    return future


def typed(value: Any) -> Any:
    """``value`` with the type of everything in it: ``[True]`` and ``[1]`` are equal, their shapes are not."""
    if isinstance(value, list | tuple):
        return (type(value).__name__, [typed(v) for v in value])
    if isinstance(value, dict):
        return (type(value).__name__, [(typed(k), typed(v)) for k, v in value.items()])
    if isinstance(value, set | frozenset):
        return (type(value).__name__, sorted(repr(typed(v)) for v in value))
    return (type(value).__name__, value)


class LearnerError(ValueError):
    """An exception class of the learner's: it does not cross, its name, message and bases do."""


# ---------------------------------------------------------------- values


@pytest.mark.parametrize(
    "value",
    [
        None, True, False, 0, -7, 2**70, 1.5, -0.0, float("inf"), "", "héllo ☃\n\"quoted\"",
        [], [1, "a", None], (), (1, (2, 3)), {}, {"a": 1, 2: [3], (4, "t"): {"x"}, None: False},
        set(), {1, "two", (3,)}, b"", b"\x00\xff bytes",
        {"k": [(1, {2, 3}), {"x": b"y", "z": [[[True]]]}], "n": [None, 0.25, ("deep", {"er": ()})]},
    ],
)
def test_data_crosses_by_value_both_ways_and_keeps_every_type(channel: Channel, value: Any) -> None:
    back = channel.trusted.request("echo", value=value)
    assert back == value and typed(back) == typed(value)
    assert typed(channel.echoed[-1]) == typed(value)  # as the sandbox saw it


_hashables = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda inner: st.tuples(inner, inner),
    max_leaves=4,
)
_values = st.recursive(
    _hashables,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(_hashables, inner, max_size=4)
        | st.sets(_hashables, max_size=4)
    ),
    max_leaves=16,
)


def test_any_data_comes_back_equal_and_of_the_same_types(channel: Channel) -> None:
    @settings(max_examples=60, deadline=None)
    @given(_values)
    def round_trip(value: Any) -> None:
        back = channel.trusted.request("echo", value=value)
        assert typed(back) == typed(value)

    round_trip()


class _Word(str):
    def __eq__(self, other: object) -> bool:
        return True  # "equal to whatever the check expects"

    def __hash__(self) -> int:
        return 0

    def shout(self) -> str:
        return self.upper()


class _Count(int):
    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0


class _Colour(enum.IntEnum):
    RED = 1


_Point = namedtuple("_Point", "x y")


@pytest.mark.parametrize(
    ("learners", "plain"),
    [
        (_Word("42"), "42"),
        (_Count(7), 7),
        (_Colour.RED, 1),
        (_Point(1, 2), (1, 2)),
        (OrderedDict(a=1), {"a": 1}),
        (defaultdict(list, a=[_Word("b")]), {"a": ["b"]}),
        (bytearray(b"ab"), b"ab"),
        (frozenset({1, 2}), {1, 2}),
        (type("_Items", (list,), {"__eq__": lambda self, other: True})([1]), [1]),
    ],
    ids=["str", "int", "IntEnum", "namedtuple", "OrderedDict", "defaultdict", "bytearray", "frozenset", "list"],
)
def test_subclasses_of_the_data_types_arrive_as_the_plain_type_without_their_behaviour(
    channel: Channel, learners: Any, plain: Any
) -> None:
    channel.ns["give"] = lambda: learners
    got = channel.learner("give")()
    assert typed(got) == typed(plain)
    assert got == plain and got != "what the check expects"


def test_a_learners_str_that_claims_to_equal_anything_arrives_as_a_str_that_does_not(channel: Channel) -> None:
    channel.ns["answer"] = lambda: _Word("41")
    got = channel.learner("answer")()
    assert type(got) is str and got == "41" and got != "42"
    assert not hasattr(got, "shout")


@pytest.mark.parametrize(
    "member",
    [http.HTTPStatus.NOT_FOUND, State.OPEN, Opcode.TEXT, CloseCode.GOING_AWAY],
    ids=lambda member: f"{type(member).__name__}.{member.name}",
)
def test_known_enums_cross_by_name_and_arrive_as_the_same_member(channel: Channel, member: enum.Enum) -> None:
    assert channel.trusted.request("echo", value=member) is member
    assert channel.echoed[-1] is member
    channel.ns["status"] = lambda: member
    assert channel.learner("status")() is member


def test_a_learners_exception_arrives_with_its_type_name_message_and_chain(channel: Channel) -> None:
    def fails(key: str) -> None:
        names: dict[str, int] = {}
        try:
            names[key]
        except KeyError as exc:
            raise LearnerError(f"no {key} here") from exc

    channel.ns["fails"] = fails
    with pytest.raises(RemoteError) as caught:
        channel.learner("fails")("answer")
    error = caught.value
    assert type(error).__name__ == "LearnerError" and error.type_name == "LearnerError"
    assert type(error).__module__ == "wslab.grading.rpc" and not isinstance(error, LearnerError)
    assert isinstance(error, ValueError) and str(error) == "no answer here"  # `except ValueError` in a check works
    assert type(error.__cause__) is KeyError and str(error.__cause__) == "'answer'"


def test_a_learners_builtin_exception_arrives_as_that_builtin_and_one_returned_as_a_value(channel: Channel) -> None:
    channel.ns.update(divide=lambda: 1 / 0, made=lambda: [ValueError("as a value"), LearnerError("mine")])
    with pytest.raises(ZeroDivisionError) as caught:
        channel.learner("divide")()
    assert type(caught.value) is ZeroDivisionError and str(caught.value) == "division by zero"
    plain, mine = channel.learner("made")()
    assert type(plain) is ValueError and str(plain) == "as a value"
    assert isinstance(mine, RemoteError) and isinstance(mine, ValueError) and mine.type_name == "LearnerError"


@pytest.mark.parametrize("raised", [SystemExit(3), KeyboardInterrupt(), GeneratorExit()], ids=repr)
def test_a_learner_cannot_raise_what_would_stop_the_checker(channel: Channel, raised: BaseException) -> None:
    def stops() -> None:
        raise raised

    channel.ns["stops"] = stops
    with pytest.raises(RemoteError) as caught:
        channel.learner("stops")()
    assert caught.value.type_name == type(raised).__name__
    assert not isinstance(caught.value, SystemExit | KeyboardInterrupt | GeneratorExit)
    assert channel.trusted.request("echo", value="still here") == "still here"


def test_the_checks_exceptions_reach_learner_code_as_their_own_class_where_it_imports(channel: Channel) -> None:
    def attempt(callback: Callable[[], Any]) -> tuple[str, str, str]:  # the learner's code
        try:
            callback()
        except Exception as exc:
            return type(exc).__name__, type(exc).__module__, str(exc)
        return "nothing", "", ""

    def too_slow() -> None:
        raise TimeoutError("too slow")

    def gone() -> None:
        raise ClientClosedError("gone")

    def odd() -> None:
        raise LearnerError("odd")  # a class the sandbox does not import: a RuntimeError that names it

    channel.ns["attempt"] = attempt
    proxy = channel.learner("attempt")
    assert proxy(too_slow) == ("TimeoutError", "builtins", "too slow")
    assert proxy(gone) == ("ClientClosedError", "wslab.core.errors", "gone")
    assert proxy(odd) == ("RuntimeError", "builtins", "LearnerError: odd")


def test_other_objects_cross_as_handles_and_a_handle_that_comes_home_is_the_object_itself(channel: Channel) -> None:
    class Box:
        pass

    async def later() -> None:
        pass

    box = Box()
    channel.ns.update(box=box, Box=Box, later=later, double=lambda n: 2 * n, is_box=lambda x: x is box,
                      back=lambda x: x, same=lambda a, b: a is b and isinstance(a, Capability))
    proxy = channel.learner("box")
    assert isinstance(proxy, Proxy) and proxy.kind == "object"
    assert [channel.learner(name).kind for name in ("Box", "later", "double")] == ["class", "async", "function"]
    assert channel.learner("box") is proxy  # the same object: the same handle, the same proxy
    assert channel.learner("is_box")(proxy) is True  # back in the sandbox it is the learner's object again
    assert channel.learner("back")(proxy) is proxy

    def callback() -> None:
        pass

    assert channel.learner("back")(callback) is callback  # the checker's own function, not a copy
    seen: list[Any] = []
    assert channel.learner("same")(seen.append, seen.append) is True  # one bound method, one handle


def test_reset_forgets_the_handles_given_so_a_later_check_cannot_use_them(channel: Channel) -> None:
    channel.ns["double"] = lambda n: 2 * n
    double = channel.learner("double")
    assert double(4) == 8
    channel.sandbox.reset()
    with pytest.raises(LookupError, match="handles last one check"):
        double(4)


# ---------------------------------------------------------------- proxies


class _Inbox:
    """A learner's object with the usual special methods."""

    def __init__(self, *items: str) -> None:
        self.name = "inbox"
        self.items = list(items)

    def add(self, item: str) -> int:
        self.items.append(item)
        return len(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[str]:
        return iter(self.items)

    def __contains__(self, item: object) -> bool:
        return item in self.items

    def __getitem__(self, index: int) -> str:
        return self.items[index]

    def __repr__(self) -> str:
        return f"<Inbox of {len(self.items)}>"

    def __str__(self) -> str:
        return ", ".join(self.items)


def test_using_a_proxy_asks_the_sandbox_calls_attributes_and_the_builtins(channel: Channel) -> None:
    inbox = _Inbox("hello", "world")
    channel.ns.update(inbox=inbox, empty=_Inbox(), Inbox=_Inbox)
    proxy = channel.learner("inbox")
    assert proxy.name == "inbox" and proxy.items == ["hello", "world"]
    assert len(proxy) == 2 and bool(proxy) is True and bool(channel.learner("empty")) is False
    assert list(proxy) == ["hello", "world"] and [item.upper() for item in proxy] == ["HELLO", "WORLD"]
    assert "world" in proxy and "moon" not in proxy
    assert proxy[0] == "hello" and proxy[-1] == "world"
    with pytest.raises(IndexError):
        proxy[5]
    assert repr(proxy) == "<Inbox of 2>" and str(proxy) == "hello, world"
    assert proxy.add("moon") == 3 and inbox.items == ["hello", "world", "moon"]  # the learner's own object changed
    proxy.items.append("copy")  # what came back is data: a copy
    assert len(proxy) == 3
    made = channel.learner("Inbox")("a")
    assert isinstance(made, Proxy) and made.kind == "object" and list(made) == ["a"]
    with pytest.raises(AttributeError):
        _ = proxy.nothing_of_that_name


def test_a_proxy_does_not_change_the_learners_object(channel: Channel) -> None:
    inbox = _Inbox("hello")
    channel.ns["inbox"] = inbox
    proxy = channel.learner("inbox")
    with pytest.raises(AttributeError, match="checks do not change a learner's objects"):
        proxy.name = "changed"
    assert inbox.name == "inbox" and proxy.name == "inbox"


def test_a_proxys_repr_says_what_it_is_when_the_learners_repr_fails(channel: Channel) -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    channel.ns["broken"] = Broken()
    assert repr(channel.learner("broken")) == "<learner's object>"


def test_a_proxy_equals_only_itself_whatever_the_learners_eq_says(channel: Channel) -> None:
    class Flatterer:
        def __init__(self) -> None:
            self.asked: list[object] = []

        def __eq__(self, other: object) -> bool:
            self.asked.append(other)
            return True

        def __hash__(self) -> int:
            return 0

    flatterer = Flatterer()
    channel.ns.update(flatterer=flatterer, many=lambda: [flatterer])
    proxy = channel.learner("flatterer")
    expected = 42
    assert (proxy == expected) is False and (expected == proxy) is False and proxy != expected
    assert (proxy == "what the check expects") is False
    assert proxy not in [42, "x"] and channel.learner("many")() != [42]
    assert proxy == proxy and proxy in [proxy] and {proxy: 1}[proxy] == 1
    assert flatterer.asked == []  # never consulted


async def test_awaiting_a_learners_coroutine_runs_it_on_the_sandboxs_loop(channel: Channel) -> None:
    channel.trusted.bind_loop(asyncio.get_running_loop())  # the learner's code calls back while this awaits
    threads: list[int | None] = []

    async def fetch(note: Callable[[str], None], later: Callable[[str], Any], word: str) -> str:  # the learner's
        threads.append(threading.get_ident())
        note(f"started {word}")
        return str(await later(word)) + "!"

    async def later(word: str) -> str:  # the check's async callback
        await asyncio.sleep(0)
        return word.upper()

    channel.ns["fetch"] = fetch
    log: list[str] = []
    proxy = channel.learner("fetch")
    assert proxy.kind == "async"
    coroutine = proxy(log.append, later, "hi")
    assert isinstance(coroutine, Proxy) and coroutine.kind == "awaitable" and threads == []  # not started yet
    assert await coroutine == "HI!"
    assert log == ["started hi"] and threads == [channel.loop_thread]
    with pytest.raises(RuntimeError, match="twice"):
        await coroutine
    with pytest.raises(TypeError, match="not awaitable"):
        await proxy


def test_without_a_loop_nor_a_waiting_thread_nothing_serves_a_request(channel: Channel) -> None:
    channel.ns["double"] = lambda n: 2 * n
    double = channel.learner("double")
    channel.sandbox.bind_loop(None)
    with pytest.raises(RuntimeError, match="nothing is listening"):
        double(2)
    channel.sandbox.bind_loop(channel.loop)
    assert double(2) == 4


# ---------------------------------------------------------------- capabilities


def test_learner_code_can_call_a_checks_callback_and_read_nothing_of_it(channel: Channel) -> None:
    sent: list[str] = []

    def use(send: Any) -> dict[str, str]:  # the learner's code, in the sandbox
        assert isinstance(send, Capability) and repr(send) == "<the checker's function>"
        send("hello")
        tried: dict[str, str] = {}
        for name in ("__self__", "__globals__", "__code__", "clear", "copy", "append"):
            try:
                getattr(send, name)
                tried[name] = "read"
            except AttributeError as exc:
                tried[name] = str(exc)
        try:
            send.payload = 1
        except AttributeError as exc:
            tried["setattr"] = str(exc)
        return tried

    channel.ns["use"] = use
    tried = channel.learner("use")(sent.append)
    assert sent == ["hello"]
    assert [tried[name] for name in ("__self__", "__globals__", "__code__")] == ["__self__", "__globals__", "__code__"]
    for name in ("clear", "copy", "append"):
        assert tried[name] == f"'{name}' is not something learner code may use here"
    assert tried["setattr"] == "this object belongs to the checker"


def test_a_facade_lends_learner_code_its_listed_methods_and_nothing_else(channel: Channel) -> None:
    assert FACADES[FakeClock] >= {"monotonic", "wall"}
    clock = FakeClock(monotonic=5.0, wall=1_700_000_000.0)

    def read(clock: Any) -> dict[str, Any]:  # the learner's code
        out: dict[str, Any] = {"monotonic": clock.monotonic(), "wall": clock.wall()}
        for name in ("advance", "_monotonic"):
            try:
                out[name] = getattr(clock, name)(60) if name == "advance" else getattr(clock, name)
            except AttributeError as exc:
                out[name] = f"refused: {exc}"
        return out

    channel.ns["read"] = read
    out = channel.learner("read")(clock)
    assert (out["monotonic"], out["wall"]) == (5.0, 1_700_000_000.0)
    assert out["advance"] == "refused: 'advance' is not something learner code may use here"
    assert out["_monotonic"] == "refused: '_monotonic' is not something learner code may use here"
    assert clock.monotonic() == 5.0  # not advanced


@pytest.mark.parametrize(
    "make",
    [lambda: os, lambda: sys._getframe(), object, lambda: FakeClock, threading.Lock, lambda: {"ok": [1, os]}],
    ids=["module", "frame", "object", "class", "lock", "nested-module"],
)
def test_a_check_can_hand_learner_code_only_data_callables_and_facades(
    channel: Channel, make: Callable[[], Any]
) -> None:
    taken: list[Any] = []
    channel.ns["take"] = taken.append
    with pytest.raises(TypeError, match="only data, callables and FakeClock"):
        channel.learner("take")(make())
    assert taken == []  # refused before anything was sent


def test_a_checks_callback_cannot_hand_back_what_a_check_could_not(channel: Channel) -> None:
    def call(callback: Callable[[], Any]) -> str:  # the learner's code
        try:
            callback()
        except TypeError as exc:
            return str(exc)
        return "got it"

    channel.ns["call"] = call
    assert "not a frame" in channel.learner("call")(sys._getframe)
    assert "not a module" in channel.learner("call")(lambda: sys.modules["os"])


async def test_learner_code_talking_the_protocol_itself_still_cannot_look_inside_the_checker(
    channel: Channel,
) -> None:
    channel.trusted.bind_loop(asyncio.get_running_loop())
    secrets = ["the answer key"]

    async def probe(callback: Capability) -> list[tuple[str, str]]:  # the learner's code, on its own end
        attempts = [
            {"op": "getattr", "ref": callback._ref, "name": "__self__"},
            {"op": "getattr", "ref": callback._ref, "name": "__globals__"},
            {"op": "special", "ref": callback._ref, "what": "repr"},
            {"op": "await", "ref": callback._ref},
            {"op": "call", "ref": 10**9, "args": [], "kwargs": {"$dict": []}},
        ]
        out = []
        for body in attempts:
            try:
                out.append(("answered", repr(await channel.sandbox.send_and_await(body))))
            except Exception as exc:
                out.append((type(exc).__name__, str(exc)))
        return out

    channel.ns["probe"] = probe
    out = await channel.learner("probe")(secrets.append)
    assert out == [
        ("AttributeError", "'__self__' is not something learner code may use here"),
        ("AttributeError", "'__globals__' is not something learner code may use here"),
        ("PermissionError", "learner code cannot look inside the checker's objects"),
        ("PermissionError", "learner code cannot await the checker's objects"),
        ("LookupError", "that object is gone (handles last one check)"),
    ]
    assert secrets == ["the answer key"] and not channel.trusted.closed


# ---------------------------------------------------------------- nesting


def test_requests_nest_and_each_is_served_by_the_thread_waiting_for_its_answer(channel: Channel) -> None:
    learner_threads: set[int] = set()
    check_threads: set[int] = set()

    def pong(ping: Callable[[int], int], n: int) -> int:  # the learner's: calls back the check
        learner_threads.add(threading.get_ident())
        return ping(n) + 1

    channel.ns["pong"] = pong
    remote_pong = channel.learner("pong")

    def ping(n: int) -> int:  # the check's: calls the learner again, until n is 0
        check_threads.add(threading.get_ident())
        return 0 if n == 0 else remote_pong(ping, n - 1) + 1

    assert remote_pong(ping, 12) == 25  # 13 levels each way
    assert check_threads == {threading.get_ident()} and learner_threads == {channel.loop_thread}


# ---------------------------------------------------------------- limits


def test_a_message_over_the_limit_breaks_the_channel(connect: Callable[..., Channel]) -> None:
    channel = connect(trusted=Limits(message=1000, wait=5.0))
    assert channel.trusted.request("blob", size=900) == "x" * 900
    began = time.monotonic()
    with pytest.raises(ChannelError, match="over 1000 bytes"):
        channel.trusted.request("blob", size=2000)
    assert time.monotonic() - began < 2.0 and channel.trusted.closed
    with pytest.raises(ChannelError, match="closed"):
        channel.trusted.request("blob", size=1)


def test_a_message_over_the_limit_or_too_deep_is_not_sent_and_the_channel_goes_on(
    connect: Callable[..., Channel],
) -> None:
    channel = connect(trusted=Limits(message=1000, depth=4, wait=5.0))
    with pytest.raises(ValueError, match="over the channel's limit"):
        channel.trusted.request("echo", value="x" * 2000)
    with pytest.raises(ValueError, match="deeper than 4"):
        channel.trusted.request("echo", value=[[[[[["deep"]]]]]])
    assert channel.echoed == [] and channel.trusted.request("echo", value="fine") == "fine"


def test_a_value_nested_deeper_than_the_limit_breaks_the_channel(connect: Callable[..., Channel]) -> None:
    channel = connect(trusted=Limits(depth=4, wait=5.0))
    channel.ns["deep"] = lambda: [[[[[["deep"]]]]]]
    deep = channel.learner("deep")
    with pytest.raises(ChannelError, match="deeper than 4"):
        deep()
    assert channel.trusted.closed


def test_the_sandbox_may_send_only_limits_total_bytes_between_resets(connect: Callable[..., Channel]) -> None:
    channel = connect(trusted=Limits(total=1000, wait=5.0))
    for _ in range(3):  # two answers of about 420 bytes a check: within the budget, check after check
        assert channel.trusted.request("blob", size=400) == "x" * 400
        assert channel.trusted.request("blob", size=400) == "x" * 400
        channel.trusted.reset()
    channel.trusted.request("blob", size=400)
    channel.trusted.request("blob", size=400)
    with pytest.raises(ChannelError, match="more than 1000 bytes"):
        channel.trusted.request("blob", size=400)
    assert channel.trusted.closed


def test_the_total_counts_only_what_the_sandbox_sends(connect: Callable[..., Channel]) -> None:
    channel = connect(sandbox=Limits(total=100, wait=5.0))
    for _ in range(5):
        assert channel.trusted.request("echo", value="y" * 300) == "y" * 300
    assert not channel.sandbox.closed and not channel.trusted.closed


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        (b"this is not JSON\n", "not JSON"),
        (b"[1, 2]\n", "not a message"),
        (b'{"re": ID, "ok": 1, "extra": 2}\n', "not a message"),
        (b'{"re": 999999, "ok": 1}\n', "never made"),
        (b'{"re": "ID", "ok": 1}\n', "never made"),
        (b'{"re": ID}\n', "neither a value nor an error"),
        (b'{"op": "call"}\n', "without an id or an op"),
        (b'{"id": 77, "op": "no such thing"}\n', "unknown operation"),
    ],
    ids=["not-json", "a-list", "an-unknown-key", "never-asked", "not-an-id", "no-value", "no-op", "unknown-op"],
)
def test_a_peer_that_breaks_the_rules_breaks_the_channel_and_the_waiting_call_fails_at_once(
    peer: RawPeer, line: bytes, complaint: str
) -> None:
    call = in_thread(lambda: peer.endpoint.request("anything"))
    request = peer.receive()
    assert request["op"] == "anything"
    peer.write(line.replace(b"ID", str(request["id"]).encode()))
    with pytest.raises(ChannelError, match=complaint):
        call.result(timeout=2)  # well within Limits.wait (5 s): not a timeout
    assert peer.endpoint.closed
    assert peer.receive() is None  # the endpoint closed its end
    with pytest.raises(ChannelError, match=complaint):
        peer.endpoint.request("again")


def test_a_request_answered_twice_breaks_the_channel(peer: RawPeer) -> None:
    call = in_thread(lambda: peer.endpoint.request("once"))
    request = peer.receive()
    peer.send({"re": request["id"], "ok": 1})
    peer.send({"re": request["id"], "ok": 2})
    assert call.result(timeout=2) == 1
    with pytest.raises(ChannelError, match="twice"):
        peer.endpoint.request("again")  # refused, or failed when the second answer is read
    assert peer.endpoint.closed


@pytest.mark.parametrize(
    ("answer", "complaint"),
    [
        ({"ok": {"$what": 1}}, "does not know"),
        ({"ok": {"$enum": ["os", "environ", "HOME"]}}, "enum this channel does not know"),
        ({"ok": {"$enum": ["http", "HTTPStatus", "NO_SUCH_STATUS"]}}, "enum this channel does not know"),
        ({"ok": {"$bytes": "not base64!"}}, "malformed bytes"),
        ({"ok": {"$set": [[1]]}}, "unhashable"),
        ({"ok": {"$dict": [[[1], 2]]}}, "unhashable key"),
        ({"ok": {"$ref": "x", "kind": "object"}}, "malformed handle"),
        ({"ok": {"$ref": 1, "kind": "module"}}, "malformed handle"),
        ({"ok": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}, "deeper"),
        ({"err": {"type": "ValueError"}}, "malformed error"),
    ],
    ids=["unknown-tag", "not-a-known-enum", "not-a-member", "bytes", "set", "dict", "handle", "kind", "deep",
         "error"],
)
def test_an_answer_that_is_not_a_well_formed_value_breaks_the_channel(
    peer: RawPeer, answer: dict[str, Any], complaint: str
) -> None:
    call = in_thread(lambda: peer.endpoint.request("anything"))
    request = peer.receive()
    peer.send({"re": request["id"], **answer})
    with pytest.raises(ChannelError, match=complaint):
        call.result(timeout=2)
    assert peer.endpoint.closed
    assert peer.receive() is None


# ---------------------------------------------------------------- every wait bounded


def test_a_blocking_call_gives_up_after_limits_wait_and_its_late_answer_is_dropped(
    connect: Callable[..., Channel],
) -> None:
    channel = connect(trusted=Limits(wait=0.5))
    started, release = threading.Event(), threading.Event()

    def stuck() -> str:  # the learner's: never answers in time
        started.set()
        release.wait(5)
        return "late"

    channel.ns["stuck"] = stuck
    proxy = channel.learner("stuck")
    began = time.monotonic()
    try:
        with pytest.raises(TimeoutError, match="no answer from the sandbox within 0.5 s"):
            proxy()
        took = time.monotonic() - began
        assert started.is_set() and 0.45 <= took < 2.5
    finally:
        release.set()
    # the late answer comes before this one's, and is dropped: the channel goes on
    body = {"op": "echo", "fields": channel.trusted.encode({"value": "next"})}
    assert channel.trusted.send_and_wait(body, timeout=5) == "next"
    assert not channel.trusted.closed


def test_a_request_is_answered_once_a_late_answer_is_dropped_and_a_second_one_breaks_the_channel() -> None:
    peer = RawPeer(Limits(wait=0.3))
    try:
        with pytest.raises(TimeoutError):
            peer.endpoint.request("slow")
        slow = peer.receive()
        peer.send({"re": slow["id"], "ok": "late"})
        follow = in_thread(lambda: peer.endpoint.send_and_wait({"op": "next"}, timeout=5))
        request = peer.receive()
        peer.send({"re": request["id"], "ok": "on time"})
        assert follow.result(timeout=5) == "on time" and not peer.endpoint.closed
        peer.send({"re": slow["id"], "ok": "late again"})
        with pytest.raises(ChannelError, match="twice"):
            peer.endpoint.send_and_wait({"op": "again"}, timeout=5)
    finally:
        peer.close()


async def test_cancelling_an_awaited_request_asks_the_peer_to_cancel_it(peer: RawPeer) -> None:
    waiting = asyncio.ensure_future(peer.endpoint.arequest("slow"))
    request = await asyncio.to_thread(peer.receive)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    cancel = await asyncio.to_thread(peer.receive)
    assert cancel["op"] == "cancel" and cancel["target"] == request["id"]
    peer.send({"re": request["id"], "err": {"type": "CancelledError", "message": "cancelled"}})  # dropped
    follow = asyncio.ensure_future(peer.endpoint.arequest("next"))
    request = await asyncio.to_thread(peer.receive)
    peer.send({"re": request["id"], "ok": "fine"})
    assert await asyncio.wait_for(follow, 5) == "fine" and not peer.endpoint.closed


def until_cancelled(started: threading.Event, cancelled: threading.Event) -> Callable[[], Awaitable[None]]:
    """A learner's coroutine function: it sets ``started``, waits for ever, and sets ``cancelled`` when cancelled."""

    async def forever() -> None:  # the learner's
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    return forever


async def test_cancelling_an_awaited_learners_coroutine_cancels_it_in_the_sandbox(channel: Channel) -> None:
    started, cancelled = threading.Event(), threading.Event()
    channel.ns["forever"] = until_cancelled(started, cancelled)
    waiting = asyncio.ensure_future(channel.learner("forever")())
    assert await asyncio.to_thread(started.wait, 5)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await asyncio.to_thread(cancelled.wait, 5)
    assert channel.trusted.request("echo", value="still open") == "still open"


async def test_a_cancel_that_comes_while_the_sandboxs_loop_is_busy_is_not_lost(channel: Channel) -> None:
    waiting, go = threading.Event(), threading.Event()
    started, cancelled = threading.Event(), threading.Event()

    def hog(checkpoint: Callable[[], None]) -> str:  # the learner's: holds its loop until the check says go
        checkpoint()
        return "done"

    channel.ns.update(hog=hog, forever=until_cancelled(started, cancelled))
    remote_hog, remote_forever = channel.learner("hog"), channel.learner("forever")

    def checkpoint() -> None:  # served by the thread that called hog
        waiting.set()
        go.wait(5)

    hogging = in_thread(lambda: remote_hog(checkpoint))
    try:
        assert await asyncio.to_thread(waiting.wait, 5)
        with pytest.raises(TimeoutError):  # its loop is held: the await waits in its queue, then is cancelled
            await asyncio.wait_for(remote_forever(), 0.2)
        # served inside hog's wait for its checkpoint: the sandbox has read the cancel by now
        assert channel.trusted.request("echo", value="read") == "read"
        assert not started.is_set()
    finally:
        go.set()
    assert await asyncio.to_thread(hogging.result, 5) == "done"
    assert await asyncio.to_thread(cancelled.wait, 5)  # the learner's coroutine was cancelled, not left running


def test_closing_an_endpoint_fails_its_waiting_call_at_once(connect: Callable[..., Channel]) -> None:
    channel = connect(trusted=Limits(wait=30.0))
    started, release = threading.Event(), threading.Event()

    def stuck() -> None:
        started.set()
        release.wait(5)

    channel.ns["stuck"] = stuck
    proxy = channel.learner("stuck")
    call = in_thread(proxy)
    try:
        assert started.wait(5)
        began = time.monotonic()
        channel.trusted.close()
        with pytest.raises(ChannelError, match="closed"):
            call.result(timeout=5)
        assert time.monotonic() - began < 2.0  # not Limits.wait's 30 s
    finally:
        release.set()
    with pytest.raises(ChannelError, match="closed"):
        channel.trusted.request("echo", value=1)


async def test_closing_an_endpoint_fails_its_awaited_requests_at_once(channel: Channel) -> None:
    started = threading.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    channel.ns["forever"] = forever
    waiting = asyncio.ensure_future(channel.learner("forever")())
    assert await asyncio.to_thread(started.wait, 5)
    channel.trusted.close()
    with pytest.raises(ChannelError, match="closed"):
        await asyncio.wait_for(waiting, 2)


def test_a_sandbox_that_goes_away_fails_the_call_waiting_for_it(channel: Channel) -> None:
    started, release = threading.Event(), threading.Event()

    def stuck() -> None:
        started.set()
        release.wait(5)

    channel.ns["stuck"] = stuck
    call = in_thread(channel.learner("stuck"))
    try:
        assert started.wait(5)
        channel.sandbox.close()
        with pytest.raises(ChannelError, match="the sandbox closed the channel"):
            call.result(timeout=2)
    finally:
        release.set()
    assert channel.trusted.closed
