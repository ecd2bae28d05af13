"""The sans-I/O core: plain objects that take events and ``now`` and return actions.

Standard library only: no sockets, no asyncio, no widgets (``tests/test_layers.py``
holds every module here to that). The asyncio shells in :mod:`wslab.server` and
:mod:`wslab.client`, and the views in :mod:`wslab.ui`, are built around these.

* :mod:`~wslab.core.protocol`: parse and validate frames, limits and codes;
* :mod:`~wslab.core.hub`: the server side: connections, rate limits, dispatch, moderation;
* :mod:`~wslab.core.room`: one room (members, history, dedupe, presence, typing);
* :mod:`~wslab.core.channels`: the open channels and their subscribers;
* :mod:`~wslab.core.session`: the client side, the hub's counterpart;
* :mod:`~wslab.core.backoff`: reconnect delays and when to stop;
* :mod:`~wslab.core.ratelimit`: the token bucket both sides use;
* :mod:`~wslab.core.admission`: who may connect: the token or the join code, guessing limited;
* :mod:`~wslab.core.typing_status`: when to say "typing", and how to show it;
* :mod:`~wslab.core.clock`: the one injectable clock;
* :mod:`~wslab.core.admin_protocol`: the admin channel's requests and reports;
* :mod:`~wslab.core.errors`: the exception hierarchy;
* :mod:`~wslab.core.deprecation`: warnings for old names.
"""

__all__: list[str] = []  # the modules are the public parts; import from them
