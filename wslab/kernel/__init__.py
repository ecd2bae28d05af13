"""Servers inside a notebook's kernel: each in a daemon thread with its own event loop.

* :mod:`~wslab.kernel.loop_thread`: the one daemon-thread loop host both servers below use;
* :mod:`~wslab.kernel.course_server`: ``start_server()``, the course's server, and its
  fault injection (``drop_all``, ``outage``, ``stall``...);
* :mod:`~wslab.kernel.learner_server`: ``serve_handler()``, the learner's own server;
* :mod:`~wslab.kernel.nodes`: several servers sharing rooms through an engine (lesson 8);
* :mod:`~wslab.kernel.jupyter_links`: links for the browser through jupyter-server-proxy.

Why a thread: a server on the kernel's own loop freezes whenever a cell blocks.
"""

__all__: list[str] = []  # import the modules themselves
