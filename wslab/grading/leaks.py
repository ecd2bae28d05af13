"""Nothing to copy from: find solution text and hidden checks in a learner's edition of the course.

What a learner installs and opens must hold no answer and no hidden check.
:func:`secrets` gathers what must not be there, from the course folder:

* every **answer line** of ``solutions/*.ipynb``: the lines between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (and hidden-tests regions,
  and markdown answer regions), whitespace-normalised, that are distinctive
  (:func:`distinctive`) and that the learner is not given anyway: a line also
  in a released exercise or a lesson (a ``def`` line the stub keeps, an
  ``import``) is not a secret;
* every **hidden check** of ``wslab_instructor/checks/*.py``: its title and
  hint (matched anywhere in a file, across line breaks), and the distinctive
  lines of its body and of the helpers beside it that the public checks do
  not share. (Not its name: ``nothing`` or ``validates`` say nothing.)

:func:`scan` looks for them in every file of an edition (a notebook's
sources and outputs, HTML-unescaped, any other file as text) and also
refuses a file or folder named like a part the edition never holds
(``solutions``, ``wslab_instructor``, ``tests``, ``bench``, ``.ci``,
``DEVELOPERS.md``, test modules). ``wslab release --edition`` runs it before
writing anything, and ``tests/grading/test_edition.py`` runs it on a built
edition and proves that it catches a planted answer line.

The course's own package implements several things the exercises ask for (its
typing text, its server's Origin check), so a few answer lines also stand in
it; :data:`KNOWN_OVERLAPS` lists each one, with the file it is allowed in and
why. A test keeps that list honest: an entry that no longer overlaps fails it.
"""

from __future__ import annotations

import ast
import html
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from wslab.grading.markers import answer_lines

__all__ = [
    "Leak",
    "Secrets",
    "MIN_LENGTH",
    "NEVER_NAMES",
    "KNOWN_OVERLAPS",
    "normalize",
    "distinctive",
    "shipped_lines",
    "secrets",
    "scan",
    "read_folder",
    "find_leaks",
]

MIN_LENGTH = 20
"""An answer line shorter than this (once whitespace is normalised) is too common to be a secret."""

NEVER_NAMES = re.compile(
    r"^(solutions?|wslab_instructor|tests?|bench|\.ci|developers\.md|conftest\.py|test_\w*\.py|\w*_test\.py)$",
    re.IGNORECASE,
)
"""A file or folder named like this never belongs in a learner's edition."""

KNOWN_OVERLAPS: Mapping[tuple[str, str], str] = {
    ("wslab/core/typing_status.py", "others = [name for name in dict.fromkeys(names) if name != me]"):
        "the package's typing_text(), which lesson 4 uses openly; exercise 4's typing_line is the learner's own",
    ("wslab/core/typing_status.py", 'return f"{others[0]} is typing…"'): "the same typing_text()",
    ("wslab/core/typing_status.py", 'return "Several people are typing…"'): "the same typing_text()",
    ("wslab/server/chat_server.py", 'origin = request.headers.get("Origin")'):
        "the course server's own Origin check (lesson 7 teaches it; exercise 7's make_guard is the learner's)",
    ("wslab/server/chat_server.py", 'return connection.respond(HTTPStatus.FORBIDDEN, "origin not allowed\\n")'):
        "the same Origin check",
    ("wslab/server/chat_server.py", 'given = (parse_qs(urlsplit(request.path).query).get("token") or [""])[0]'):
        "the server (learners' and admin channel) reading its token from the query string, as exercise 7's guard does",
    ("wslab/server/chat_server.py", "now = self.clock.monotonic()"): "an idiom of every clocked object",
    ("wslab/core/hub.py", "now = self.clock.monotonic()"): "an idiom of every clocked object",
    ("wslab/core/session.py", "message = json.loads(frame)"): "an idiom: parse a frame",
    ("wslab/server/bots.py", "message = json.loads(frame)"): "an idiom: parse a frame",
    ("wslab/ui/models.py", "message = json.loads(frame)"): "an idiom: parse a frame",
    ("wslab/grading/checks/production.py", "await asyncio.wait_for(ws.close(), 1)"):
        "an idiom: a bounded close (a public check's own cleanup)",
    ("wslab/client/websocket.py", "await self._session()"): "a common method name",
    ("wslab/classroom/instructor_dashboard.py", "now = self.clock.monotonic()"): "an idiom of every clocked object",
    ("wslab/cluster/redis_backplane.py", "await pipe.execute()"): "redis-py's one way to run a pipeline",
    ("wslab/core/session.py", 'kind = message.get("type")'):
        "the package's own client session dispatching frames by type; exercise 5's dispatch is the learner's",
    ("wslab/server/bots.py", 'kind = message.get("type")'): "an idiom: dispatch a frame by its type",
    ("wslab/ui/models.py", 'kind = message.get("type")'): "an idiom: dispatch a frame by its type",
    ("wslab/grading/checks/scaling.py", 'key = f"presence:{room}:{node}"'):
        "the key the exercise's text names; the public checks of online write presence themselves",
    ("wslab/grading/checks/production.py", "ws.transport.abort()"):
        "an idiom: drop a stalled connection (a public check's own cleanup)",
}
"""``(edition path, normalised line)`` -> why that answer line may stand in that file (and nowhere else)."""


def normalize(text: str) -> str:
    """``text`` with every run of whitespace (line breaks included) made one space, and stripped."""
    return " ".join(text.split())


def distinctive(line: str) -> bool:
    """Whether a normalised line says enough to be a secret: :data:`MIN_LENGTH` or longer, not a bare block header.

    A header (``if len(others) == 1:``, ``except ValueError:``) shows the
    shape of an answer, not the answer: its body's lines are what leak.
    """
    return len(line) >= MIN_LENGTH and not line.endswith(":")


@dataclass(frozen=True)
class Leak:
    """Something of the instructor's found in a learner's edition."""

    path: str
    """The file (or folder), relative to the edition, with ``/``."""
    where: str
    """Where in it: ``line 12``, ``cell state-name, line 3``, or ``""`` for a name or a text across lines."""
    kind: Literal["answer", "hidden check", "name"]
    source: str
    """Where the secret comes from (``solutions/02-readystate.ipynb, cell state-name``)."""
    text: str
    """The secret, shortened."""

    def __str__(self) -> str:
        at = f"{self.path} ({self.where})" if self.where else self.path
        if self.kind == "name":
            return f"{at}: {self.text}"
        return f"{at}: {self.kind} from {self.source}: {self.text[:100]!r}"


@dataclass(frozen=True)
class Secrets:
    """What must not be in a learner's edition."""

    answers: Mapping[str, str]
    """Normalised line -> where it comes from: the solutions' answer lines, matched whole."""
    hidden_lines: Mapping[str, str]
    """Normalised line -> where it comes from: the hidden checks' body lines, matched whole."""
    hidden_texts: Mapping[str, str]
    """Normalised text -> where it comes from: the hidden checks' titles and hints, matched anywhere."""


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        if value and all(isinstance(v, str) for v in value):
            yield "".join(value)  # a notebook's multi-line string
        else:
            for v in value:
                yield from _strings(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)


def _documents(path: str, data: bytes) -> Iterator[tuple[str, str]]:
    """``(where prefix, text)`` for the text in one file: a notebook's cells one by one, else the whole file."""
    text = data.decode("utf-8", errors="replace")
    if path.endswith(".ipynb"):
        try:
            notebook = json.loads(text)
        except ValueError:
            notebook = None
        if isinstance(notebook, dict) and isinstance(notebook.get("cells"), list):
            for index, cell in enumerate(notebook["cells"]):
                label = f"cell {cell.get('id') or index + 1}" if isinstance(cell, dict) else f"cell {index + 1}"
                yield label, "\n".join(_strings(cell))
            yield "notebook metadata", "\n".join(_strings(notebook.get("metadata", {})))
            return
    yield "", text


def shipped_lines(notebooks: Iterable[bytes]) -> set[str]:
    """The normalised source lines of notebooks a learner is given (released exercises, lessons)."""
    lines: set[str] = set()
    for data in notebooks:
        for cell in json.loads(data.decode("utf-8")).get("cells", []):
            source = cell.get("source", "")
            for line in ("".join(source) if isinstance(source, list) else str(source)).split("\n"):
                lines.add(normalize(line))
    return lines


def _hidden(path: Path, public: set[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Lines and texts of the hidden checks in one module of ``wslab_instructor/checks``."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    where = f"wslab_instructor/checks/{path.name}"
    lines: dict[str, str] = {}
    texts: dict[str, str] = {}
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for decorator in node.decorator_list:
            if isinstance(decorator, ast.Call):
                for keyword in decorator.keywords:
                    if keyword.arg in ("title", "hint") and isinstance(keyword.value, ast.Constant):
                        value = normalize(str(keyword.value.value))
                        if value:
                            texts[value] = f"{where}: {node.name} ({keyword.arg})"
        body = ast.get_source_segment(source, node) or ""
        for line in body.split("\n")[1:]:  # not the def line: helpers' signatures may be public
            line = normalize(line)
            if distinctive(line) and line not in public:
                lines.setdefault(line, f"{where}: {node.name}")
    return lines, texts


def secrets(root: str | Path, shipped: Iterable[str] = ()) -> Secrets:
    """What must not be in a learner's edition of the course at ``root`` (see the module's docstring).

    ``shipped``: normalised lines the learner is given on purpose (the
    released exercises' and the lessons' sources: :func:`shipped_lines`).
    """
    root = Path(root)
    given = set(shipped)
    answers: dict[str, str] = {}
    for path in sorted((root / "solutions").glob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        for cell_id, line in answer_lines(notebook):
            line = normalize(line)
            if distinctive(line) and line not in given:
                answers.setdefault(line, f"solutions/{path.name}, cell {cell_id}")
    public = set(given)
    for path in sorted((root / "wslab" / "grading" / "checks").glob("*.py")):
        public.update(normalize(line) for line in path.read_text(encoding="utf-8").split("\n"))
    hidden_lines: dict[str, str] = {}
    hidden_texts: dict[str, str] = {}
    for path in sorted((root / "wslab_instructor" / "checks").glob("*.py")):
        module_lines, module_texts = _hidden(path, public)
        for line, where in module_lines.items():
            hidden_lines.setdefault(line, where)
        hidden_texts.update(module_texts)
    return Secrets(answers, hidden_lines, hidden_texts)


def scan(
    files: Mapping[str, bytes],
    found: Secrets,
    known: Mapping[tuple[str, str], str] = KNOWN_OVERLAPS,
) -> list[Leak]:
    """Every leak in ``files`` (edition path with ``/`` -> content), in path order.

    ``known`` lists the answer lines allowed in one file each (:data:`KNOWN_OVERLAPS`).
    """
    leaks: list[Leak] = []
    reported: set[str] = set()
    for path in sorted(files):
        parts = path.split("/")
        for depth, part in enumerate(parts):
            named = "/".join(parts[: depth + 1])
            if NEVER_NAMES.match(part) and named not in reported:
                reported.add(named)
                what = "a folder" if depth < len(parts) - 1 else "a file"
                leaks.append(Leak(named, "", "name", "", f"{what} named {part!r}, which an edition never holds"))
        for prefix, text in _documents(path, files[path]):
            text = html.unescape(text)
            for number, line in enumerate(text.split("\n"), start=1):
                line = normalize(line)
                where = f"{prefix}, line {number}" if prefix else f"line {number}"
                if line in found.answers and (path, line) not in known:
                    leaks.append(Leak(path, where, "answer", found.answers[line], line))
                if line in found.hidden_lines:
                    leaks.append(Leak(path, where, "hidden check", found.hidden_lines[line], line))
            flat = normalize(text)
            for secret, source in found.hidden_texts.items():
                if secret in flat:
                    leaks.append(Leak(path, prefix, "hidden check", source, secret))
    return leaks


def read_folder(folder: str | Path) -> dict[str, bytes]:
    """Every file under ``folder`` (``.git`` left out), as ``scan`` takes them."""
    folder = Path(folder)
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(folder).parts
    }


def find_leaks(files: Mapping[str, bytes], root: str | Path, released: Mapping[str, str] | None = None) -> list[Leak]:
    """Every leak in an edition's ``files`` of the course at ``root``.

    What the learner is given on purpose comes from the course, never from
    the files scanned: its lessons (``root/notebooks``) and its released
    exercises, ``released`` (file name -> text, as ``wslab release`` makes
    them), by default the ones in ``root/exercises``.
    """
    root = Path(root)
    lessons = [p.read_bytes() for p in sorted((root / "notebooks").glob("*.ipynb"))]
    if released is None:
        exercises = [p.read_bytes() for p in sorted((root / "exercises").glob("*.ipynb"))]
    else:
        exercises = [text.encode("utf-8") for _, text in sorted(released.items())]
    return scan(files, secrets(root, shipped_lines([*lessons, *exercises])))
