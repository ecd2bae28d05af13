"""Links for the browser when this process runs under a Jupyter server with jupyter-server-proxy.

On JupyterHub and Binder the browser cannot reach ``127.0.0.1:PORT`` inside
the user's server; jupyter-server-proxy (4.1.1 or newer: earlier versions let
proxied WebSockets skip authentication, CVE-2024-28179) forwards
``{base_url}proxy/PORT/...`` to ``localhost:PORT/...``, behind the Jupyter
server's own login. :func:`proxied_url` gives the link a browser should open:
through the proxy when this process runs under such a server, the direct
link otherwise. The chat page finds its WebSocket relative to its own
address, so once the page is proxied, so is its ``/chat`` connection.

How the Jupyter server is found, standard library only, nothing sent:

1. ``WSLAB_JUPYTER_PROXY=off`` turns it all off; ``=on`` skips the check
   that jupyter-server-proxy is installed (for a kernel whose environment is
   not the server's).
2. The server's runtime files (``jpserver-PID.json``, in the folder of this
   kernel's connection file, ``$JUPYTER_RUNTIME_DIR``, or Jupyter's default
   runtime folder) name each running server's ``pid``, ``url`` and
   ``base_url``; the one whose ``pid`` is this process's parent (a kernel) or
   an ancestor (a shell in a JupyterLab terminal) is ours.
3. Failing that, ``JUPYTERHUB_SERVICE_PREFIX`` (set by JupyterHub for a
   user's server and inherited by its kernels) is the base URL.

On JupyterHub the server's own ``url`` is an internal address, so the link
is the public origin from ``JUPYTERHUB_PUBLIC_URL`` when the hub sets it,
else a path (``/user/ada/proxy/8765/``) that works as a link in JupyterLab
and after the hub's address in the browser's address bar.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["JupyterServer", "find_jupyter_server", "proxied_url", "proxy_available", "ANCESTORS"]

ANCESTORS = 6
"""How many generations of parent processes are looked at for the Jupyter server."""


@dataclass(frozen=True)
class JupyterServer:
    """The Jupyter server this process runs under: its ``base_url`` (ends with ``/``) and its origin, if known."""

    base_url: str
    origin: str | None
    """``scheme://host:port`` a browser uses for it, or None (then links are paths)."""
    pid: int | None = None

    def proxy_url(self, port: int, rest: str = "") -> str:
        """``{origin}{base_url}proxy/{port}/{rest}``: ``rest`` is what follows the proxied root (``?room=...``)."""
        return f"{self.origin or ''}{self.base_url}proxy/{port}/{rest.lstrip('/')}"


def _runtime_dirs() -> list[Path]:
    dirs: list[Path] = []
    argv = sys.argv
    for i, arg in enumerate(argv):  # ipykernel is started with -f /path/to/kernel-ID.json
        if arg in ("-f", "--f") and i + 1 < len(argv):
            dirs.append(Path(argv[i + 1]).parent)
        elif arg.startswith("--f="):
            dirs.append(Path(arg[len("--f=") :]).parent)
    if os.environ.get("JUPYTER_RUNTIME_DIR"):
        dirs.append(Path(os.environ["JUPYTER_RUNTIME_DIR"]))
    if os.environ.get("JUPYTER_DATA_DIR"):
        dirs.append(Path(os.environ["JUPYTER_DATA_DIR"]) / "runtime")
    home = Path.home()
    if sys.platform == "darwin":
        dirs.append(home / "Library" / "Jupyter" / "runtime")
    elif os.name == "nt":
        dirs.append(Path(os.environ.get("APPDATA", home)) / "jupyter" / "runtime")
    else:
        dirs.append(Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share") / "jupyter" / "runtime")
    unique: list[Path] = []
    for folder in dirs:
        if folder not in unique:
            unique.append(folder)
    return unique


def _ancestors(limit: int = ANCESTORS) -> list[int]:
    """This process's parent, grandparent, ... (Linux reads /proc; elsewhere only the parent)."""
    pids = [os.getppid()]
    while len(pids) < limit:
        try:
            stat = Path(f"/proc/{pids[-1]}/stat").read_text()
            parent = int(stat.rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            break
        if parent <= 1 or parent in pids:
            break
        pids.append(parent)
    return pids


def _hub_origin() -> str | None:
    public = os.environ.get("JUPYTERHUB_PUBLIC_URL", "")
    parts = urlsplit(public)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


def find_jupyter_server() -> JupyterServer | None:
    """The Jupyter server this process runs under, or None (see the module's docstring for how)."""
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "")
    on_hub = prefix.startswith("/")
    ancestors = _ancestors()
    for folder in _runtime_dirs():
        try:
            files = sorted(folder.glob("jpserver-*.json"))
        except OSError:
            continue
        for file in files:
            try:
                info = json.loads(file.read_text())
                pid, base_url, url = int(info["pid"]), str(info.get("base_url") or "/"), str(info.get("url", ""))
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if pid not in ancestors:
                continue
            base_url = base_url if base_url.endswith("/") else base_url + "/"
            parts = urlsplit(url)
            origin = _hub_origin() if on_hub else (f"{parts.scheme}://{parts.netloc}" if parts.netloc else None)
            return JupyterServer(base_url, origin, pid)
    if on_hub:
        return JupyterServer(prefix if prefix.endswith("/") else prefix + "/", _hub_origin())
    return None


def proxy_available() -> bool:
    """True if jupyter-server-proxy is importable here (``WSLAB_JUPYTER_PROXY=on`` says yes without looking)."""
    setting = os.environ.get("WSLAB_JUPYTER_PROXY", "").strip().lower()
    if setting in ("on", "1", "yes"):
        return True
    if setting in ("off", "0", "no"):
        return False
    return importlib.util.find_spec("jupyter_server_proxy") is not None


def proxied_url(port: int, rest: str = "", *, direct: str) -> str:
    """The link a browser should open for ``localhost:port/`` + ``rest``.

    Through jupyter-server-proxy when this process runs under a Jupyter server
    that has it; otherwise ``direct``, unchanged.
    """
    if not proxy_available():
        return direct
    server = find_jupyter_server()
    return direct if server is None else server.proxy_url(port, rest)
