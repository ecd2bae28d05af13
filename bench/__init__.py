"""wslab's benchmarks: the chat hub against its peers, side by side, and a classroom's load and faults.

Run from the repository root, where ``bench`` is a package and ``wslab`` comes
from the editable install (``pip install -e .``; ``bench/requirements.txt`` for
the peers)::

    python -m bench.run --quick    # the hub against its peers: docs/benchmarks.md
    python -m bench.load           # a classroom's load and faults: docs/classroom.md

The modules, from the command down:

* :mod:`bench.run`: the command line of the side-by-side run; writes
  ``bench/results/`` and ``docs/benchmarks.md``;
* :mod:`bench.runner`: orchestration, per repetition: each server in a process
  of its own, driven by the load client, then stopped;
* :mod:`bench.plans`: the server kinds and the scenario sizes of each run;
* :mod:`bench.report`: the Markdown tables; :mod:`bench.stats`: percentiles,
  medians and spreads, paired ratios;
* :mod:`bench.procs`: starting and stopping subprocesses within bounded waits,
  ``/proc`` readings of CPU time and memory;
* :mod:`bench.servers` (and ``bench/relay.js``, Node's): the servers under test,
  one per process;
* :mod:`bench.peers_load`: the load client, one process that runs a plan;
  :mod:`bench.scenarios`: what each scenario does and measures;
  :mod:`bench.dialects`: how each server kind is spoken to;
  :mod:`bench.frames`: what is sent; :mod:`bench.wsclient`: a lean WebSocket client;
* :mod:`bench.hub_micro`: the hub's own cost, sans I/O; :mod:`bench.startup`:
  the in-kernel server's start; :mod:`bench.joins`: a join's server CPU split into
  the handshake and the join itself;
* :mod:`bench.load`: many learners in one room of ``wslab serve``, and one who
  stops reading.
"""

from __future__ import annotations

__all__: list[str] = []
