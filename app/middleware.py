"""Pure ASGI middleware (no per-request task or thread): request log and stage prefixes."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logs import logger
from app.reference import cache
from app.runtime import Environment, start_counting


class RequestLog:
    """One JSON log line per request, and a Server-Timing header on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        Environment.invocations += 1
        statements = start_counting()
        started = time.perf_counter()
        status = 500

        async def send_with_timing(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                duration = (time.perf_counter() - started) * 1000
                timing = (b"server-timing", b"app;dur=%.3f" % duration)
                message["headers"] = [*message.get("headers", ()), timing]
            await send(message)

        try:
            await self.app(scope, receive, send_with_timing)
        finally:
            snapshot = cache.current
            logger.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    "cold_start": Environment.is_cold_start(),
                    "sql_statements": statements[0],
                    "cache_version": snapshot.version if snapshot else None,
                    "cache_age_s": round(snapshot.age_seconds(), 1) if snapshot else None,
                },
            )


def external_prefix(event: dict[str, Any], path: str) -> str:
    """The part of the client's URL in front of the route: a REST stage or a base path.

    API Gateway reports the client's full path in requestContext (`/prod/countries` for a
    REST stage, `/v1/countries` behind a custom-domain base path); Mangum routes on the
    path without it. The difference is the prefix links must carry.
    """
    context = event.get("requestContext") or {}
    full = context.get("path") or (context.get("http") or {}).get("path")
    if not isinstance(full, str) or full == path:
        return ""
    if path == "/" and full.endswith("/"):
        return full.rstrip("/")
    if full.endswith(path):
        return full[: len(full) - len(path)].rstrip("/")
    return ""


class StagePrefix:
    """Sets ASGI root_path from the Lambda event, so /docs and links resolve behind a stage."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        event = scope.get("aws.event")
        if scope["type"] == "http" and event is not None:
            prefix = external_prefix(event, scope["path"])
            if prefix:
                # ASGI: path includes root_path; Starlette strips it again when routing.
                scope = {**scope, "root_path": prefix, "path": prefix + scope["path"]}
        await self.app(scope, receive, send)
