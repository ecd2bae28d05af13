"""Statistics of the benchmark: medians and spreads over repetitions, paired ratios.

The machine is shared and its speed drifts over minutes, so a figure is the
median over repetitions with its min-max spread (:func:`summary`), and a
comparison is made per repetition against the reference of the same
repetition, then summarised (:func:`paired_ratio`, :func:`paired_difference`).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

__all__ = [
    "Spread",
    "Results",
    "series",
    "summary",
    "paired_ratio",
    "paired_difference",
]

Spread = tuple[float, float, float]
"""A figure over repetitions: (median, min, max)."""

Results = dict[str, list[dict[str, Any]]]
"""What a run measured: server kind -> one dict per repetition, scenario -> metric -> value."""






def series(results: Results, kind: str, scenario: str, metric: str) -> list[float | None]:
    """``metric`` of ``scenario`` for ``kind``, one entry a repetition (None where it is missing or failed)."""
    out: list[float | None] = []
    for rep in results.get(kind, []):
        v = rep.get(scenario, {}).get(metric)
        out.append(float(v) if isinstance(v, int | float) else None)
    return out


def summary(values: Sequence[float | None]) -> Spread | None:
    """Median, min and max of the values present; None if there are none."""
    got = [v for v in values if v is not None]
    if not got:
        return None
    return statistics.median(got), min(got), max(got)


def paired_ratio(a: Sequence[float | None], b: Sequence[float | None]) -> Spread | None:
    """:func:`summary` of ``a[i] / b[i]`` over the repetitions where both are present (and ``b[i]`` is not 0)."""
    ratios = [x / y for x, y in zip(a, b, strict=False) if x is not None and y is not None and y != 0]
    return summary(ratios)


def paired_difference(a: Sequence[float | None], b: Sequence[float | None]) -> Spread | None:
    """:func:`summary` of ``a[i] - b[i]`` over the repetitions where both are present."""
    return summary([x - y for x, y in zip(a, b, strict=False) if x is not None and y is not None])
