"""The edge of the app: one pure ASGI middleware (no per-request task or thread).

On every HTTP request it sets the stage prefix (ASGI root_path) from the Lambda event,
refuses oversized bodies (413), answers conditional GETs (304), adds Server-Timing,
security headers and a staleness warning, and writes one JSON log line (and an EMF metrics
line when something happened). One layer instead of five: each layer costs every invoke.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logs import dumps, emit
from app.metrics import publish
from app.reference import Outcome, cache
from app.runtime import Environment, RequestStats, start_request

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
_SECURITY_NAMES = frozenset(name for name, _ in SECURITY_HEADERS)
_NOT_MODIFIED_DROPS = frozenset({b"content-length", b"content-type"})
_BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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


def etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    # If-None-Match uses the weak comparison (RFC 9110 §13.1.2): W/ prefixes are ignored.
    if if_none_match.strip() == b"*":
        return True
    return any(tag.strip().removeprefix(b"W/") == etag for tag in if_none_match.split(b","))


def response_start(
    message: Message, if_none_match: bytes | None, stats: RequestStats, started: float
) -> Message:
    """The response head as it leaves: 304 if the client holds this ETag, plus headers."""
    status = message["status"]
    headers = message.get("headers")
    headers = headers if isinstance(headers, list) else list(headers or ())
    if if_none_match is not None and status == 200:
        etag = next((value for name, value in headers if name == b"etag"), None)
        if etag is not None and etag_matches(if_none_match, etag):
            status = 304
            headers = [h for h in headers if h[0] not in _NOT_MODIFIED_DROPS]
    # A route with its own policy (the docs pages) keeps it.
    own = [name for name, _ in headers if name in _SECURITY_NAMES]
    headers += [h for h in SECURITY_HEADERS if h[0] not in own] if own else SECURITY_HEADERS
    duration = (time.perf_counter() - started) * 1000
    headers.append((b"server-timing", b"app;dur=%.3f" % duration))
    if stats.cache_outcome == Outcome.STALE and stats.stale_seconds is not None:
        headers += [_STALE_WARNING, (b"x-refdata-stale-seconds", b"%d" % stats.stale_seconds)]
    message["status"], message["headers"] = status, headers
    return message


def log_request(
    method: str, path: str, *, status: int, started: float, cold_start: bool, stats: RequestStats
) -> None:
    snapshot = cache.current
    emit(
        "request",
        {
            "method": method,
            "path": path,
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


class Edge:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # From zero: the first request also publishes what INIT did (its load).
        self._published = dict.fromkeys(cache.counters, 0)
        self._published_events = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        Environment.invocations += 1
        cold_start = Environment.is_cold_start()
        stats = start_request()
        started = time.perf_counter()
        status = 500
        path = scope["path"]
        if_none_match = None
        too_large = False
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if_none_match = value
            elif name == b"content-length" and scope["method"] not in _BODYLESS_METHODS:
                too_large = not value.isdigit() or int(value) > self.max_body_bytes
        event = scope.get("aws.event")
        if event is not None:
            prefix = external_prefix(event, path)
            if prefix:
                # ASGI: path includes root_path; Starlette strips it again when routing.
                scope = {**scope, "root_path": prefix, "path": prefix + path}
        if scope["method"] not in _BODYLESS_METHODS:
            receive = self._limited(receive)
        not_modified = False

        async def send_wrapped(message: Message) -> None:
            nonlocal status, not_modified
            if message["type"] == "http.response.start":
                message = response_start(message, if_none_match, stats, started)
                status = message["status"]
                not_modified = status == 304
            elif not_modified and message["type"] == "http.response.body":
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        try:
            if too_large:
                status = 413
                await self._refuse(scope, send)
            else:
                await self.app(scope, receive, send_wrapped)
        finally:
            log_request(
                scope["method"],
                path,
                status=status,
                started=started,
                cold_start=cold_start,
                stats=stats,
            )
            if cold_start or cache.events != self._published_events:
                # Counted since the last EMF line (usually: by this request).
                publish(cold_start, self._published, cache.counters)
                self._published = dict(cache.counters)
                self._published_events = cache.events

    def _limited(self, receive: Receive) -> Receive:
        """A body without Content-Length is counted as it arrives."""
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # FastAPI passes an HTTPException from reading the body through as is.
                    raise HTTPException(413, self._too_large)
            return message

        return counting_receive

    @property
    def _too_large(self) -> str:
        return f"Request bodies are limited to {self.max_body_bytes} bytes."

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body = dumps(
            {
                "type": "urn:refdata:problem:payload-too-large",
                "title": "Payload too large",
                "status": 413,
                "detail": self._too_large,
                "instance": quote(scope["path"], safe="/", errors="surrogatepass"),
            }
        )
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", b"%d" % len(body)),
            (b"connection", b"close"),
            *SECURITY_HEADERS,
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
