"""The chat window: messages with sender, content and timestamp, an input, a send button, who is typing.

What a screen reader finds in it (WCAG 2.1 AA, checked by axe-core in
JupyterLab, ``tests/e2e/browser/test_lab.py``): the header (room, name,
connection, who is online) apart from the transcript; the transcript a log
named "Messages in #room", focusable so it scrolls by keyboard, one list item
per message with its time, sender and text as separate elements; who is typing
a polite status line; the input labelled "Message" and the button named "Send".
Colours are :mod:`wslab.ui._html`'s (JupyterLab's theme, AA in light and dark).
"""

from __future__ import annotations

import ssl as ssl_module
import weakref
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import ipywidgets as widgets

from wslab.core import protocol as p
from wslab.core.clock import SYSTEM_CLOCK, Clock
from wslab.ui._html import ACCENT, ERROR, MUTED, SMALL, TEXT, esc, running_loop
from wslab.ui.models import CHAT_EVENTS, ChatModel

__all__ = ["ChatUI", "with_token", "REPLACE_TIMEOUT"]

REPLACE_TIMEOUT = 3.0
"""Seconds a new window waits for an older one with the same name and room to leave."""

_LIVE: weakref.WeakValueDictionary[tuple[str, str, str], ChatUI] = weakref.WeakValueDictionary()


def with_token(url: str, token: str | None) -> str:
    """``url`` with ``?token=...`` added (replacing one already there); unchanged for None."""
    if not token:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "token"] + [("token", token)]
    return urlunsplit(parts._replace(query=urlencode(query)))


class ChatUI(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped: VBox is Any
    """A chat window joined to a room of a wslab server.

    ``ChatUI(url, name, room="lobby", token=None)`` connects a
    :class:`wslab.ReconnectingClient` to ``url`` (``ws://host:port/chat``, a
    classroom server's address works the same; ``token`` is added to the URL
    as ``?token=``), joins ``room`` as ``name`` and shows what happens there.
    The window is a view: every decision (typing frames, message ids, what
    waits while offline, what is new after a reconnect) is the client
    session's (:attr:`client`'s ``session``, a
    :class:`~wslab.core.session.ClientSession`). A message sent while offline
    waits and is never delivered twice; until the server confirms it, it
    shows greyed, marked "sending…".

    For a ``wss://`` server whose certificate comes from a private CA (a
    workshop's own), give ``cafile=`` (the CA's PEM file, as ``wslab serve``'s
    banner names it) or ``ssl=`` (an :class:`ssl.SSLContext`). A connection
    that fails is said in the window's status line with the reason (for a
    certificate: OpenSSL's, such as "self-signed certificate"), attempt after
    attempt, instead of "connecting" for ever.

    Everything people typed is shown as text: ``<script>`` stays literal.
    :attr:`model` holds what the window shows (a
    :class:`~wslab.ui.models.ChatModel`); :meth:`transcript` returns it as
    lines of text.
    """

    def __init__(
        self,
        url: str | None,
        name: str,
        room: str = p.DEFAULT_ROOM,
        token: str | None = None,
        *,
        client: Any = None,
        clock: Clock = SYSTEM_CLOCK,
        start: bool = True,
        cafile: str | None = None,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        p.validate_name(name)
        p.validate_room(room)
        self.name, self.room = name, room
        self.clock = clock
        self.connection = "connecting"
        self._loop = running_loop()

        self.status = widgets.HTML()
        self.messages = widgets.HTML()
        self.typing_line = widgets.HTML()
        self.input = widgets.Text(description="Message", placeholder=f"Message #{room} as {name}",
                                  continuous_update=True, style={"description_width": "initial"},
                                  layout=widgets.Layout(flex="1 1 auto", width="auto"))
        # No icon: its element would put a stray space in the button's accessible name (" Send").
        self.button = widgets.Button(description="Send", button_style="primary", tooltip=f"Send to #{room}",
                                     layout=widgets.Layout(width="90px"))
        self.input.add_class("wslab-chat-input")
        self.button.add_class("wslab-chat-send")
        self.messages.add_class("wslab-chat-messages")
        self.typing_line.add_class("wslab-chat-typing")
        super().__init__([self.status, self.messages, self.typing_line, widgets.HBox([self.input, self.button])],
                         layout=widgets.Layout(width="100%", max_width="720px"))
        self.add_class("wslab-chat")

        if client is None:
            if url is None:
                raise ValueError("ChatUI needs the server's chat URL, e.g. server.chat_url")
            from wslab.client.reconnecting import ReconnectingClient  # the client module; imported late on purpose

            client = ReconnectingClient(with_token(url, token), clock=clock, cafile=cafile, ssl=ssl)
        elif cafile is not None or ssl is not None:
            raise ValueError("cafile= and ssl= are for the client ChatUI makes; give them to your client instead")
        self.client = client
        self.model = ChatModel(me=name, session=client.session)
        self.input.observe(self._on_input, names="value")
        self.button.on_click(lambda _button: self.send())
        self.model.observe(lambda _kind: self._render())
        for event in CHAT_EVENTS:
            client.on(event, lambda data, event=event: self.model.handle(event, data))
        client.on("error", self._on_error)
        client.on("ack", lambda *a: self._render())
        client.on("connect", lambda *a: self._set_connection("connected"))
        client.on("disconnect", lambda *a: self._set_connection("offline, reconnecting…"))
        client.on("closed", self._on_closed)
        client.on("failed", self._on_failed)
        client.join(name, room)
        self._render()
        key = (url or "", name, room)
        previous = _LIVE.get(key)
        _LIVE[key] = self
        if not start:
            return
        still_open = previous is not None and getattr(previous.client, "state", "closed") != "closed"
        if previous is not None and previous.client is not client and still_open:
            # The cell was run again: the older window leaves first, or the server
            # would refuse the name as taken. Start once it is gone (bounded).
            previous.leave()
            previous.client.on("closed", lambda *a: client.start())
            if self._loop is not None:
                self._loop.call_later(REPLACE_TIMEOUT, client.start)  # start() twice is harmless
        else:
            client.start()

    # ------------------------------------------------------------ events in

    @property
    def pending(self) -> dict[str, str]:
        """My messages the server has not confirmed yet, by id (read from the session)."""
        return dict(self.model.pending)

    async def wait_joined(self, timeout: float = 5.0) -> None:
        """Return once the room is joined and its history shown (at once if so); bounded by ``timeout``."""
        await self.client.wait_open(timeout)

    def _on_error(self, data: Any = None) -> None:
        if isinstance(data, dict) and data.get("code") == p.ErrorCode.NAME_TAKEN:
            self._set_connection("name taken")

    def _on_failed(self, details: Any = None) -> None:
        if isinstance(details, dict) and isinstance(details.get("error"), str):
            self._set_connection(f"cannot connect (attempt {details.get('attempt', '?')}): {details['error']}")

    def _on_closed(self, details: Any = None) -> None:
        reason = details.get("reason") if isinstance(details, dict) else None
        self._set_connection(f"closed: {reason}" if reason else "closed")

    def _set_connection(self, text: str) -> None:
        self.connection = text
        self._render()

    def _on_input(self, change: dict[str, Any]) -> None:
        self.client.keystroke(change["new"])
        self._render_typing_line()

    # ------------------------------------------------------------ actions

    def send(self, text: str | None = None) -> str | None:
        """Send ``text`` (by default the input's text, which is then cleared); returns its id.

        Empty text sends nothing; text the server would refuse (too long, not
        valid Unicode) is refused here with a note.
        """
        content = self.input.value if text is None else text
        if not content.strip():
            return None
        try:
            id_: str = self.client.say(content)
        except p.ProtocolError as exc:
            self.model.errors.append((exc.code, exc.message))
            self._render()
            return None
        if text is None:
            self.input.value = ""
        self._render()
        return id_

    def leave(self) -> None:
        """Leave the room: close the connection (the widget stays, showing the last state).

        Running the cell that made a window again makes the old window leave by itself.
        """
        self.client.close()

    # ------------------------------------------------------------ view

    def transcript(self, times: bool = False) -> list[str]:
        """The messages as ``"Ada: hello"`` lines (with ``[HH:MM:SS]`` first if ``times``)."""
        return [(f"[{m.time}] " if times else "") + f"{m.sender}: {m.content}" for m in self.model.messages]

    def _render(self) -> None:
        model = self.model
        room = esc(model.room or self.room)
        online = ", ".join(esc(n) for n in model.online) or "nobody yet"
        error = ""
        if model.errors:
            code, text = model.errors[-1]
            error = f' · <span class="wslab-chat-error" style="color:{ERROR}">{esc(code)}: {esc(text)}</span>'
        self.status.value = (
            f'<div class="wslab-chat-header" style="font-family:sans-serif;font-size:13px;color:{TEXT}">'
            f"<b>#{room}</b> as <b>{esc(self.name)}</b> · "
            f'<span class="wslab-chat-connection">{esc(self.connection)}</span> · online: {online}{error}</div>'
        )
        rows = []
        previous: str | None = None
        for m in model.messages[-200:]:
            if previous is not None and m.epoch != previous:
                rows.append(
                    f'<li class="wslab-epoch" style="margin:6px 0;color:{ERROR};font-size:{SMALL};text-align:center">'
                    "— the server started over: its history begins again below —</li>"
                )
            previous = m.epoch
            mine = m.sender == self.name
            rows.append(
                f'<li class="wslab-msg" style="margin:2px 0">'
                f'<time class="wslab-time" datetime="{esc(m.timestamp)}" style="color:{MUTED};font-size:{SMALL}">'
                f"{esc(m.time)}</time> "
                f'<strong class="wslab-sender" style="color:{ACCENT if mine else TEXT}">{esc(m.sender)}</strong>: '
                f'<span class="wslab-content" style="white-space:pre-wrap">{esc(m.content)}</span></li>'
            )
        for _id, content in self.model.pending:
            # Waiting for the server: said in words ("sending…"), not by the grey alone.
            rows.append(
                f'<li class="wslab-msg wslab-pending" style="margin:2px 0;color:{MUTED}">'
                f'<strong class="wslab-sender">{esc(self.name)}</strong>: '
                f'<span class="wslab-content">{esc(content)}</span> '
                "<i>(sending…)</i></li>"
            )
        body = "".join(rows) or f'<li style="color:{MUTED}">No messages yet.</li>'
        # column-reverse keeps the scroll position at the bottom: the newest message stays in view.
        # The log scrolls, so it takes focus (tabindex): a keyboard scrolls it too.
        self.messages.value = (
            f'<div class="wslab-chat-log" role="log" aria-live="polite" aria-label="Messages in #{room}" tabindex="0" '
            f'style="font-family:sans-serif;font-size:14px;line-height:1.35;color:{TEXT};border:1px solid {MUTED};'
            'border-radius:4px;padding:6px;height:16em;overflow-y:auto;display:flex;flex-direction:column-reverse">'
            f'<ol style="list-style:none;margin:0;padding:0">{body}</ol></div>'
        )
        self._render_typing_line()

    def _render_typing_line(self) -> None:
        # Who else is typing (a status line), and how long my message is: the count is what the kernel has of
        # the input (ipywidgets sends keystrokes in batches), and shows the limit before it bites. The count
        # sits outside the status line, so a screen reader is not told every few keys.
        length = len(self.input.value)
        over = length > p.MAX_CONTENT_CHARS
        count = (
            f'<span class="wslab-chat-count" style="float:right;color:{ERROR if over else MUTED}" '
            f'title="characters in your message, of {p.MAX_CONTENT_CHARS} allowed">'
            f"{length}/{p.MAX_CONTENT_CHARS}{' (too long)' if over else ''}</span>"
            if length
            else ""
        )
        self.typing_line.value = (
            f'<div style="font-family:sans-serif;font-size:{SMALL};color:{MUTED};min-height:1.4em">'
            f'{count}<div class="wslab-chat-activity" role="status">{esc(self.model.typing_text())}</div></div>'
        )

    def __repr__(self) -> str:
        return f"ChatUI(name={self.name!r}, room={self.room!r})"
