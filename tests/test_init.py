"""``import wslab``: its version, its names (imported on first use, each the same object as at home), old paths on."""

from __future__ import annotations

import importlib
import sys
import tomllib

import pytest

import wslab
from support import ROOT
from wslab import _moved


def test_the_version_is_the_packages() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert wslab.__version__ == project["version"]
    assert "__version__" in wslab.__all__


# ``wslab.check``, ``wslab.typing_text`` and ``wslab.aio`` are old module paths too: importing one
# (tests/test_moved.py does) rebinds the package's attribute to its alias module, by design.
SHADOWED = {name for name in wslab._EXPORTS if f"wslab.{name}" in _moved.MOVED}


@pytest.mark.parametrize("name", sorted(set(wslab._EXPORTS) - SHADOWED))
def test_each_name_is_the_object_its_home_module_defines(name: str) -> None:
    where = wslab._EXPORTS[name]
    home = importlib.import_module(where.removesuffix(":"))
    assert getattr(wslab, name) is (home if where.endswith(":") else getattr(home, name))
    assert name in vars(wslab)  # cached: the next lookup is a plain attribute


def test_a_name_it_does_not_have_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="no attribute 'no_such_thing'"):
        wslab.no_such_thing  # noqa: B018


def test_importing_it_puts_the_finder_of_old_paths_on_the_import_path_once() -> None:
    finders = [f for f in sys.meta_path if f is _moved._FINDER]
    assert len(finders) == 1
    _moved.install()  # again, as a second import would: still once
    assert [f for f in sys.meta_path if f is _moved._FINDER] == finders
