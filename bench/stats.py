"""Statistics of the benchmark: percentiles of one run, medians and spreads over repetitions, paired ratios.

The machine is shared and its speed drifts over minutes, so a figure is the
median over repetitions with its min-max spread (:func:`summary`), and a
comparison is made per repetition against the reference of the same
repetition, then summarised (:func:`paired_ratio`, :func:`paired_difference`).

Two percentiles, kept apart because each has published figures behind it:
:func:`percentile` (the value at the rounded index, used for every latency of
``docs/benchmarks.md``) and :func:`nearest_rank` (used by :mod:`bench.load`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

__all__ = [
    "Spread",
    "Results",
    "percentile",
    "nearest_rank",
    "series",
    "summary",
    "paired_ratio",
    "paired_difference",
]

Spread = tuple[float, float, float]
"""A figure over repetitions: (median, min, max)."""

Results = dict[str, list[dict[str, Any]]]
"""What a run measured: server kind -> one dict per repetition, scenario -> metric -> value."""


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100): the sorted values' entry at ``round(q / 100 * (n - 1))``; NaN for none."""
    if not len(values):
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return float(ordered[index])


def nearest_rank(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by nearest rank, ``ceil(q / 100 * n)``; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


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
