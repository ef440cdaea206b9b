"""Order statistics: one percentile for the benchmark and the reliability runs."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (`q` in 0..100) of `values`, in any order; NaN for none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


def summarize(timings_ns: Sequence[int]) -> dict[str, float]:
    """Timings in nanoseconds, summarised in microseconds."""
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


def latencies(seconds: Sequence[float]) -> dict[str, float | None]:
    """p50, p99 and max in milliseconds; None for each when nothing was timed (JSON has no
    NaN)."""
    if not seconds:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "p50_ms": round(percentile(seconds, 50) * 1000, 2),
        "p99_ms": round(percentile(seconds, 99) * 1000, 2),
        "max_ms": round(max(seconds) * 1000, 2),
    }
