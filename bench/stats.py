"""Order statistics of timings in nanoseconds, reported in microseconds."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (q in 0..100)."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


def summarize(timings_ns: Sequence[int]) -> dict[str, float]:
    ordered = sorted(t / 1000 for t in timings_ns)
    return {
        "n": len(ordered),
        "median_us": statistics.median(ordered),
        "p90_us": percentile(ordered, 90),
        "p99_us": percentile(ordered, 99),
        "mean_us": statistics.fmean(ordered),
        "min_us": ordered[0],
        "max_us": ordered[-1],
    }
