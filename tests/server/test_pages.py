"""What a server answers to a plain HTTP GET: the chat page, static files (and nothing else), never cached."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from wslab.server.pages import CSP, INDEX_HTML, STATIC_DIR, chat_page, html_response, not_found_page, static_response


def test_chat_page_names_its_room() -> None:
    assert 'data-room="my-room"' in chat_page("my-room")
    with pytest.raises(Exception, match="room must be"):
        chat_page('"><script>')


def test_the_chat_page_offers_the_join_qr_code_only_where_the_server_has_one() -> None:
    assert 'data-join="join.json"' in chat_page("workshop", join=True)
    assert "data-join" not in chat_page("workshop")


def test_the_chat_page_loads_its_script_and_style_relative_to_itself() -> None:
    page = chat_page()
    assert 'data-room="lobby"' in page
    assert '<script src="static/chat.js">' in page and 'href="static/chat.css"' in page
    assert "<script>" not in page  # no inline code: the CSP forbids it


@pytest.mark.parametrize(
    ("name", "kind"),
    [("chat.js", "text/javascript; charset=utf-8"), ("chat.css", "text/css; charset=utf-8"),
     ("chat.html", "text/html; charset=utf-8")],
)
def test_static_files_are_served_with_their_type(name: str, kind: str) -> None:
    response = static_response(name)
    assert response.status_code == 200 and response.headers["Content-Type"] == kind
    assert response.body == (STATIC_DIR / name).read_bytes()


@pytest.mark.parametrize(
    "name", ["../pages.py", "..%2Fpages.py", "sub/chat.js", ".hidden.js", "pages.py", "nope.js", "", "chat.js/"]
)
def test_anything_else_under_static_is_404(name: str) -> None:
    response = static_response(name)
    assert response.status_code == 404 and b"Not found" in response.body


def test_every_page_is_never_cached_runs_no_inline_code_and_closes_the_connection() -> None:
    response = html_response(HTTPStatus.OK, "<p>é</p>")
    assert response.body == "<p>é</p>".encode() and response.headers["Content-Length"] == str(len(response.body))
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Connection"] == "close"
    assert response.headers["Content-Security-Policy"] == CSP and "script-src 'self'" in CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    own = html_response(HTTPStatus.OK, "<script>inline()</script>", csp=None)  # a learner's own page
    assert "Content-Security-Policy" not in own.headers and "X-Content-Type-Options" not in own.headers


def test_not_found_names_the_path_as_text_and_lists_the_endpoints() -> None:
    page = not_found_page("/<script>" + "x" * 300)
    assert "<h1>Not found: /&lt;script&gt;" in page and "<script>" not in page
    cut = "/&lt;script&gt;" + "x" * (200 - len("/<script>"))  # the path is cut at 200 characters
    assert page == INDEX_HTML.replace("wslab server</", f"Not found: {cut}</")
    assert "/echo" in page and "/chat" in page and "/healthz" in page
