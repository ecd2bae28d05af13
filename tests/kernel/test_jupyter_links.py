"""Links for the browser under a Jupyter server with jupyter-server-proxy, and unchanged outside one.

No Jupyter server runs here: the runtime files and the environment that a
kernel (or a JupyterLab terminal) would see are made in a temporary folder.
``tests/browser/test_proxy.py`` runs the real thing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from wslab.classroom.banner import join_urls
from wslab.kernel import jupyter_links as jupyter
from wslab.kernel.course_server import ServerHandle

DIRECT = "http://127.0.0.1:8765/?room=lobby"


@pytest.fixture(autouse=True)
def no_jupyter(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A process under no Jupyter server: no hub variables, empty runtime folders."""
    for name in ("JUPYTERHUB_SERVICE_PREFIX", "JUPYTERHUB_PUBLIC_URL", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR",
                 "XDG_DATA_HOME", "WSLAB_JUPYTER_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    return runtime


def _server_file(runtime: Path, pid: int, base_url: str = "/", port: int = 8888) -> None:
    info = {"pid": pid, "url": f"http://127.0.0.1:{port}{base_url}", "base_url": base_url, "token": "jupyter-secret"}
    (runtime / f"jpserver-{pid}.json").write_text(json.dumps(info))


def test_outside_jupyter_links_stay_as_they_are(no_jupyter: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSLAB_JUPYTER_PROXY", "on")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(no_jupyter))
    _server_file(no_jupyter, pid=os.getpid() + 100_000)  # a Jupyter server, but not ours
    assert jupyter.find_jupyter_server() is None
    assert jupyter.proxied_url(8765, "?room=lobby", direct=DIRECT) == DIRECT
    page = join_urls("127.0.0.1", 8765, None, "lobby")
    assert page == [("on this machine", DIRECT, "ws://127.0.0.1:8765/chat")]


def test_a_kernel_of_a_jupyter_server_links_through_its_proxy(
    no_jupyter: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WSLAB_JUPYTER_PROXY", "on")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(no_jupyter))
    _server_file(no_jupyter, pid=os.getppid(), base_url="/lab-base/")  # the parent of this process: as for a kernel
    found = jupyter.find_jupyter_server()
    assert found == jupyter.JupyterServer("/lab-base/", "http://127.0.0.1:8888", os.getppid())
    proxied = "http://127.0.0.1:8888/lab-base/proxy/8765/?room=lobby"
    assert jupyter.proxied_url(8765, "?room=lobby", direct=DIRECT) == proxied
    # The browser link on this machine goes through the proxy; notebooks and other machines connect directly.
    assert join_urls("127.0.0.1", 8765, "t", "lobby") == [
        ("on this machine", "http://127.0.0.1:8888/lab-base/proxy/8765/?token=t&room=lobby",
         "ws://127.0.0.1:8765/chat?token=t"),
    ]
    assert join_urls("192.0.2.7", 8765, "t", "lobby")[0][1] == "http://192.0.2.7:8765/?token=t&room=lobby"
    # The Jupyter server's own token never appears in a link.
    assert "jupyter-secret" not in proxied


def test_the_connection_files_folder_is_searched_first(no_jupyter: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSLAB_JUPYTER_PROXY", "on")
    _server_file(no_jupyter, pid=os.getppid())
    monkeypatch.setattr("sys.argv", ["ipykernel_launcher.py", "-f", str(no_jupyter / "kernel-1234.json")])
    assert jupyter.find_jupyter_server() == jupyter.JupyterServer("/", "http://127.0.0.1:8888", os.getppid())


def test_on_jupyterhub_the_service_prefix_gives_the_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSLAB_JUPYTER_PROXY", "on")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    assert jupyter.proxied_url(8765, "?room=lobby", direct=DIRECT) == "/user/ada/proxy/8765/?room=lobby"
    monkeypatch.setenv("JUPYTERHUB_PUBLIC_URL", "https://hub.example.org/")
    assert jupyter.proxied_url(8765, "", direct=DIRECT) == "https://hub.example.org/user/ada/proxy/8765/"


def test_the_proxy_can_be_turned_off_and_must_be_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    monkeypatch.setenv("WSLAB_JUPYTER_PROXY", "off")
    assert jupyter.proxied_url(8765, "", direct=DIRECT) == DIRECT
    monkeypatch.delenv("WSLAB_JUPYTER_PROXY")
    monkeypatch.setattr(jupyter.importlib.util, "find_spec", lambda name: None)  # not installed
    assert not jupyter.proxy_available()
    assert jupyter.proxied_url(8765, "", direct=DIRECT) == DIRECT


def test_a_server_handle_gives_the_browser_its_proxied_page(
    server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert server.browser_url == server.http_url
    monkeypatch.setenv("WSLAB_JUPYTER_PROXY", "on")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    assert server.browser_url == f"/user/ada/proxy/{server.port}/"
    assert server.http_url.startswith("http://127.0.0.1:")  # the kernel's own link is unchanged
