"""Fixtures for tests that drive headless Chromium (Debian's ``chromium``) with Playwright.

Generic on purpose: any browser test can use ``browser`` (one Chromium per
module) and ``artifacts`` (where screenshots go, ``test-artifacts/``, which git
ignores). Without Playwright or Chromium the tests are skipped with the reason,
unless the environment variable ``CI`` is set: then they fail, so CI cannot
pass by skipping them. No browser is ever downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("WSLAB_CHROMIUM", "/usr/bin/chromium")
"""The browser binary (Debian's package ``chromium``); override with WSLAB_CHROMIUM."""

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (pip install playwright)"
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set WSLAB_CHROMIUM)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (a Playwright ``Browser``), shared by the tests of one module."""
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def artifacts() -> Path:
    """The folder for screenshots and other evidence a test leaves behind."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
