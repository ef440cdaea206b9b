"""Facts about this execution environment: requests served, cold start, SQL per request."""

from __future__ import annotations

import os
from contextvars import ContextVar
from typing import Any

# Provisioned concurrency and SnapStart environments are initialised ahead of traffic:
# their first request is not a cold start for the caller.
_ON_DEMAND = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand") == "on-demand"

# One mutable counter per request. Worker threads of sync routes run in a copy of the
# request's context, so they see (and increment) the same list.
_statements: ContextVar[list[int] | None] = ContextVar("statements", default=None)


class Environment:
    invocations = 0

    @classmethod
    def is_cold_start(cls) -> bool:
        """True while serving the first request of an on-demand environment."""
        return _ON_DEMAND and cls.invocations == 1


def count_statement(*_: Any) -> None:
    """SQLAlchemy before_cursor_execute listener: one more statement for this request."""
    counter = _statements.get()
    if counter is not None:
        counter[0] += 1


def start_counting() -> list[int]:
    counter = [0]
    _statements.set(counter)
    return counter
