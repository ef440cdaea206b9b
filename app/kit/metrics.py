"""CloudWatch metrics as Embedded Metric Format log lines, through Powertools for AWS Lambda.

Powertools `print`s each EMF object to stdout, which Lambda sends to CloudWatch Logs, where
EMF lines become metrics. Anywhere else (uvicorn, a developer's console) they are noise, so
they are written only where `REFDATA_EMF_METRICS` says: unset, on when running on Lambda
(`AWS_LAMBDA_FUNCTION_NAME` is set), off elsewhere. Off, Powertools is not imported at all.
(Powertools' own POWERTOOLS_METRICS_DISABLED is no substitute: in 3.37 a disabled flush keeps
the values, and add_metric prints them anyway once one metric holds 100.)

Importing Powertools' Metrics adds to INIT, so it happens only where EMF is on; what it
costs is in docs/benchmarks.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

# Cache counter (ReferenceCache.counters key) → metric name.
CACHE_METRICS = {
    "loads": "CacheLoads",
    "revalidations": "CacheRevalidations",
    "reloads": "CacheReloads",
    "failures": "CacheRefreshFailures",
    "stale": "CacheStaleServes",
}


def emf_enabled(setting: bool | None, environ: Mapping[str, str] = os.environ) -> bool:
    """The setting if given; else on in a Lambda execution environment only."""
    if setting is not None:
        return setting
    return bool(environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def metrics_for(setting: bool | None) -> Metrics | None:
    """Powertools' EMF metrics where they are on (`emf_enabled`), else None."""
    if not emf_enabled(setting):
        return None
    from aws_lambda_powertools import Metrics  # noqa: PLC0415 -- imported only when on

    return Metrics(namespace="refdata", service="api")


def publish(
    metrics: Metrics | None, cold_start: bool, before: Mapping[str, int], after: Mapping[str, int]
) -> None:
    """One EMF line for this request, only if something worth counting happened (none
    where `metrics` is None: EMF off)."""
    if metrics is None:
        return
    recorded = False
    if cold_start:
        metrics.add_metric(name="ColdStarts", unit="Count", value=1)
        recorded = True
    for key, name in CACHE_METRICS.items():
        delta = after[key] - before[key]
        if delta:
            metrics.add_metric(name=name, unit="Count", value=delta)
            recorded = True
    if recorded:
        metrics.flush_metrics()
