"""Facts about this execution environment: how many requests it has served, and how it started."""

from __future__ import annotations

import os

from starlette.types import ASGIApp, Receive, Scope, Send

# Provisioned concurrency and SnapStart environments are initialised ahead of traffic:
# their first request is not a cold start for the caller.
_ON_DEMAND = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand") == "on-demand"


class Environment:
    invocations = 0

    @classmethod
    def is_cold_start(cls) -> bool:
        """True while serving the first request of an on-demand environment."""
        return _ON_DEMAND and cls.invocations == 1


class CountInvocations:
    """Pure ASGI middleware (no per-request task or thread) that counts HTTP requests."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            Environment.invocations += 1
        await self.app(scope, receive, send)
