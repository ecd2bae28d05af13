"""The feedback a learner reads: one Markdown and one HTML file per submission, with names that never collide.

:func:`feedback_text` (Markdown) and :func:`feedback_html` (HTML) say the same
things: the score, each check with its result, the reason and a hint for each
that did not pass (hidden checks marked "graded only"), the cells that did not
run cleanly and why, and the grader's notes. The contract:

* **Escaped.** Everything a learner controls (the submission's name, student id,
  cell ids, error messages, check messages that quote the learner's values, and
  notes) is shown as text, on one line: line breaks and other control characters
  become spaces, bidirectional overrides become U+FFFD, and in Markdown every
  character with a meaning (``\\ ` * _ [ ] < > | ! # ~ & $``, a leading ``-``,
  ``+``, ``=`` or ``1.``) is backslash-escaped and bare links are broken with a
  zero-width space. So an error message cannot add a heading, a second "Score"
  line, a table row, a link, an image or HTML. The HTML escapes with
  :func:`html.escape`, loads nothing and runs nothing: a Content-Security-Policy
  allows only its own inline style.
* **Deterministic.** No times, no machine paths: the same outcome gives the same bytes.
* **Names never collide.** :func:`feedback_name` maps a submission's display
  name (its path relative to the folder graded) to a file name injectively:
  ``alice__02-readystate.ipynb`` gives ``alice__02-readystate.md`` and
  ``alice/02-readystate.ipynb`` gives ``alice%2F02-readystate.md``. See its docstring.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from base64 import b64encode
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from wslab.grading.atomic import Folder
from wslab.grading.grader import Outcome
from wslab.grading.runner import STATUSES

__all__ = [
    "CSP",
    "NAME_LIMIT",
    "feedback_name",
    "feedback_names",
    "feedback_text",
    "feedback_html",
    "write_feedback",
    "markdown_escape",
    "one_line",
]

NAME_LIMIT = 120
"""Bytes (UTF-8) a feedback file's name may take before its suffix; a longer one is cut and given a hash."""

_HASH_CHARS = 20  # hex digits of SHA-256 (80 bits) after "~" in a cut or disambiguated name
_CUT_TO = 80  # bytes of the encoded name kept before "~<hash>"
_SAFE_ASCII = frozenset("-_.,()+=@ ")
_TEXT_LIMIT = 4000  # characters of one learner-controlled text shown in feedback

# ---------------------------------------------------------------------- names


def _byte_escape(ch: str) -> str:
    try:
        raw = ch.encode("utf-8", "surrogateescape")  # a byte of a file name that was not UTF-8
    except UnicodeEncodeError:
        raw = ch.encode("utf-8", "surrogatepass")
    return "".join(f"%{b:02X}" for b in raw)


def _encode(stem: str) -> list[str]:
    """One token per character of ``stem``: the character itself when it is safe there, else its %XX bytes."""
    tokens = []
    last = len(stem) - 1
    for i, ch in enumerate(stem):
        safe = ch.isalnum() and unicodedata.category(ch)[0] in "LN" if not ch.isascii() else (
            ch.isalnum() or ch in _SAFE_ASCII
        )
        if safe and (ch in ". " and i in (0, last) or ch == "-" and i == 0):
            safe = False  # no hidden files, no "..", nothing Windows would trim, nothing read as an option
        tokens.append(ch if safe else _byte_escape(ch))
    return tokens


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]


def _stem(name: str, *, disambiguate: bool = False) -> str:
    if name.endswith(".ipynb") and len(name) > len(".ipynb"):
        tokens = _encode(name[: -len(".ipynb")])
    else:
        tokens = [*_encode(name), "%"]  # a lone "%" never comes out of _encode: "this name had no .ipynb"
    encoded = "".join(tokens)
    if len(encoded.encode("utf-8")) <= NAME_LIMIT and not disambiguate:
        return encoded
    kept, size = [], 0
    for token in tokens:
        size += len(token.encode("utf-8"))
        if size > _CUT_TO:
            break
        kept.append(token)
    return "".join(kept) + "~" + _digest(name)


def feedback_name(outcome: Outcome | str, suffix: str = ".md") -> str:
    """The feedback file's name for a submission (an :class:`Outcome`, or its display name), plus ``suffix``.

    Injective and readable: the display name loses its ``.ipynb`` and keeps
    letters, digits and ``-_.,()+=@`` and inner spaces; every other character
    (``%``, ``/``, ``\\``, ``~``, quotes, control characters, a leading dot, dash
    or space, a trailing dot or space, anything outside letters and digits in Unicode) is
    percent-encoded as its UTF-8 bytes. A name that does not end in ``.ipynb``
    keeps it all and ends in ``%``. An encoding longer than :data:`NAME_LIMIT`
    bytes is cut and ends in ``~`` and 20 hex digits of the name's SHA-256,
    which no uncut name contains (``~`` is always encoded). Case-insensitive
    file systems: see :func:`feedback_names`.
    """
    name = outcome if isinstance(outcome, str) else outcome.name
    return _stem(name) + suffix


def feedback_names(names: Iterable[str], suffix: str = ".md") -> dict[str, str]:
    """:func:`feedback_name` for a batch, made safe on case-insensitive file systems (macOS, Windows).

    Names whose feedback files would differ only in case (``Ada_04-chat.ipynb``
    and ``ada_04-chat.ipynb``) both end in ``~`` and their hash instead, so no two
    files of the batch can be one file anywhere. The result depends only on the set of names.
    """
    names = sorted(set(names))
    plain = {n: _stem(n) for n in names}
    folded: dict[str, int] = {}
    for stem in plain.values():
        key = unicodedata.normalize("NFC", stem).casefold()
        folded[key] = folded.get(key, 0) + 1
    result = {}
    for n, stem in plain.items():
        clash = folded[unicodedata.normalize("NFC", stem).casefold()] > 1
        result[n] = (_stem(n, disambiguate=True) if clash else stem) + suffix
    return result


# ---------------------------------------------------------------------- escaping

_SURROGATE = re.compile("[\ud800-\udfff]")
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|!#~&$])")
_MD_LEADING = re.compile(r"^([-+=])|^(\d+)([.)])")
_LINKS = re.compile(r"(?i)\b(https?|ftp)(:)(//)|\b(www)(\.)|(@)")


def one_line(text: str) -> str:
    """``text`` made safe to show on one line: valid Unicode, no control characters, no bidirectional overrides.

    Lone surrogates (a file name that was not UTF-8) become U+FFFD; line breaks,
    tabs and other control characters (C0, C1, U+2028, U+2029) become spaces;
    bidirectional controls become U+FFFD; past 4000 characters the rest is cut with "…".
    """
    text = _SURROGATE.sub("\ufffd", text)
    if len(text) > _TEXT_LIMIT:
        text = text[:_TEXT_LIMIT] + "…"
    text = "".join(" " if unicodedata.category(c) == "Cc" or c in "\u2028\u2029" else c for c in text)
    return _BIDI.sub("\ufffd", text)


def _unlink(match: re.Match[str]) -> str:
    if match.group(1):
        return f"{match.group(1)}{match.group(2)}\u200b{match.group(3)}"
    if match.group(4):
        return f"{match.group(4)}\u200b{match.group(5)}"
    return "@\u200b"


def markdown_escape(text: str) -> str:
    """``text`` as Markdown (CommonMark and GitHub's) that renders as exactly that text, on one line.

    See the module's contract: :func:`one_line`, then every Markdown character
    backslash-escaped, a leading list or heading marker escaped, and bare links
    (``http://``, ``www.``, ``a@b``) broken with a zero-width space.
    """
    text = _MD_SPECIAL.sub(r"\\\1", one_line(text))
    text = _MD_LEADING.sub(lambda m: f"\\{m.group(1)}" if m.group(1) else f"{m.group(2)}\\{m.group(3)}", text)
    return _LINKS.sub(_unlink, text)


def _h(text: str) -> str:
    return html.escape(one_line(text), quote=True)


# ---------------------------------------------------------------------- content


@dataclass(frozen=True)
class _CheckRow:
    title: str
    graded_only: bool
    result: str
    points: str
    why: str
    hint: str


def _check_rows(outcome: Outcome) -> list[_CheckRow]:
    rows = []
    for c in outcome.checks:
        failed = c.status != "pass"
        rows.append(_CheckRow(
            title=c.check.title,
            graded_only=not c.check.public,
            result=STATUSES.get(c.status, c.status),
            points=f"{c.points}/{c.check.points}",
            why=c.message if failed else "",
            hint=c.check.hint if failed else "",
        ))
    return rows


def _problems(outcome: Outcome) -> list[tuple[int, str, str, str]]:
    return [c for c in outcome.cells if c[2] != "ok"]


_CELLS_INTRO = (
    "Every code cell ran in order in a fresh Python; these did not run cleanly "
    "(cells counted from 1, markdown cells included, as JupyterLab's status bar shows \"Cell N/M\"):"
)
_CELLS_CLEAN = "Every code cell ran without an error."


def feedback_text(outcome: Outcome) -> str:
    """The feedback for one learner, as Markdown (escaped and deterministic: see the module's contract)."""
    ex = outcome.exercise
    lines = [f"# Feedback: {markdown_escape(outcome.name)}", ""]
    if outcome.student:
        lines.append(f"- Student: {markdown_escape(outcome.student)}")
    if ex is not None:
        lines.append(f"- Exercise: **{markdown_escape(ex.name)}**, {markdown_escape(ex.title)}")
    lines += [f"- Score: **{outcome.total}/{outcome.max_points}**", f"- Status: {markdown_escape(outcome.status)}", ""]
    for i, note in enumerate(outcome.notes):
        if i:
            lines.append(">")
        lines.append(f"> {markdown_escape(note)}")
    if outcome.notes:
        lines.append("")
    rows = _check_rows(outcome)
    if rows:
        lines += ["## Checks", "", "| Check | Result | Points | Why, and a hint |", "|---|---|---|---|"]
        for r in rows:
            why = markdown_escape(r.why) + (f" Hint: {markdown_escape(r.hint)}" if r.hint else "")
            kind = " (graded only)" if r.graded_only else ""
            lines.append(f"| {markdown_escape(r.title)}{kind} | {markdown_escape(r.result)} | {r.points} | {why} |")
        lines.append("")
    problems = _problems(outcome)
    if problems:
        lines += ["## How your notebook ran", "", _CELLS_INTRO, ""]
        for index, cell_id, status, detail in problems:
            label = f"cell {index}" + (f" (id {markdown_escape(cell_id)})" if cell_id else "")
            lines.append(f"- {label}: {markdown_escape(status)}: {markdown_escape(detail)}")
        lines.append("")
    elif outcome.checks:
        lines += [_CELLS_CLEAN, ""]
    return "\n".join(lines)


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5}"
    "table{border-collapse:collapse}th,td{border:1px solid #999;padding:.3rem .5rem;text-align:left;"
    "vertical-align:top}blockquote{border-left:.25rem solid #999;margin:1rem 0;padding:0 1rem}"
)
_STYLE_HASH = b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
CSP = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src 'none'; "
    "script-src 'none'; base-uri 'none'; form-action 'none'"
)
"""The Content-Security-Policy of the HTML feedback: nothing loads or runs but its own inline style."""


def feedback_html(outcome: Outcome) -> str:
    """The same feedback as :func:`feedback_text`, as one self-contained HTML page (no script, nothing loaded)."""
    ex = outcome.exercise
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Feedback: {_h(outcome.name)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>Feedback: {_h(outcome.name)}</h1>",
        "<ul>",
    ]
    if outcome.student:
        out.append(f"<li>Student: {_h(outcome.student)}</li>")
    if ex is not None:
        out.append(f"<li>Exercise: <strong>{_h(ex.name)}</strong>, {_h(ex.title)}</li>")
    out += [
        f"<li>Score: <strong>{outcome.total}/{outcome.max_points}</strong></li>",
        f"<li>Status: {_h(outcome.status)}</li>",
        "</ul>",
    ]
    if outcome.notes:
        out.append("<blockquote>")
        out += [f"<p>{_h(note)}</p>" for note in outcome.notes]
        out.append("</blockquote>")
    rows = _check_rows(outcome)
    if rows:
        out += [
            "<h2>Checks</h2>",
            "<table>",
            "<tr><th>Check</th><th>Result</th><th>Points</th><th>Why, and a hint</th></tr>",
        ]
        for r in rows:
            why = _h(r.why) + (f" Hint: {_h(r.hint)}" if r.hint else "")
            kind = " (graded only)" if r.graded_only else ""
            out.append(f"<tr><td>{_h(r.title)}{kind}</td><td>{_h(r.result)}</td><td>{r.points}</td><td>{why}</td></tr>")
        out.append("</table>")
    problems = _problems(outcome)
    if problems:
        out += ["<h2>How your notebook ran</h2>", f"<p>{_h(_CELLS_INTRO)}</p>", "<ul>"]
        for index, cell_id, status, detail in problems:
            label = f"cell {index}" + (f" (id {_h(cell_id)})" if cell_id else "")
            out.append(f"<li>{label}: {_h(status)}: {_h(detail)}</li>")
        out.append("</ul>")
    elif outcome.checks:
        out.append(f"<p>{_h(_CELLS_CLEAN)}</p>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def write_feedback(
    outcomes: Sequence[Outcome], directory: str | Path, *, html: bool = True
) -> list[Path]:
    """Write each outcome's Markdown feedback (and HTML beside it) into ``directory``, atomically.

    Names come from :func:`feedback_names` over the whole sequence. A symlink at a
    target is replaced, never followed (:mod:`wslab.grading.atomic`). Returns the
    files written; raises :class:`OSError` on the first that cannot be.
    """
    md_names = feedback_names(o.name for o in outcomes)
    html_names = feedback_names((o.name for o in outcomes), suffix=".html")
    written = []
    with Folder(directory) as folder:
        for o in outcomes:
            folder.write(md_names[o.name], feedback_text(o).encode("utf-8"))
            written.append(folder.path / md_names[o.name])
            if html:
                folder.write(html_names[o.name], feedback_html(o).encode("utf-8"))
                written.append(folder.path / html_names[o.name])
    return written
