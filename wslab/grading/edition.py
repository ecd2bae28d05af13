"""The learner's edition of the course: what a learner installs and opens, with nothing to copy from.

``wslab release --edition DIR`` writes it from the course folder. It holds:

* ``notebooks/``: the lessons, with their outputs;
* ``exercises/``: the exercises, freshly released from ``solutions/``
  (the course's cells marked read-only);
* ``docs/``: the pages a learner reads beside the lessons (:data:`LEARNER_DOCS`);
* ``wslab/``: the helper package, whole (its public checks included: it
  holds no hidden check, and the scan proves it);
* ``README.md`` written for learners (how to open the course: the course
  command of the course's own README, verbatim), ``environment.yml``, a
  ``pyproject.toml`` with the course's dependencies that installs the
  ``wslab`` package only, and a ``.gitignore``;
* :data:`MARKER`, ``.wslab-edition.json``: it says the folder is a learner's
  edition (:func:`read_marker`) and lists every file it wrote, with its hash.

Never: ``solutions/``, ``wslab_instructor/`` (the hidden checks), ``tests/``,
``bench/``, ``.ci/``, ``DEVELOPERS.md``, the instructor's and author's docs
(grading, classroom, architecture, benchmarks), the test configuration.
:func:`wslab.grading.leaks.find_leaks` checks the result before anything is
written.

Writing into a folder that already holds an edition updates it without
losing anyone's work (:func:`write`): a file still as the last edition wrote
it is updated (or removed, when the new edition no longer has it); a file
changed since (a learner's answers in ``exercises/``, an instructor's own
note) is kept as it is and reported; files the edition never wrote are not
touched. A folder that is not empty (but for ``.git``) and holds no edition is
refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wslab.core.errors import ReleaseError

__all__ = [
    "MARKER",
    "LEARNER_DOCS",
    "LEARNER_EXTRAS",
    "FIRST_LESSON",
    "Edition",
    "EditionMarker",
    "EditionReport",
    "build",
    "course_command",
    "check_destination",
    "read_marker",
    "plan",
    "write",
    "ReleaseError",
]

MARKER = ".wslab-edition.json"
"""The file at an edition's root that says it is one, and lists the files it wrote with their hashes."""

LEARNER_DOCS = ("lessons.md", "browser-api.md", "reconnect.md", "protocol.md", "client-session.md", "scaling.md")
"""The pages of ``docs/`` a learner reads: the lessons' map and the references the lessons point to.

Left out: ``grading.md`` (how the instructor grades, the hidden checks' counts,
the authors' markers), ``classroom.md`` (running ``wslab serve`` for a room),
``architecture.md`` (the package's layers and its tests) and ``benchmarks.md``
(its figures come from ``bench/``, which an edition does not hold).
"""

LEARNER_EXTRAS = ("course", "hub", "scale")
"""The optional dependencies an edition's ``pyproject.toml`` keeps (not ``test``: the tests are not the learner's)."""

FIRST_LESSON = "notebooks/01-basics.ipynb"
"""The notebook the course opens on."""

_SKIPPED_DIRS = {"__pycache__", ".ipynb_checkpoints"}
_SOURCES = ("notebooks", "exercises", "docs", "wslab", "solutions")
"""The course's folders an edition is made from: an edition may not be written inside them."""


def _hash(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tree(folder: Path, prefix: str) -> dict[str, bytes]:
    """Every file under ``folder`` (caches and dot-files left out), keyed ``prefix/relative/path``."""
    files: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part in _SKIPPED_DIRS or part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix not in (".pyc", ".pyo"):
            files[f"{prefix}/{relative.as_posix()}"] = path.read_bytes()
    return files


def course_command(readme: str) -> str:
    """The course command of the course's README: the code block after ``<!-- course-command -->``."""
    match = re.search(r"<!-- course-command -->\s*```[a-z]*\n(.*?)\n```", readme, re.S)
    if match is None:
        raise ReleaseError("README.md has no course command (a code block after <!-- course-command -->)")
    return match.group(1).strip()


def _title(markdown: bytes, fallback: str) -> str:
    for line in markdown.decode("utf-8").split("\n"):
        if line.startswith("# "):
            return line[2:].strip()
    return fallback


def _readme(command: str, docs: Mapping[str, bytes], lessons: list[str], version: str) -> str:
    last = command.split(" && ")[-1]
    listed = ", ".join(f"`{name}`" for name in lessons)
    conda = f"conda env create -f environment.yml && conda activate wslab && {last.replace('.venv/bin/', '')}"
    pages = "<br>".join(f"[{_title(data, name)}]({name})" for name, data in docs.items())
    return f"""# wslab: WebSockets and real-time communication, hands-on in JupyterLab

The course, for learners: eight lessons that walk from your first `send()` to an
auto-reconnecting client and a chat with "is typing…" indicators, an exercise for each, and
`wslab`, the small helper package that runs a WebSocket server **inside your notebook's
kernel**. Everything runs on your own machine: no outside server, no internet.

## Open the course

If your instructor gave you a link (Binder, or your school's JupyterHub), open it: the course is
already there. On your own machine you need Python 3.11 or newer. In this folder, run:

```bash
{command}
```

It installs the course into `.venv/` and opens JupyterLab on lesson 1. To open it again on
another day, run only its last part: `{last}`. With conda instead:
`{conda}`.

## What is in here

| folder | what |
|---|---|
| `notebooks/` | the lessons, in order: {listed} |
| `exercises/` | one exercise per lesson: your answers go where a cell says `# YOUR CODE HERE` |
| `docs/` | {pages} |
| `wslab/` | the helper package the lessons use |

The last cell of each exercise, `check("...")`, runs the exercise's public checks against your
code and shows what passes and, for what does not, a hint. More checks run when your instructor
grades, so passing every public check does not promise full marks. The cells with a lock (the
instructions, the first code cell, the check cell) belong to the course: when your work is
graded they run as the course wrote them, so keep your own code in your own cells.

This folder is a learner's edition of wslab {version} (written by `wslab release --edition`; its
`{MARKER}` lists the files it wrote). When your instructor publishes a new one, your changes are
kept: a file you changed is never overwritten.
"""


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    raise ReleaseError(f"pyproject.toml: cannot write {value!r} in the learner's edition")


def _pyproject(source: dict[str, Any]) -> str:
    """The edition's ``pyproject.toml``: the course's project, its learners' extras, the ``wslab`` package only."""
    project = dict(source.get("project", {}))
    extras = project.pop("optional-dependencies", {})
    if "course" not in extras:
        raise ReleaseError("pyproject.toml has no `course` extra (optional-dependencies): the edition needs it")
    scripts = project.pop("scripts", {})
    data = source.get("tool", {}).get("setuptools", {}).get("package-data", {})
    out = [
        "# The learner's edition of the course, written by `wslab release --edition`: the course's",
        "# dependencies and the wslab package (nothing of the instructor's). Install: pip install -e \".[course]\"",
        "",
        "[build-system]",
        *(f"{k} = {_toml(v)}" for k, v in source.get("build-system", {}).items()),
        "",
        "[project]",
        *(f"{k} = {_toml(v)}" for k, v in project.items()),
        "",
        "[project.optional-dependencies]",
        *(f"{k} = {_toml(extras[k])}" for k in LEARNER_EXTRAS if k in extras),
        "",
        "[project.scripts]",
        *(f"{k} = {_toml(v)}" for k, v in scripts.items()),
        "",
        "[tool.setuptools.packages.find]",
        'include = ["wslab", "wslab.*"]',
        "",
        "[tool.setuptools.package-data]",
        *(f"{k} = {_toml(v)}" for k, v in data.items() if k == "wslab"),
    ]
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class Edition:
    """A learner's edition, in memory."""

    files: dict[str, bytes]
    """Edition path (with ``/``) -> content, sorted by path; :data:`MARKER` is written by :func:`write`."""
    version: str
    """The course's version (``pyproject.toml``)."""


def build(root: str | Path, exercises: Mapping[str, str]) -> Edition:
    """The learner's edition of the course at ``root``, in memory.

    ``exercises`` maps each released exercise's file name to its text (as
    ``wslab release`` produces it). Raises :class:`ReleaseError` when a part
    of the course is missing.
    """
    root = Path(root)
    for needed in ("notebooks", "wslab", "docs"):
        if not (root / needed).is_dir():
            raise ReleaseError(f"{root} is not the course's folder: it has no {needed}/")
    for needed in ("README.md", "pyproject.toml", "environment.yml"):
        if not (root / needed).is_file():
            raise ReleaseError(f"{root} is not the course's folder: it has no {needed}")
    if not exercises:
        raise ReleaseError("no released exercises to put in the edition")
    files = _tree(root / "notebooks", "notebooks")
    if FIRST_LESSON not in files:
        raise ReleaseError(f"{root} has no {FIRST_LESSON}, the lesson the course opens on")
    files.update({f"exercises/{name}": text.encode("utf-8") for name, text in sorted(exercises.items())})
    docs: dict[str, bytes] = {}
    for name in LEARNER_DOCS:
        path = root / "docs" / name
        if not path.is_file():
            raise ReleaseError(f"docs/{name} is missing: the learner's edition includes it")
        docs[f"docs/{name}"] = path.read_bytes()
    files.update(docs)
    package = _tree(root / "wslab", "wslab")
    files.update(package)
    try:
        source = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ReleaseError(f"pyproject.toml: {exc}") from None
    version = str(source.get("project", {}).get("version", ""))
    command = course_command((root / "README.md").read_text(encoding="utf-8"))
    lessons = [Path(p).stem for p in files if p.startswith("notebooks/") and p.endswith(".ipynb")]
    files["README.md"] = _readme(command, docs, lessons, version).encode("utf-8")
    files["pyproject.toml"] = _pyproject(source).encode("utf-8")
    files["environment.yml"] = (root / "environment.yml").read_bytes()
    files[".gitignore"] = b".venv/\n__pycache__/\n*.egg-info/\n.ipynb_checkpoints/\n"
    return Edition(dict(sorted(files.items())), version)


# ---------------------------------------------------------------------- the marker, and updating


@dataclass(frozen=True)
class EditionMarker:
    """What :data:`MARKER` says: this folder is a learner's edition."""

    version: str
    """The course's version the edition was written from."""
    first: str
    """The notebook to open first, relative to the edition (``notebooks/01-basics.ipynb``)."""
    files: dict[str, str]
    """Every file the edition wrote, relative (with ``/``) -> ``sha256:...`` of what it wrote."""


def read_marker(folder: str | Path) -> EditionMarker | None:
    """The marker of the learner's edition in ``folder``, or None when ``folder`` holds no edition.

    Raises :class:`ReleaseError` when the marker is there but unreadable.
    """
    path = Path(folder) / MARKER
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("edition") != "learner" or not isinstance(data.get("files"), dict):
            raise ValueError("not a learner's edition marker")
        return EditionMarker(str(data.get("version", "")), str(data.get("open", FIRST_LESSON)),
                             {str(k): str(v) for k, v in data["files"].items()})
    except (OSError, ValueError, AttributeError) as exc:
        raise ReleaseError(
            f"{path} cannot be read ({exc}): remove it, or write the edition to another folder"
        ) from None


def _marker_text(version: str, files: Mapping[str, str]) -> str:
    data = {"edition": "learner", "course": "wslab", "version": version, "open": FIRST_LESSON,
            "written_by": "wslab release --edition", "files": dict(sorted(files.items()))}
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


@dataclass
class EditionReport:
    """What writing an edition into a folder does (or did): each list holds relative paths, sorted."""

    dest: Path
    new: list[str] = field(default_factory=list)
    """Written where there was nothing."""
    updated: list[str] = field(default_factory=list)
    """Replaced: still as the last edition wrote them."""
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    """Left as they are: changed since the last edition wrote them (or never written by one)."""
    removed: list[str] = field(default_factory=list)
    """No longer in the edition, and unchanged: deleted."""
    manifest: dict[str, str] = field(default_factory=dict)
    """What the marker lists afterwards."""

    @property
    def changes(self) -> bool:
        """Whether writing changes anything (files the learner changed aside)."""
        return bool(self.new or self.updated or self.removed)

    def summary(self, planned: bool = False) -> str:
        """What was done (or, ``planned``, what writing would do), in a line or two."""
        counts = [f"{len(self.new)} new", f"{len(self.updated)} updated", f"{len(self.unchanged)} unchanged"]
        if self.removed:
            counts.append(f"{len(self.removed)} removed")
        lines = [f"{self.dest}: learner's edition{' (nothing written)' if planned else ''}: {', '.join(counts)} files"]
        if self.kept:
            lines.append(
                f"{'would keep' if planned else 'kept'} as they are (changed since the last edition wrote them): "
                + ", ".join(self.kept)
            )
        return "\n".join(lines)


def check_destination(root: str | Path, dest: str | Path) -> None:
    """Refuse to write an edition over the course itself, above it, or inside the folders it is made from."""
    root, target = Path(root).resolve(), Path(dest).resolve()
    if target == root or target in root.parents:
        raise ReleaseError(f"{dest} is the course's folder or holds it: write the edition to a folder of its own")
    for name in _SOURCES:
        if target == root / name or (root / name) in target.parents:
            raise ReleaseError(f"{dest} is inside the course's {name}/: write the edition to a folder of its own")


def plan(files: Mapping[str, bytes], dest: str | Path) -> EditionReport:
    """What :func:`write` would do with ``files`` in ``dest``; writes nothing.

    Raises :class:`ReleaseError` when ``dest`` is a file, or a folder that is
    neither empty (but for ``.git``) nor an edition.
    """
    dest = Path(dest)
    report = EditionReport(dest)
    if dest.exists() and not dest.is_dir():
        raise ReleaseError(f"{dest} is a file: give a folder for the edition")
    marker = read_marker(dest) if dest.is_dir() else None
    if marker is None and dest.is_dir() and any(p.name != ".git" for p in dest.iterdir()):
        raise ReleaseError(
            f"{dest} is not empty and holds no learner's edition (no {MARKER}): give an empty or new folder"
        )
    before = marker.files if marker else {}
    for path, data in files.items():
        target = dest / path
        new_hash = _hash(data)
        current = _hash(target.read_bytes()) if target.is_file() else None
        if current is None:
            if target.exists():
                raise ReleaseError(f"{target} is a folder where the edition has a file: move it away first")
            report.new.append(path)
            report.manifest[path] = new_hash
        elif current == new_hash:
            report.unchanged.append(path)
            report.manifest[path] = new_hash
        elif before.get(path) == current:
            report.updated.append(path)
            report.manifest[path] = new_hash
        else:
            report.kept.append(path)
            if path in before:
                report.manifest[path] = before[path]
    for path, old_hash in sorted(before.items()):
        if path in files:
            continue
        target = dest / path
        if not target.is_file():
            continue
        if _hash(target.read_bytes()) == old_hash:
            report.removed.append(path)
        else:
            report.kept.append(path)
            report.manifest[path] = old_hash
    for items in (report.new, report.updated, report.unchanged, report.kept, report.removed):
        items.sort()
    return report


def _write_file(target: Path, data: bytes, mode: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)  # mkstemp's file is private; an edition's files are as readable as any other
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write(edition: Edition, dest: str | Path) -> EditionReport:
    """Write (or update) ``edition`` in ``dest``; see :func:`plan` and the module's docstring.

    Each file is replaced whole (written beside it, then renamed), and the
    marker last, so an interrupted run leaves an edition the next run completes.
    """
    files = edition.files
    report = plan(files, dest)
    dest = Path(dest)
    umask = os.umask(0o022)
    os.umask(umask)
    mode = 0o666 & ~umask
    for path in report.new + report.updated:
        _write_file(dest / path, files[path], mode)
    for path in report.removed:
        target = dest / path
        target.unlink()
        for parent in target.parents:
            if parent == dest or any(parent.iterdir()):
                break
            parent.rmdir()
    _write_file(dest / MARKER, _marker_text(edition.version, report.manifest).encode("utf-8"), mode)
    return report
