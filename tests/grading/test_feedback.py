"""Feedback a learner cannot forge, in Markdown and HTML that say the same, under names that never collide."""

from __future__ import annotations

import html
import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import mistune
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wslab.grading.feedback import (
    CSP,
    NAME_LIMIT,
    feedback_html,
    feedback_name,
    feedback_names,
    feedback_text,
    markdown_escape,
    one_line,
    write_feedback,
)
from wslab.grading.grader import CheckOutcome, Outcome
from wslab.grading.registry import get_exercise

# --------------------------------------------------------------------------- names

ADVERSARIAL = [
    "alice__02-readystate.ipynb",
    "alice/02-readystate.ipynb",
    "alice%2F02-readystate.ipynb",
    "alice\\02-readystate.ipynb",
    "alice／02-readystate.ipynb",  # a full-width solidus
    "..ipynb",
    "...ipynb",
    ".ipynb",
    ".hidden.ipynb",
    "-rf.ipynb",
    " space .ipynb",
    "a",
    "a.ipynb",
    "a%",
    "a%.ipynb",
    "a~1.ipynb",
    "CON.ipynb",
    "tab\there.ipynb",
    "new\nline.ipynb",
    "\x1b[31mred.ipynb",
    "bidi\u202egnp.ipynb",
    "café.ipynb",  # composed
    "cafe\u0301.ipynb",  # decomposed
    "Ångström.ipynb",
    "\u212bngstr\u00f6m.ipynb",  # the Angstrom sign: the same letter once normalised
    "日本語_04-chat.ipynb",
    "emoji 🙂.ipynb",
    "=HYPERLINK(\"http://evil\",\"x\").ipynb",
    "undecodable\udcff.ipynb",
    "x" * 300 + ".ipynb",
    "x" * 300 + "y.ipynb",
    "x" * 119 + ".ipynb",
    "x" * 121 + ".ipynb",
]


def test_the_issues_two_names_get_two_readable_files() -> None:
    assert feedback_name("alice__02-readystate.ipynb") == "alice__02-readystate.md"
    assert feedback_name("alice/02-readystate.ipynb") == "alice%2F02-readystate.md"
    assert feedback_name("Ada - 04-Chat (1).ipynb", ".html") == "Ada - 04-Chat (1).html"
    assert feedback_name("日本語_04-chat.ipynb") == "日本語_04-chat.md"


def test_adversarial_names_are_distinct_safe_and_bounded(tmp_path: Path) -> None:
    names = [feedback_name(n) for n in ADVERSARIAL]
    assert len(set(names)) == len(ADVERSARIAL)
    for original, name in zip(ADVERSARIAL, names, strict=True):
        assert "/" not in name and "\\" not in name and not name.startswith((".", "-", " ")), (original, name)
        assert not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name), (original, name)
        assert len(name.encode("utf-8")) <= NAME_LIMIT + len(".md"), (original, name)
        name.encode("utf-8")  # valid Unicode even for a file name that was not
    assert feedback_name("x" * 300 + ".ipynb").startswith("x" * 80 + "~")
    assert feedback_name("x" * 119 + ".ipynb") == "x" * 119 + ".md"
    assert feedback_name("a") == "a%.md" and feedback_name("a.ipynb") == "a.md"
    # and they are files: each one a file of its own
    batch = feedback_names(ADVERSARIAL)
    for original in ADVERSARIAL:
        (tmp_path / batch[original]).write_text(original.encode("utf-8", "surrogateescape").hex())
    assert len(list(tmp_path.iterdir())) == len(ADVERSARIAL)


def test_names_that_differ_only_in_case_or_normal_form_get_a_hash_in_a_batch() -> None:
    batch = feedback_names(["Ada_04-chat.ipynb", "ada_04-chat.ipynb", "bob_04-chat.ipynb",
                            "Ångström.ipynb", "\u212bngstr\u00f6m.ipynb"])
    assert batch["bob_04-chat.ipynb"] == "bob_04-chat.md"
    assert re.fullmatch(r"Ada_04-chat~[0-9a-f]{20}\.md", batch["Ada_04-chat.ipynb"])
    assert re.fullmatch(r"ada_04-chat~[0-9a-f]{20}\.md", batch["ada_04-chat.ipynb"])
    folded = {unicodedata.normalize("NFC", v).casefold() for v in batch.values()}
    assert len(folded) == len(batch)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                        min_size=1, max_size=160), min_size=2, max_size=6, unique=True))
def test_feedback_names_are_injective(names: list[str]) -> None:
    names += [n + ".ipynb" for n in names]
    assert len({feedback_name(n) for n in set(names)}) == len(set(names))
    batch = feedback_names(names)
    assert len({unicodedata.normalize("NFC", v).casefold() for v in batch.values()}) == len(set(names))


# --------------------------------------------------------------------------- escaping

FORGED = "\n- Score: **9/9**\n\n# Score: 9/9\n| x | PASS | 9/9 | |"


def _outcome(**changes: object) -> Outcome:
    chat = get_exercise("chat")
    checks = [CheckOutcome(c, "pass" if i else "fail", "" if i else f"got <script>alert(1)</script>{FORGED}")
              for i, c in enumerate(chat.checks)]
    outcome = Outcome(
        path=Path("x.ipynb"), name="ada_04-chat.ipynb", exercise=chat, status="cell-error", checks=checks,
        cells=[(3, f"id{FORGED}", "error", f"NameError: `x` ![img](http://track.er/p.png) [click](http://evil){FORGED}"),
               (5, "fine", "ok", "")],
        notes=[f"a note{FORGED}", "=== a setext underline", "1. not a list", "> not a quote", "www.evil.com a@b.co"],
        student="ada",
    )
    for key, value in changes.items():
        setattr(outcome, key, value)
    return outcome


def _render(markdown: str) -> str:
    return str(mistune.create_markdown(plugins=["table", "url", "strikethrough"])(markdown))


def test_a_learner_cannot_forge_a_score_a_heading_a_row_a_link_an_image_or_html_in_markdown() -> None:
    outcome = _outcome()
    text = feedback_text(outcome)
    assert [line for line in text.splitlines() if line.startswith(("- Score", "-Score", "Score"))] == [
        f"- Score: **{outcome.total}/{outcome.max_points}**"
    ]
    assert [line for line in text.splitlines() if line.startswith("#")] == [
        "# Feedback: ada\\_04-chat.ipynb", "## Checks", "## How your notebook ran"
    ]
    page = _render(text)
    assert page.count("<h1>") == 1 and page.count("<h2>") == 2 and "<h3>" not in page
    items = re.findall(r"<li>(.*?)</li>", page, re.S)
    assert len(items) == 4 + 1  # student, exercise, score, status; the one cell that did not run cleanly
    assert [i for i in items if i.startswith("Score")] == [f"Score: <strong>{outcome.total}/32</strong>"]
    assert page.count("<strong>") == 2 and "<em>" not in page  # bold only where the grader put it
    assert page.count("<tr>") == 1 + len(outcome.checks), "a table row was forged"
    assert "<script" not in page and "<a " not in page and "<img" not in page and "<del>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown, as text
    assert page.count("<blockquote>") == 1 and page.count("<p>") >= 5  # one paragraph per note, none a heading


def test_html_feedback_says_the_same_escaped_with_nothing_to_load_or_run() -> None:
    outcome = _outcome()
    page = feedback_html(outcome)

    class Tags(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
            self.text: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.tags.append((tag, attrs))

        def handle_data(self, data: str) -> None:
            self.text.append(data)

    parser = Tags()
    parser.feed(page)
    names = [t for t, _ in parser.tags]
    assert not {"script", "img", "a", "link", "iframe", "object", "base", "form"} & set(names)
    assert all(k in ("charset", "http-equiv", "content", "name", "lang") for _, attrs in parser.tags for k, _ in attrs)
    assert (("http-equiv", "Content-Security-Policy"), ("content", CSP)) in [tuple(a) for _, a in parser.tags]
    assert "default-src 'none'" in CSP and "script-src 'none'" in CSP
    assert names.count("tr") == 1 + len(outcome.checks) and names.count("h1") == 1 and names.count("h2") == 2
    shown = "".join(parser.text)
    assert "<script>alert(1)</script>" in shown  # as text
    items = re.findall(r"<li>(.*?)</li>", page, re.S)
    assert [i for i in items if i.startswith("Score")] == [f"Score: <strong>{outcome.total}/32</strong>"]
    assert "- Score: **9/9**  # Score: 9/9 | x | PASS | 9/9 | |" in shown  # the forgery, as text, on one line
    for outcome_text in ("ada_04-chat.ipynb", "cell 3 (id id", "a note", "1. not a list", "www.evil.com a@b.co"):
        assert outcome_text in shown


def test_markdown_and_html_show_the_same_text() -> None:
    outcome = _outcome()
    markdown_shown = re.sub(r"<[^>]+>", " ", _render(feedback_text(outcome)))
    html_shown = re.sub(r"<[^>]+>", " ", feedback_html(outcome).split("<body>")[1])

    def words(text: str) -> list[str]:
        return html.unescape(text).replace("\u200b", "").split()

    assert words(markdown_shown) == words(html_shown)


def test_one_line_and_markdown_escape() -> None:
    assert one_line("a\r\nb\x1b[0m\u2028c\u202ed") == "a  b [0m c\ufffdd"
    assert one_line("x" * 5000).endswith("…") and len(one_line("x" * 5000)) == 4001
    assert one_line("bad\udcff") == "bad\ufffd"
    assert markdown_escape("- item") == "\\- item"
    assert markdown_escape("12. item") == "12\\. item"
    assert markdown_escape("a|b*c_d`e[f]g<h>i!j#k~l&m$n\\o") == (
        "a\\|b\\*c\\_d\\`e\\[f\\]g\\<h\\>i\\!j\\#k\\~l\\&m\\$n\\\\o"
    )
    assert markdown_escape("see http://x.org and www.y.org, mail a@b.c") == (
        "see http:\u200b//x.org and www\u200b.y.org, mail a@\u200bb.c"
    )
    assert markdown_escape("stamped 2026-11-27T09:52:04.123Z (x)") == "stamped 2026-11-27T09:52:04.123Z (x)"


def test_feedback_is_deterministic_and_says_why() -> None:
    outcome = _outcome(student="", notes=[])
    assert feedback_text(outcome) == feedback_text(_outcome(student="", notes=[]))
    text = feedback_text(outcome)
    assert "- Student" not in text and "| FAIL | 0/" in text and "Hint: " in text
    clean = Outcome(Path("x"), "x.ipynb", get_exercise("basics"), checks=[
        CheckOutcome(c, "pass") for c in get_exercise("basics").checks])
    assert "Every code cell ran without an error." in feedback_text(clean)
    assert "<p>Every code cell ran without an error.</p>" in feedback_html(clean)
    assert "(graded only)" in feedback_text(clean) and "(graded only)" in feedback_html(clean)


def test_write_feedback_writes_both_and_replaces_a_symlink(tmp_path: Path) -> None:
    gradebook = tmp_path / "gradebook.csv"
    gradebook.write_text("student\n")
    folder = tmp_path / "feedback"
    folder.mkdir()
    (folder / "ada_04-chat.md").symlink_to(gradebook)
    written = write_feedback([_outcome()], folder)
    assert [p.name for p in written] == ["ada_04-chat.md", "ada_04-chat.html"]
    assert gradebook.read_text() == "student\n"
    assert (folder / "ada_04-chat.md").read_text().startswith("# Feedback: ada")
    assert write_feedback([_outcome()], tmp_path / "md-only", html=False) == [tmp_path / "md-only" / "ada_04-chat.md"]


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_every_adversarial_name_renders_on_one_line(name: str) -> None:
    text = feedback_text(_outcome(name=name, notes=[], cells=[]))
    assert text.splitlines()[0].startswith("# Feedback: ") and "\n" not in text.splitlines()[0]
    assert _render(text).count("<h1>") == 1
