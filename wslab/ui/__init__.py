"""Views: view models (:mod:`wslab.ui.models`, no widgets needed) and the lessons' ipywidgets.

* :class:`ReadyStateLight`: a WebSocket's readyState, live, with its event log;
* :class:`TimelinePlot`: a reconnecting client's attempts, delays and outages;
* :class:`ChatUI`: a chat window joined to a room (local or classroom server);
* :class:`LiveDashboard`: a live view of a channel of updates, and its connection state;
* :class:`FrameInspector`: every frame of one connection, both ways, as websockets logs it
  (its model, :class:`FrameLog`, needs no widgets);
* :func:`snapshot`: any widget as static HTML, for readers of a saved notebook;
* :func:`herd_histogram`, :func:`flapping_timeline`: reconnect pictures simulated
  with the sans-I/O backoff (deterministic SVG);
* :mod:`wslab.ui.diagrams`: the other lessons' pictures (a connection's frames as a
  sequence chart, a broadcast room, a heartbeat's budget, a slow reader, a Stream after a cut).

Each has a ``repr`` without ports or times (nbval compares it), and shows every
string that came from a person as text. The widgets are imported on first use,
so ``wslab.ui.models`` works without ipywidgets.
"""

from __future__ import annotations

from wslab._lazy import lazy_exports

_EXPORTS = {
    "ChatUI": "wslab.ui.chat",
    "with_token": "wslab.ui.chat",
    "LiveDashboard": "wslab.ui.live_dashboard",
    "ReadyStateLight": "wslab.ui.readystate",
    "TimelinePlot": "wslab.ui.timeline",
    "timeline_svg": "wslab.ui.timeline",
    "FrameInspector": "wslab.ui.inspector",
    "FrameLog": "wslab.ui.frame_log",
    "snapshot": "wslab.ui.snapshots",
    "Snapshot": "wslab.ui.snapshots",
    "herd_histogram": "wslab.ui.figures",
    "flapping_timeline": "wslab.ui.figures",
    "Figure": "wslab.ui.figures",
    "sequence_diagram": "wslab.ui.diagrams",
    "broadcast_room": "wslab.ui.diagrams",
    "heartbeat_budget": "wslab.ui.diagrams",
    "slow_reader": "wslab.ui.diagrams",
    "stream_after_cut": "wslab.ui.diagrams",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
