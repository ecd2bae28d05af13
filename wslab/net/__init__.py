"""asyncio shells around :mod:`wslab.core`: they read frames, call the core and perform its actions.

* :mod:`~wslab.net.server`: the chat server (one port: ``/echo``, ``/chat``, pages);
* :mod:`~wslab.net.runtime`: that server in a daemon thread inside a kernel, with faults;
* :mod:`~wslab.net.websocket`: the browser's ``WebSocket`` API, in Python;
* :mod:`~wslab.net.reconnect`: the reconnecting client, the shell of :class:`~wslab.core.session.ClientSession`;
* :mod:`~wslab.net.seed_client`: the seed lesson's client, flaws included;
* :mod:`~wslab.net.bots`: in-process chat participants;
* :mod:`~wslab.net.aio`: ``run()``, an ``asyncio.run`` that also works in a notebook.
"""

__all__: list[str] = []  # the modules are the public parts; import from them
