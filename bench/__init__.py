"""wslab's benchmarks: the chat hub against its peers, side by side, and a classroom's load and faults.

Run from the repository root, where ``bench`` is a package and ``wslab`` comes
from the editable install (``pip install -e .``; ``bench/requirements.txt`` for
the peers)::

    python -m bench.run --quick    # the hub against its peers: docs/benchmarks.md
    python -m bench.load           # a classroom's load and faults: docs/classroom.md
"""

from __future__ import annotations

__all__: list[str] = []
