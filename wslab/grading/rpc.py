"""A data-only channel between the trusted checker and the learner's sandbox.

The checks run in a trusted process; the learner's code runs in a sandbox. They talk
over one pipe in each direction, one JSON object per line, and nothing but data
crosses it: no pickle, no code, no object of one side in the other's memory.

**Values.** ``None``, booleans, numbers and strings go as JSON; lists, tuples, dicts,
sets and bytes as tagged JSON; an exception as its type's name, its message and
its chain; a member of a few known enums (``http.HTTPStatus``, websockets' states,
opcodes and close codes) by name. Anything else is a **handle**: a number that names
an object the sender keeps. A handle coming back to its owner is the object itself.
Subclasses of the data types lose their class on the way (a ``str`` subclass arrives
as a ``str``), so a value cannot carry behaviour across.

**Proxies.** On the trusted side a handle to a learner's object is a :class:`Proxy`:
calling it, reading an attribute, ``len()``, ``bool()``, iterating, ``in``, indexing,
``repr()`` and awaiting it are requests to the sandbox. A proxy equals only itself:
a learner's object cannot claim to be equal to what a check expects. On the sandbox
side a handle to a trusted object is a :class:`Capability`: it can only be called
(a callback a check handed over: ``sent.append``, a ``sleep``) or, for the few
classes in :data:`FACADES` (the course's ``FakeClock``), have its listed methods
read. The learner's code cannot read or change anything else of the trusted
process: not an attribute, not a module, not a frame.

**Contracts.**

* every message is at most ``Limits.message`` bytes and, from the sandbox, at most
  ``Limits.total`` bytes in all per :meth:`Endpoint.reset` period; a peer that sends
  more, sends a line that is not a message, answers a request twice or answers one
  that was never asked, has broken the channel: :class:`ChannelError`, and the
  channel is closed;
* a request is answered once, with its value or with the exception it raised;
* requests may nest (a check calls the learner's function, which calls the check's
  callback, which...): a thread blocked waiting for an answer serves the requests
  that arrive meanwhile; otherwise requests run on the event loop bound with
  :meth:`Endpoint.bind_loop`;
* every wait is bounded: a blocking call by ``Limits.wait`` at the most, an awaited
  one by whoever awaits it (cancelling it asks the other side to cancel too).

Longer than 500 lines because the routing of :class:`Endpoint`, its encoding of
values and the two handle types are one protocol that each part refers to: split
into modules, they would import one another.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import enum
import functools
import importlib
import inspect
import itertools
import json
import queue
import threading
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any, Literal

from wslab.core.clock import FakeClock
from wslab.core.errors import WslabError

__all__ = [
    "Capability",
    "ChannelError",
    "Endpoint",
    "FACADES",
    "KNOWN_ENUMS",
    "Limits",
    "Proxy",
    "RemoteError",
    "Side",
]

Side = Literal["trusted", "sandbox"]

FACADES: dict[type, frozenset[str]] = {
    FakeClock: frozenset({"monotonic", "wall", "time"}),
}
"""Trusted classes whose instances a check may hand to learner code, and the methods the learner may use."""

KNOWN_ENUMS = (
    ("http", "HTTPStatus"),
    ("websockets.protocol", "State"),
    ("websockets.frames", "Opcode"),
    ("websockets.frames", "CloseCode"),
)
"""Enums that cross by member name and arrive as the same member."""

_MESSAGE_KEYS = frozenset(
    {"id", "re", "op", "ok", "err", "target", "ref", "args", "kwargs", "name", "what", "value", "fields"}
)


@dataclass(frozen=True)
class Limits:
    """What one side accepts from the other (bytes, nesting) and the longest blocking wait (seconds)."""

    message: int = 1 << 20
    total: int = 64 << 20
    depth: int = 32
    wait: float = 60.0
    text: int = 100_000


class ChannelError(WslabError):
    """The peer broke the channel's rules (too much, not a message, an answer nobody asked for), or it is gone."""


class RemoteError(Exception):
    """An exception raised on the other side whose class is not rebuilt here: ``type_name`` says what it was."""

    type_name: str = "Exception"

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


_REMOTE_CLASSES: dict[tuple[str, tuple[str, ...]], type[RemoteError]] = {}
_BUILTIN_EXCEPTIONS = {
    name: value
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
}
_NOT_FROM_LEARNERS = frozenset({"SystemExit", "KeyboardInterrupt", "GeneratorExit", "BaseExceptionGroup"})


def _remote_class(name: str, bases: tuple[str, ...]) -> type[RemoteError]:
    """``RemoteError`` subclass named ``name`` that is also each builtin in ``bases`` (isinstance works)."""
    key = (name, bases)
    cls = _REMOTE_CLASSES.get(key)
    if cls is None:
        builtin = [
            _BUILTIN_EXCEPTIONS[b]
            for b in bases
            if b in _BUILTIN_EXCEPTIONS
            and b not in _NOT_FROM_LEARNERS
            and issubclass(_BUILTIN_EXCEPTIONS[b], Exception)
        ]
        parents: list[type] = [RemoteError]
        for base in builtin:
            if not any(issubclass(p, base) for p in parents):
                try:
                    type("probe", (*parents, base), {})
                except TypeError:
                    continue  # an impossible layout: keep what fits
                parents.append(base)
        cls = type(name, tuple(parents), {"type_name": name, "__module__": "wslab.grading.rpc"})
        _REMOTE_CLASSES[key] = cls
    return cls


class _Cancelled(Exception):
    """The other side cancelled what it awaited."""


class Endpoint:
    """One side of the channel: reads ``reader``, writes ``writer`` (binary file objects).

    ``side`` decides what it sends and accepts: the **trusted** side gives the peer
    only callables and :data:`FACADES` (as :class:`Capability`), and rebuilds the peer's
    exceptions only as builtins or :class:`RemoteError`; the **sandbox** side gives the
    peer any object (as a :class:`Proxy` there). ``handlers`` maps request names to
    functions serving them on this side (``lookup``, ``run_cell``...); the generic
    ones (``call``, ``getattr``, ``special``, ``await``, ``cancel``) are built in.
    """

    def __init__(
        self,
        reader: IO[bytes],
        writer: IO[bytes],
        *,
        side: Side,
        limits: Limits = Limits(),
        handlers: Mapping[str, Callable[..., Any]] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.side = side
        self.limits = limits
        self.handlers = dict(handlers or {})
        self._reader = reader
        self._writer = writer
        self._write_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._pending: dict[int, _Waiter] = {}
        self._abandoned: set[int] = set()  # asked, then cancelled: one late answer is dropped
        self._blocked: list[_Waiter] = []  # threads waiting in call(), innermost last
        self._exported: dict[int, Any] = {}
        self._export_ids: dict[Any, int] = {}  # _identity(obj) -> handle
        self._proxies: dict[int, Any] = {}
        self._tasks: dict[int, asyncio.Task[Any]] = {}  # requests served as tasks, by request id
        self._loop: asyncio.AbstractEventLoop | None = loop  # bound before reading: the first request may come at once
        self._received = 0
        self._closed: BaseException | None = None
        self._reader_thread = threading.Thread(target=self._read_loop, name=f"wslab-rpc-{side}", daemon=True)
        self._reader_thread.start()

    # ------------------------------------------------------------------ lifecycle

    def bind_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Serve the peer's requests on ``loop`` from now on (None: only inside a blocking call)."""
        self._loop = loop

    @property
    def closed(self) -> bool:
        return self._closed is not None

    def close(self, why: BaseException | None = None) -> None:
        """Close the channel: every waiting call raises :class:`ChannelError`."""
        with self._lock:
            if self._closed is None:
                self._closed = why or ChannelError("the channel was closed")
            waiters = list(self._pending.values())
            self._pending.clear()
        for waiter in waiters:
            waiter.put(("closed", self._closed))
        try:  # the reader is left to the reading thread: closing it under a blocked read would hang here
            with self._write_lock:
                self._writer.close()
        except Exception:
            pass

    def reset(self) -> None:
        """Forget every handle given or received, and start counting the bytes received again (between checks)."""
        with self._lock:
            self._exported.clear()
            self._export_ids.clear()
            self._proxies.clear()
            self._received = 0

    # ------------------------------------------------------------------ calls to the peer

    def request(self, op: str, **fields: Any) -> Any:
        """Ask the peer for ``op`` (one of its handlers) and wait, at most ``Limits.wait`` s, serving its requests."""
        return self.send_and_wait({"op": op, "fields": self.encode(fields)})

    async def arequest(self, op: str, **fields: Any) -> Any:
        """Ask the peer for ``op`` (one of its handlers) and await the answer."""
        return await self.send_and_await({"op": op, "fields": self.encode(fields)})

    def send_and_wait(self, body: dict[str, Any], timeout: float | None = None) -> Any:
        """Send the request ``body`` (already encoded) and wait for its answer, serving nested requests.

        Waits at most ``timeout`` seconds (default ``Limits.wait``): :class:`TimeoutError`.
        """
        waiter = _Waiter(None)
        with self._lock:
            self._blocked.append(waiter)  # before sending: the peer's nested requests may come at once
        try:
            ident = self._send_request(body, waiter)
            return self._wait_blocking(ident, waiter, self.limits.wait if timeout is None else timeout)
        finally:
            with self._lock:
                self._blocked.remove(waiter)
                left: list[dict[str, Any]] = []
                while not waiter.queue.empty():  # requests routed here after our answer came: not lost
                    kind, value = waiter.queue.get_nowait()
                    if kind == "request":
                        left.append(value)
            for message in left:
                self._route_request(message)

    async def send_and_await(self, body: dict[str, Any]) -> Any:
        """Send the request ``body`` and await its answer; cancelling asks the peer to cancel it too."""
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop.create_future())
        ident = self._send_request(body, waiter)
        assert waiter.future is not None
        try:
            kind, value = await waiter.future
        except asyncio.CancelledError:
            with self._lock:
                if self._pending.pop(ident, None) is not None:
                    self._abandoned.add(ident)
            if not self.closed:
                try:
                    self._send({"id": next(self._ids), "op": "cancel", "target": ident})
                except ChannelError:
                    pass
            raise
        return self._outcome(kind, value)

    def _send_request(self, body: dict[str, Any], waiter: _Waiter) -> int:
        ident = next(self._ids)
        message = {"id": ident, **body}
        with self._lock:
            if self._closed is not None:
                raise ChannelError(f"the channel is closed: {self._closed}")
            self._pending[ident] = waiter
        try:
            self._send(message)
        except BaseException:
            with self._lock:
                self._pending.pop(ident, None)
            raise
        return ident

    def _wait_blocking(self, ident: int, waiter: _Waiter, timeout: float) -> Any:
        deadline = _monotonic() + timeout
        while True:
            left = deadline - _monotonic()
            if left <= 0:
                with self._lock:
                    if self._pending.pop(ident, None) is not None:
                        self._abandoned.add(ident)
                raise TimeoutError(f"no answer from the {self._peer_name} within {timeout:g} s")
            try:
                kind, value = waiter.queue.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if kind == "request":
                self._serve_now(value)
                continue
            return self._outcome(kind, value)

    def _outcome(self, kind: str, value: Any) -> Any:
        if kind == "closed":
            raise ChannelError(f"the {self._peer_name} is gone: {value}")
        try:
            result = self.decode(value) if kind == "ok" else self._decode_exception(value)
        except ChannelError as exc:  # an answer that is not a well-formed value breaks the channel, as a request does
            self.close(exc)
            raise
        if kind == "err":
            raise result
        return result

    @property
    def _peer_name(self) -> str:
        return "sandbox" if self.side == "trusted" else "checker"

    # ------------------------------------------------------------------ the wire

    def _send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message, ensure_ascii=True, separators=(",", ":")).encode("ascii") + b"\n"
        if len(data) > self.limits.message:
            raise ValueError(f"a message of {len(data)} bytes is over the channel's limit ({self.limits.message})")
        with self._write_lock:
            if self._closed is not None:
                raise ChannelError(f"the channel is closed: {self._closed}")
            try:
                self._writer.write(data)
                self._writer.flush()
            except (OSError, ValueError) as exc:
                raise ChannelError(f"cannot write to the {self._peer_name}: {exc}") from None

    def _read_loop(self) -> None:
        try:
            while True:
                line = self._reader.readline(self.limits.message + 1)
                if not line:
                    raise ChannelError(f"the {self._peer_name} closed the channel")
                if len(line) > self.limits.message or not line.endswith(b"\n"):
                    raise ChannelError(f"the {self._peer_name} sent a message over {self.limits.message} bytes")
                self._received += len(line)
                if self.side == "trusted" and self._received > self.limits.total:
                    raise ChannelError(f"the {self._peer_name} sent more than {self.limits.total} bytes")
                try:
                    message = json.loads(line)
                except ValueError:
                    raise ChannelError(f"the {self._peer_name} sent a line that is not JSON") from None
                self._route(message)
        except ChannelError as exc:
            self.close(exc)
        except Exception as exc:  # pragma: no cover - a bug here must not hang the other threads
            self.close(ChannelError(f"the channel failed: {type(exc).__name__}: {exc}"))

    def _route(self, message: Any) -> None:
        if not isinstance(message, dict) or not set(message) <= _MESSAGE_KEYS:
            raise ChannelError(f"the {self._peer_name} sent something that is not a message")
        if "re" in message:
            ident = message["re"]
            with self._lock:
                waiter = self._pending.pop(ident, None) if isinstance(ident, int) else None
                if waiter is None:
                    if ident in self._abandoned:
                        self._abandoned.discard(ident)
                        return
                    raise ChannelError(f"the {self._peer_name} answered a request that was never made (or twice)")
            if "ok" in message:
                waiter.put(("ok", message["ok"]))
            elif "err" in message:
                waiter.put(("err", message["err"]))
            else:  # its waiter is no longer pending: closing would not tell it
                broken = ChannelError(f"the {self._peer_name} sent an answer with neither a value nor an error")
                waiter.put(("closed", broken))
                raise broken
            return
        if not isinstance(message.get("id"), int) or not isinstance(message.get("op"), str):
            raise ChannelError(f"the {self._peer_name} sent a request without an id or an op")
        if message["op"] == "cancel":  # on the loop, after the request it cancels: its task may not be made yet
            loop = self._loop
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(self._cancel_task, message.get("target"))
            return
        self._route_request(message)

    def _route_request(self, message: dict[str, Any]) -> None:
        if not self._is_async_op(message):
            with self._lock:
                blocked = self._blocked[-1] if self._blocked else None
                if blocked is not None:
                    blocked.put(("request", message))
                    return
        loop = self._loop
        if loop is None or loop.is_closed():
            self._answer_error(message, RuntimeError("nothing is listening here now"))
            return
        loop.call_soon_threadsafe(self._serve_on_loop, message)

    def _is_async_op(self, message: dict[str, Any]) -> bool:
        op = message["op"]
        return op in ("await", "acall") or inspect.iscoroutinefunction(self.handlers.get(op))

    # ------------------------------------------------------------------ serving the peer's requests

    def _serve_now(self, message: dict[str, Any]) -> None:
        """Serve a synchronous request in this thread (nested inside a blocking call)."""
        try:
            value = self._dispatch(message)
        except ChannelError as exc:  # the peer broke the rules: no more talking
            self.close(exc)
            return
        except BaseException as exc:  # the peer gets what our code raised, whatever it was
            self._answer_error(message, exc)
            return
        self._answer(message, value)

    def _serve_on_loop(self, message: dict[str, Any]) -> None:
        if self._is_async_op(message):
            task = asyncio.ensure_future(self._dispatch_async(message))
            self._tasks[message["id"]] = task
            task.add_done_callback(functools.partial(self._finished, message))
            return
        self._serve_now(message)

    def _cancel_task(self, target: Any) -> None:
        task = self._tasks.get(target)
        if task is not None:  # a turn later: its first step runs (a coroutine never started warns "never awaited")
            asyncio.get_running_loop().call_soon(task.cancel)

    def _finished(self, message: dict[str, Any], task: asyncio.Future[Any]) -> None:
        self._tasks.pop(message["id"], None)
        if task.cancelled():
            self._answer_error(message, asyncio.CancelledError("cancelled"))
            return
        exc = task.exception()
        if exc is not None:
            self._answer_error(message, exc)
        else:
            self._answer(message, task.result())

    def _answer(self, message: dict[str, Any], value: Any) -> None:
        try:
            encoded = self.encode(value)
            self._send({"re": message["id"], "ok": encoded})
        except ChannelError:
            pass
        except Exception as exc:  # the value could not be sent: say why
            self._answer_error(message, exc)

    def _answer_error(self, message: dict[str, Any], exc: BaseException) -> None:
        try:
            self._send({"re": message["id"], "err": self._encode_exception(exc, 0)})
        except ChannelError:
            pass
        except ValueError:
            too_big = self._encode_exception(RuntimeError("an error too big to send"), 0)
            self._send({"re": message["id"], "err": too_big})

    def _dispatch(self, message: dict[str, Any]) -> Any:
        op = message["op"]
        if op == "call":
            target = self._own(message.get("ref"))
            if self.side == "trusted" and inspect.iscoroutinefunction(target):
                raise TypeError("an async callback must be awaited (acall)")
            args = self._decode_args(message.get("args"))
            kwargs = self._decode_kwargs(message.get("kwargs"))
            return target(*args, **kwargs)
        if op == "getattr":
            target = self._own(message.get("ref"))
            attribute = message.get("name")
            if not isinstance(attribute, str):
                raise ChannelError("getattr without a name")
            if self.side == "trusted":
                allowed = next((names for cls, names in FACADES.items() if isinstance(target, cls)), frozenset())
                if attribute not in allowed:
                    raise AttributeError(f"{attribute!r} is not something learner code may use here")
            return getattr(target, attribute)
        if op == "special":
            if self.side == "trusted":
                raise PermissionError("learner code cannot look inside the checker's objects")
            return self._special(self._own(message.get("ref")), message.get("what"), message.get("value"))
        handler = self.handlers.get(op)
        if handler is None:
            raise ChannelError(f"the {self._peer_name} asked for an unknown operation {op!r}")
        return handler(**self._decode_kwargs(message.get("fields")))

    async def _dispatch_async(self, message: dict[str, Any]) -> Any:
        op = message["op"]
        if op == "await":
            if self.side == "trusted":
                raise PermissionError("learner code cannot await the checker's objects")
            target = self._own(message.get("ref"))
            if not inspect.isawaitable(target):
                raise TypeError(f"{type(target).__name__} is not awaitable")
            return await target
        if op == "acall":
            target = self._own(message.get("ref"))
            args = self._decode_args(message.get("args"))
            kwargs = self._decode_kwargs(message.get("kwargs"))
            result = target(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result
        handler = self.handlers.get(op)
        if handler is None:  # pragma: no cover - routed here only for async handlers
            raise ChannelError(f"unknown operation {op!r}")
        return await handler(**self._decode_kwargs(message.get("fields")))

    def _special(self, target: Any, what: Any, value: Any) -> Any:
        if what == "len":
            return len(target)
        if what == "bool":
            return bool(target)
        if what == "iter":
            items = []
            for item in target:
                items.append(item)
                if len(items) > 10_000:
                    raise ValueError("more than 10,000 items: not listed")
            return items
        if what == "contains":
            return self.decode(value) in target
        if what == "getitem":
            return target[self.decode(value)]
        if what == "repr":
            return repr(target)[: self.limits.text]
        if what == "str":
            return str(target)[: self.limits.text]
        if what == "kind":
            return _kind(target)
        raise ValueError(f"unknown special operation {what!r}")

    def _own(self, ref: Any) -> Any:
        if not isinstance(ref, int):
            raise ChannelError(f"the {self._peer_name} named an object by something that is not a handle")
        with self._lock:
            if ref not in self._exported:
                raise LookupError("that object is gone (handles last one check)")
            return self._exported[ref]

    # ------------------------------------------------------------------ values

    def encode(self, value: Any, depth: int = 0) -> Any:
        """``value`` as JSON data: data by value, everything else by handle (see the module's docstring)."""
        if depth > self.limits.depth:
            raise ValueError(f"a value nested deeper than {self.limits.depth} levels")
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, enum.Enum):
            for module, name in KNOWN_ENUMS:
                cls = _known_enum(module, name)
                if cls is not None and isinstance(value, cls):
                    return {"$enum": [module, name, value.name]}
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return float(value)
        if isinstance(value, str):
            return str(value)
        if isinstance(value, bytes | bytearray):
            return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
        if isinstance(value, list):
            return [self.encode(v, depth + 1) for v in value]
        if isinstance(value, tuple):
            return {"$tuple": [self.encode(v, depth + 1) for v in value]}
        if isinstance(value, set | frozenset):
            return {"$set": [self.encode(v, depth + 1) for v in value]}
        if isinstance(value, dict):
            return {"$dict": [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in value.items()]}
        if isinstance(value, BaseException):
            return {"$exc": self._encode_exception(value, depth + 1)}
        if isinstance(value, Proxy | Capability) and value._endpoint is self:
            return {"$own": value._ref}
        return {"$ref": self._export(value), "kind": _kind(value)}

    def _export(self, value: Any) -> int:
        if self.side == "trusted" and (isinstance(value, type) or not (callable(value) or type(value) in FACADES)):
            raise TypeError(
                f"a check may hand learner code only data, callables and {', '.join(c.__name__ for c in FACADES)}; "
                f"not a {type(value).__name__}"
            )
        key = _identity(value)
        with self._lock:
            handle = self._export_ids.get(key)
            if handle is None or not _same(self._exported.get(handle), value):
                handle = next(self._ids)
                self._exported[handle] = value
                self._export_ids[key] = handle
            return handle

    def decode(self, data: Any, depth: int = 0) -> Any:
        """The value ``data`` stands for; :class:`ChannelError` for anything that is not a well-formed value."""
        if depth > self.limits.depth:
            raise ChannelError(f"the {self._peer_name} sent a value nested deeper than {self.limits.depth} levels")
        if data is None or isinstance(data, bool | int | float):
            return data
        if isinstance(data, str):
            return data
        if isinstance(data, list):
            return [self.decode(v, depth + 1) for v in data]
        if not isinstance(data, dict) or len(data) > 2:
            raise ChannelError(f"the {self._peer_name} sent a value this channel does not know")
        if "$tuple" in data:
            return tuple(self.decode(v, depth + 1) for v in self._list(data["$tuple"]))
        if "$set" in data:
            items = [self.decode(v, depth + 1) for v in self._list(data["$set"])]
            try:
                return set(items)
            except TypeError:
                raise ChannelError(f"the {self._peer_name} sent a set of unhashable values") from None
        if "$dict" in data:
            out: dict[Any, Any] = {}
            for pair in self._list(data["$dict"]):
                if not isinstance(pair, list) or len(pair) != 2:
                    raise ChannelError(f"the {self._peer_name} sent a malformed dict")
                try:
                    out[self.decode(pair[0], depth + 1)] = self.decode(pair[1], depth + 1)
                except TypeError:
                    raise ChannelError(f"the {self._peer_name} sent a dict with an unhashable key") from None
            return out
        if "$bytes" in data:
            if not isinstance(data["$bytes"], str):
                raise ChannelError(f"the {self._peer_name} sent malformed bytes")
            try:
                return base64.b64decode(data["$bytes"], validate=True)
            except ValueError:
                raise ChannelError(f"the {self._peer_name} sent malformed bytes") from None
        if "$enum" in data:
            spec = data["$enum"]
            if isinstance(spec, list) and len(spec) == 3 and (spec[0], spec[1]) in KNOWN_ENUMS:
                cls = _known_enum(spec[0], spec[1])
                if cls is not None and isinstance(spec[2], str) and spec[2] in cls.__members__:
                    return cls[spec[2]]
            raise ChannelError(f"the {self._peer_name} sent an enum this channel does not know")
        if "$exc" in data:
            return self._decode_exception(data["$exc"], depth + 1)
        if "$own" in data:
            return self._own(data["$own"])
        if "$ref" in data:
            ref, kind = data["$ref"], data.get("kind")
            if not isinstance(ref, int) or kind not in _KINDS:
                raise ChannelError(f"the {self._peer_name} sent a malformed handle")
            with self._lock:
                proxy = self._proxies.get(ref)
                if proxy is None:
                    proxy = (Proxy if self.side == "trusted" else Capability)._make(self, ref, kind)
                    self._proxies[ref] = proxy
                return proxy
        raise ChannelError(f"the {self._peer_name} sent a value this channel does not know")

    def _list(self, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise ChannelError(f"the {self._peer_name} sent a malformed value")
        return value

    def _decode_args(self, data: Any) -> list[Any]:
        args = self.decode(data if data is not None else [])
        if not isinstance(args, list):
            raise ChannelError("arguments must be a list")
        return args

    def _decode_kwargs(self, data: Any) -> dict[str, Any]:
        kwargs = self.decode(data if data is not None else {"$dict": []})
        if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
            raise ChannelError("keyword arguments must be a dict of names")
        return kwargs

    def _encode_exception(self, exc: BaseException, depth: int) -> dict[str, Any]:
        bases = [c.__name__ for c in type(exc).__mro__ if c.__module__ == "builtins" and issubclass(c, BaseException)]
        try:
            message = str(exc)
        except Exception:
            message = f"<{type(exc).__name__} whose message cannot be read>"
        args: list[Any] = []
        for arg in exc.args[:8]:
            args.append(arg if isinstance(arg, str | int | float | bool) or arg is None else repr(arg)[:500])
        cause = exc.__cause__
        return {
            "type": type(exc).__name__[:200],
            "module": (type(exc).__module__ or "")[:200],
            "bases": bases[:20],
            "message": message[: self.limits.text],
            "args": args,
            "cause": self._encode_exception(cause, depth + 1) if cause is not None and depth < 8 else None,
        }

    def _decode_exception(self, data: Any, depth: int = 0) -> BaseException:
        if not (isinstance(data, dict) and isinstance(data.get("type"), str) and isinstance(data.get("message"), str)):
            raise ChannelError(f"the {self._peer_name} sent a malformed error")
        name, module, message = data["type"], str(data.get("module", "")), data["message"]
        bases = tuple(b for b in data.get("bases") or [] if isinstance(b, str))[:20]
        args = [a for a in data.get("args") or [] if a is None or isinstance(a, str | int | float | bool)][:8]
        exc: BaseException
        if self.side == "sandbox":  # from the checker: rebuild its own class where it can
            exc = _rebuild(module, name, args, message)
        elif module == "builtins" and name in _BUILTIN_EXCEPTIONS and name not in _NOT_FROM_LEARNERS:
            exc = _BUILTIN_EXCEPTIONS[name].__new__(_BUILTIN_EXCEPTIONS[name])
            exc.args = tuple(args) if args else (message,)
            if isinstance(exc, OSError) and not args:
                exc.args = (message,)
        else:
            exc = _remote_class(name, bases)(message)
        cause = data.get("cause")
        if cause is not None and depth < 8:
            exc.__cause__ = self._decode_exception(cause, depth + 1)
        return exc


_KINDS = frozenset({"function", "async", "class", "object", "awaitable"})


def _identity(value: Any) -> Any:
    """What names ``value`` across requests: a bound method is its object and function (``seen.append`` twice is
    one handle, so a learner's ``off(event, fn)`` finds the ``fn`` its ``on`` got), anything else its id."""
    owner = getattr(value, "__self__", None)
    if owner is not None and not isinstance(owner, types.ModuleType) and callable(value):
        return (id(owner), getattr(value, "__func__", None) or getattr(value, "__name__", None))
    return id(value)


def _same(kept: Any, value: Any) -> bool:
    if kept is value:
        return True
    owner = getattr(value, "__self__", None)
    return owner is not None and getattr(kept, "__self__", None) is owner and kept == value


def _kind(value: Any) -> str:
    if isinstance(value, type):
        return "class"
    call = type(value).__call__ if callable(value) and not inspect.isroutine(value) else None
    if inspect.iscoroutinefunction(value) or (call is not None and inspect.iscoroutinefunction(call)):
        return "async"
    if inspect.isawaitable(value):
        return "awaitable"
    if callable(value):
        return "function"
    return "object"


@functools.cache
def _known_enum(module: str, name: str) -> type[enum.Enum] | None:
    try:
        value = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None
    return value if isinstance(value, type) and issubclass(value, enum.Enum) else None


def _rebuild(module: str, name: str, args: list[Any], message: str) -> BaseException:
    """The checker's exception, as its own class where that imports (the sandbox trusts the checker)."""
    cls: Any = None
    if module == "builtins":
        cls = _BUILTIN_EXCEPTIONS.get(name)
    elif module.startswith(("websockets.", "asyncio.", "json", "ssl", "wslab.")):
        try:
            cls = getattr(importlib.import_module(module), name, None)
        except ImportError:
            cls = None
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        return RuntimeError(f"{name}: {message}")
    try:
        return cls(*args) if args else cls(message)
    except Exception:
        exc = cls.__new__(cls)
        exc.args = tuple(args) or (message,)
        return exc


def _monotonic() -> float:
    import time

    return time.monotonic()


class _Waiter:
    """Where one request's answer goes: a queue for a blocked thread, or a future on a loop."""

    def __init__(self, future: asyncio.Future[Any] | None) -> None:
        self.future = future
        self.queue: queue.Queue[tuple[str, Any]] = queue.Queue()

    def put(self, item: tuple[str, Any]) -> None:
        future = self.future
        if future is None:
            self.queue.put(item)
            return
        loop = future.get_loop()

        def settle() -> None:
            if not future.done():
                future.set_result(item)

        try:
            loop.call_soon_threadsafe(settle)
        except RuntimeError:
            pass  # the loop is closed: nobody waits any more


class Proxy:
    """A learner's object, as the checks see it: every use is a request to the sandbox (see the module's docstring)."""

    _endpoint: Endpoint
    _ref: int
    _kind: str
    _awaited: bool

    @classmethod
    def _make(cls, endpoint: Endpoint, ref: int, kind: str) -> Proxy:
        proxy = object.__new__(cls)
        object.__setattr__(proxy, "_endpoint", endpoint)
        object.__setattr__(proxy, "_ref", ref)
        object.__setattr__(proxy, "_kind", kind)
        object.__setattr__(proxy, "_awaited", False)
        return proxy

    @property
    def kind(self) -> str:
        """``function``, ``async`` (a coroutine function), ``class``, ``object`` or ``awaitable``."""
        return self._kind

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._endpoint.send_and_wait(_call_body(self._endpoint, "call", self._ref, args, kwargs))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._endpoint.send_and_wait({"op": "getattr", "ref": self._ref, "name": name})

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("checks do not change a learner's objects")

    def _special(self, what: str, value: Any = None) -> Any:
        body = {"op": "special", "ref": self._ref, "what": what, "value": self._endpoint.encode(value)}
        return self._endpoint.send_and_wait(body)

    def __len__(self) -> int:
        result = self._special("len")
        if not isinstance(result, int) or isinstance(result, bool):
            raise TypeError("len() of a learner's object did not give a number")
        return result

    def __bool__(self) -> bool:
        return bool(self._special("bool") is True)

    def __iter__(self) -> Iterator[Any]:
        items = self._special("iter")
        return iter(items if isinstance(items, list) else [])

    def __contains__(self, item: Any) -> bool:
        return self._special("contains", item) is True

    def __getitem__(self, key: Any) -> Any:
        return self._special("getitem", key)

    def __repr__(self) -> str:
        try:
            text = self._special("repr")
        except Exception:
            return f"<learner's {self._kind}>"
        return text if isinstance(text, str) else f"<learner's {self._kind}>"

    def __str__(self) -> str:
        try:
            text = self._special("str")
        except Exception:
            return repr(self)
        return text if isinstance(text, str) else repr(self)

    def __eq__(self, other: object) -> bool:
        return other is self  # a learner's object equals only itself: it cannot claim to be what a check expects

    def __hash__(self) -> int:
        return hash((id(self._endpoint), self._ref))

    def __await__(self) -> Any:
        if self._kind != "awaitable":
            raise TypeError(f"a learner's {self._kind} is not awaitable")
        if self._awaited:
            raise RuntimeError("cannot await a learner's coroutine twice")
        object.__setattr__(self, "_awaited", True)
        return self._endpoint.send_and_await({"op": "await", "ref": self._ref}).__await__()


class Capability:
    """The checker's object as the learner's code sees it: callable, or a few listed methods; nothing else."""

    _endpoint: Endpoint
    _ref: int
    _kind: str

    @classmethod
    def _make(cls, endpoint: Endpoint, ref: int, kind: str) -> Capability:
        cap = object.__new__(cls)
        object.__setattr__(cap, "_endpoint", endpoint)
        object.__setattr__(cap, "_ref", ref)
        object.__setattr__(cap, "_kind", kind)
        return cap

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._kind == "async":
            return self._endpoint.send_and_await(_call_body(self._endpoint, "acall", self._ref, args, kwargs))
        return self._endpoint.send_and_wait(_call_body(self._endpoint, "call", self._ref, args, kwargs))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._endpoint.send_and_wait({"op": "getattr", "ref": self._ref, "name": name})

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("this object belongs to the checker")

    def __repr__(self) -> str:
        return f"<the checker's {self._kind}>"


def _call_body(endpoint: Endpoint, op: str, ref: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"op": op, "ref": ref, "args": endpoint.encode(list(args)), "kwargs": endpoint.encode(dict(kwargs))}
