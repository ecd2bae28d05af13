"""A live dashboard: subscribe to a channel of ``update`` frames and show them as they arrive."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from wslab.ui._html import MUTED, TEXT, esc, sparkline
from wslab.ui.models import DashboardModel

__all__ = ["LiveDashboard"]


class LiveDashboard(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped: VBox is Any
    """The latest value of a channel, its change, a sparkline and counts, live.

    ``LiveDashboard(url)`` connects a :class:`wslab.ReconnectingClient` and
    subscribes to ``channel`` (again after every reconnect): the seed's last
    lines, ``ws.on("connect", () => ws.send({type: "subscribe", channel:
    "updates"}))`` and ``ws.on("update", data => updateUI(data))``. Pass
    ``client=`` to show a client you made yourself. :attr:`model` is the
    :class:`~wslab.ui.models.DashboardModel` drawn.
    """

    def __init__(self, url: str | None = None, *, client: Any = None, channel: str = "updates",
                 value_key: str = "price", title: str | None = None, window: int = 60, start: bool = True) -> None:
        self.model = DashboardModel(channel, window=window, value_key=value_key)
        self.title = title or channel
        self.headline = widgets.HTML()
        self.chart = widgets.HTML()
        self.footer = widgets.HTML()
        super().__init__([self.headline, self.chart, self.footer])
        self.add_class("wslab-dashboard")
        self.model.observe(lambda _kind: self._render())
        if client is None:
            if url is None:
                raise ValueError("LiveDashboard needs a URL (e.g. server.chat_url) or a client")
            from wslab.client.reconnecting import ReconnectingClient  # imported late on purpose

            client = ReconnectingClient(url)
        self.client = client
        self.connection = "connecting"
        """What the headline shows of the connection: connecting, connected, offline (reconnecting) or closed."""
        for event, state in (("connect", "connected"), ("disconnect", "offline, reconnecting…"), ("closed", "closed")):
            client.on(event, lambda *_args, state=state: self._set_connection(state))
        client.on("message", self._on_message)
        client.subscribe(channel)
        self._render()
        if start and url is not None:
            client.start()

    async def wait_subscribed(self, timeout: float = 5.0) -> None:
        """Return once the server confirmed the subscription (at once if it did); bounded by ``timeout``."""
        if not self.model.subscribed:
            await self.client.wait_for("subscribed", timeout, where=lambda m: m.get("channel") == self.model.channel)

    async def wait_updates(self, count: int, timeout: float = 5.0) -> None:
        """Return once ``count`` updates in all have arrived (at once if they have); bounded by ``timeout``."""
        if self.model.received < count:
            await self.client.wait_for("update", timeout, where=lambda m: self.model.received >= count)

    def _set_connection(self, state: str) -> None:
        self.connection = state
        self._render()

    def _on_message(self, message: Any, *rest: Any) -> None:
        if self.connection == "connecting":
            self.connection = "connected"  # a frame arrived: connected (a client= may have connected before)
        if isinstance(message, dict):
            self.model.apply(message)

    def _render(self) -> None:
        model = self.model
        latest = model.latest
        if latest is None:
            value_html = f'<span style="color:{MUTED}">waiting for the first update…</span>'
        else:
            data = latest.data if isinstance(latest.data, dict) else {"value": latest.data}
            value = model.value(latest)
            change = data.get("change")
            change_html = ""
            if isinstance(change, (int, float)):  # the arrow and the sign say which way, not a colour
                change_html = f' <span>{"▲" if change >= 0 else "▼"} {esc(change)}</span>'
            label = esc(data.get("symbol", model.value_key))
            shown = esc(value if value is not None else data)
            value_html = f"<b>{label}</b> <span style='font-size:22px'>{shown}</span>{change_html}"
        state_html = f'<span class="wslab-connection">● {esc(self.connection)}</span>'
        self.headline.value = (
            f'<div style="font-family:sans-serif;color:{TEXT}"><div style="color:{MUTED};font-size:12px">'
            f"#{esc(self.title)}{' · subscribed' if model.subscribed and self.connection == 'connected' else ''}"
            f" · {state_html}</div>{value_html}</div>"
        )
        self.chart.value = sparkline(model.values, label=f"{self.title}: the last {len(model.values)} values")
        last = esc(latest.timestamp) if latest else "–"
        self.footer.value = (
            f'<div style="font-family:sans-serif;font-size:12px;color:{MUTED}">{model.received} update(s), '
            f"{model.missed} missed · last at {last}</div>"
        )

    def stop(self) -> None:
        """Close the connection; the dashboard keeps showing the last values."""
        self.client.close()

    def __repr__(self) -> str:
        return f"LiveDashboard(channel={self.model.channel!r})"
