"""axe-core in a Playwright page: WCAG 2.0/2.1 A and AA violations, as short readable lines.

axe-core comes from npm, pinned in ``tests/e2e/axe/package-lock.json``; ``.ci/run``
installs it with ``npm ci --prefix tests/e2e/axe``. Without it the accessibility
tests are skipped saying so, unless ``CI`` is set: then they fail.

:func:`violations` injects axe through the DevTools protocol (``page.evaluate``),
which a page's Content-Security-Policy does not block, so the chat page is
checked under its real CSP.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from support import ROOT

AXE_JS = ROOT / "tests" / "e2e" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
"""axe-core's browser build, where ``npm ci --prefix tests/e2e/axe`` puts it."""

WCAG_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
"""The axe tags checked: every WCAG 2.0 and 2.1 success criterion at level A and AA."""

_RUN = """async ([include, tags]) => {
  const result = await axe.run(include ? {include: include} : document,
                               {runOnly: {type: "tag", values: tags}, resultTypes: ["violations", "incomplete"]});
  const lines = (found) => found.flatMap((v) => v.nodes.map((n) =>
      `${v.id}: ${n.target.join(" ")}: ${[...n.any, ...n.all, ...n.none].map((c) => c.message).join("; ")}`));
  return [lines(result.violations), lines(result.incomplete)];
}"""


def axe_source() -> str:
    """axe-core's source, or skip (fail in CI) saying how to install it."""
    if not AXE_JS.is_file():
        reason = f"axe-core is not installed at {AXE_JS.relative_to(ROOT)} (npm ci --prefix tests/e2e/axe)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return Path(AXE_JS).read_text(encoding="utf-8")


def violations(page: Any, *include: str) -> list[str]:
    """axe's WCAG 2.0/2.1 A and AA violations in ``page`` (only in the ``include`` selectors, if given).

    One line per element: ``rule: selector: why``. An empty list is the bar.
    """
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source())
    # JupyterLab's outermost .jp-ThemedContainer is 0 px high with overflow: hidden (its children are
    # positioned absolutely), so axe would take every notebook output for clipped and skip its colours.
    page.evaluate(
        "() => document.querySelectorAll('.jp-ThemedContainer').forEach((e) => {"
        " if (e.getBoundingClientRect().height === 0) e.style.overflow = 'visible'; })"
    )
    found: list[str]
    found, _undecided = page.evaluate(_RUN, [list(include) or None, list(WCAG_AA)])
    # What axe cannot decide is left out: in the lessons' widgets that is the text inside the reconnect
    # timeline's SVG (an image named by its summary; its colours are dark on its own white ground).
    return found
