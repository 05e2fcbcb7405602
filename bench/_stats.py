"""Summary statistics shared by the benchmarks: one definition of a latency percentile."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], p: float) -> float:
    """Nearest-rank ``p``-th percentile (0 < p <= 100) of ``values``; 0.0 for none.

    The smallest value with at least ``p`` percent of the values at or below it: always an
    observed value (p50 of 1, 2, 3, 4 is 2; p99 of 100 values is the second largest).
    """
    ordered = sorted(float(v) for v in values)
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(len(ordered) * p / 100))
    return ordered[min(rank, len(ordered)) - 1]
