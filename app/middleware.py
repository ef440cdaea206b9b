"""Pure ASGI middleware (no per-request task or thread): request log and stage prefixes."""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logs import logger
from app.metrics import publish
from app.reference import Outcome, cache
from app.runtime import Environment, start_request

# RFC 9111 retired the Warning header, but 111 "Revalidation Failed" still says exactly this.
_STALE_WARNING = (b"warning", b'111 - "Revalidation Failed"')

# On every response. The CSP allows only this origin's scripts and styles (inline styles:
# Swagger UI sets them), so /docs and /redoc still load; JSON needs none of it.
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; "
        b"base-uri 'none'; frame-ancestors 'none'",
    ),
]


class RequestLog:
    """One JSON log line per request (and an EMF metrics line when something happened);
    Server-Timing on every response, and a staleness warning on stale reference data."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        Environment.invocations += 1
        cold_start = Environment.is_cold_start()
        stats = start_request()
        counters = dict(cache.counters)
        started = time.perf_counter()
        status = 500

        async def send_with_timing(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                duration = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", ()))
                present = {name for name, _ in headers}
                # A route with its own policy (the docs pages) keeps it.
                headers += [h for h in SECURITY_HEADERS if h[0] not in present]
                headers.append((b"server-timing", b"app;dur=%.3f" % duration))
                if stats.cache_outcome == Outcome.STALE and stats.stale_seconds is not None:
                    stale = b"%d" % stats.stale_seconds
                    headers += [_STALE_WARNING, (b"x-refdata-stale-seconds", stale)]
                message["headers"] = headers
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
                    "cold_start": cold_start,
                    "sql_statements": stats.statements,
                    "cache_outcome": stats.cache_outcome,
                    "cache_version": snapshot.version if snapshot else None,
                    "cache_age_s": round(snapshot.age_seconds(), 1) if snapshot else None,
                    "stale_s": stats.stale_seconds,
                },
            )
            publish(cold_start, counters, cache.counters)


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


class BodyLimit:
    """413 for a request body over the limit: by Content-Length before reading, or as the
    chunks of a body without one arrive. GET requests pass straight through."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.max_bytes):
                await self._refuse(scope, send)
                return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI passes an HTTPException from reading the body through as is.
                    raise HTTPException(
                        413, f"Request bodies are limited to {self.max_bytes} bytes."
                    )
            return message

        await self.app(scope, counting_receive, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body = orjson.dumps(
            {
                "type": "urn:refdata:problem:payload-too-large",
                "title": "Payload too large",
                "status": 413,
                "detail": f"Request bodies are limited to {self.max_bytes} bytes.",
                "instance": scope["path"],
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", b"%d" % len(body)),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
