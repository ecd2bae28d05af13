"""The frame inspector: every frame of one connection as it passes, both ways, like a browser's devtools.

::

    inspector = wslab.FrameInspector(title="echo")
    ws = wslab.WebSocket(server.echo_url, logger=inspector.logger)      # or connect(url, logger=...)
    inspector                                                           # a live table of frames
    ...
    await inspector.wait_for("PONG", count=2, timeout=3)                # bounded, returns at once if seen
    wslab.snapshot(inspector)                                           # static HTML for the saved notebook
    inspector.diagram()                                                 # the same as a sequence chart

The model is :class:`wslab.ui.frame_log.FrameLog` (websockets' own log of the
connection); this module is the view: an ``HTML`` table redrawn on each row, in
the notebook's event loop even when websockets logs from another thread (a
connection served by ``wslab.serve_handler``), and bounded waits for a frame.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import ipywidgets as widgets

from wslab.core.clock import SYSTEM_CLOCK, Clock
from wslab.ui._html import running_loop
from wslab.ui.diagrams import sequence_diagram
from wslab.ui.figures import Figure
from wslab.ui.frame_log import FRAME_KINDS, FrameLog, FrameRow, Side

__all__ = ["FrameInspector"]


class FrameInspector(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped: VBox is Any
    """A live table of the frames of one WebSocket connection: time, direction, opcode, length,
    masked or not, the payload (a close frame's code and reason).

    Hand :attr:`logger` to the connection: ``connect(url, logger=inspector.logger)``,
    ``wslab.WebSocket(url, logger=inspector.logger)`` (``side="client"``, the
    default), or ``serve(handler, ..., logger=inspector.logger)`` with
    ``side="server"`` (every connection of that server then lands in one table).
    """

    def __init__(
        self,
        *,
        title: str = "frames",
        side: Side = "client",
        clock: Clock = SYSTEM_CLOCK,
        limit: int = 200,
        handshake: bool = True,
    ) -> None:
        self.model = FrameLog(side, clock=clock, limit=limit, handshake=handshake)
        self.title = title
        self.table = widgets.HTML()
        super().__init__([self.table])
        self._loop = running_loop()
        self._thread = threading.get_ident()
        self._waiters: list[tuple[str, str | None, int, asyncio.Future[FrameRow]]] = []
        self.model.observe(self._on_row)
        self._render()

    @property
    def logger(self) -> Any:
        """The logger to hand to websockets (a :class:`logging.Logger` feeding :attr:`model`)."""
        return self.model.logger

    @property
    def rows(self) -> list[FrameRow]:
        return list(self.model.rows)

    def lines(self, frames_only: bool = False) -> list[str]:
        """The rows as text without times or ping ids (see :meth:`FrameLog.lines`)."""
        return self.model.lines(frames_only)

    def count(self, kind: str, direction: str | None = None) -> int:
        """How many ``kind`` frames were seen (``"sent"``, ``"received"`` or either)."""
        if kind not in FRAME_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FRAME_KINDS)}, got {kind!r}")
        return sum(n for (d, k), n in self.model.counts.items() if k == kind and direction in (None, d))

    async def wait_for(self, kind: str, *, direction: str | None = None, count: int = 1,
                       timeout: float = 5.0) -> FrameRow | None:
        """Wait until ``count`` frames of ``kind`` (in ``direction``, if given) were seen, at most ``timeout`` s.

        Returns at once if they were already seen (the last such row then, or None if it
        scrolled out of the table). Raises :class:`TimeoutError` naming what was seen instead.
        """
        if self.count(kind, direction) >= count:
            return next((r for r in reversed(self.model.rows) if r.kind == kind and direction in (None, r.direction)),
                        None)
        future: asyncio.Future[FrameRow] = asyncio.get_running_loop().create_future()
        entry = (kind, direction, count, future)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            seen = self.count(kind, direction)
            raise TimeoutError(
                f"{seen} {kind} frame(s){f' {direction}' if direction else ''} within {timeout:g} s; "
                f"waited for {count}"
            ) from None
        finally:
            self._waiters.remove(entry)

    def diagram(self, title: str | None = None, *, ready_state: bool = False) -> Figure:
        """The rows so far as a sequence chart (:func:`wslab.ui.diagrams.sequence_diagram`): a static picture."""
        return sequence_diagram(self.model.rows, title=self.title if title is None else title,
                                side=self.model.side, ready_state=ready_state)

    def clear(self) -> None:
        """Empty the table (and count time from now)."""
        self.model.clear()
        self._render()

    # ------------------------------------------------------------ view

    def _on_row(self, row: FrameRow) -> None:
        if self._loop is not None and threading.get_ident() != self._thread:
            try:
                self._loop.call_soon_threadsafe(self._update, row)
            except RuntimeError:  # the notebook's loop is gone: nothing to show on
                pass
            return
        self._update(row)

    def _update(self, row: FrameRow) -> None:
        self._render()
        for kind, direction, count, future in list(self._waiters):
            if future.done() or row.kind != kind or direction not in (None, row.direction):
                continue
            if self.count(kind, direction) >= count:
                future.set_result(row)

    def _render(self) -> None:
        self.table.value = self.model.html(self.title)

    def __repr__(self) -> str:
        return f"FrameInspector(title={self.title!r}, side={self.model.side!r})"
