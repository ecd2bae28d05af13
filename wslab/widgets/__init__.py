"""The lessons' widgets: views over :mod:`wslab.models`, driven by wslab's clients.

* :class:`ReadyStateLight`: a WebSocket's readyState, live, with its event log;
* :class:`TimelinePlot`: a reconnecting client's attempts, delays and outages;
* :class:`ChatUI`: a chat window joined to a room (local or classroom server);
* :class:`Dashboard`: a live view of a channel of updates.

Each has a ``repr`` without ports or times (nbval compares it), and shows every
string that came from a person as text.
"""

from __future__ import annotations

from .chat import ChatUI, with_token
from .dashboard import Dashboard
from .readystate import ReadyStateLight
from .timeline import TimelinePlot, timeline_svg

__all__ = ["ChatUI", "Dashboard", "ReadyStateLight", "TimelinePlot", "timeline_svg", "with_token"]
