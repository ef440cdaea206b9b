"""The edge of the app: one pure ASGI middleware (no per-request task or thread).

On every HTTP request it refuses oversized bodies (413), answers conditional GETs (304),
adds Server-Timing, security headers and a staleness warning, and writes one JSON log line
(and an EMF metrics line when something happened). One layer instead of five: each layer
costs every invoke. (A REST stage prefix arrives as ASGI root_path: app/lambda_handler.py.)
"""

from __future__ import annotations

import logging
import time
from urllib.parse import quote

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logs import dumps, logger, timestamp, write_line
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
    etag = own = None
    for name, value in headers:
        if name == b"etag":
            etag = value
        elif name in _SECURITY_NAMES:
            own = True  # a route with its own policy (the docs pages) keeps it
    if (
        etag is not None
        and if_none_match is not None
        and status == 200
        and etag_matches(if_none_match, etag)
    ):
        status = 304
        headers = [h for h in headers if h[0] not in _NOT_MODIFIED_DROPS]
    if own:
        names = {name for name, _ in headers}
        headers += [h for h in SECURITY_HEADERS if h[0] not in names]
    else:
        headers += SECURITY_HEADERS
    headers.append((b"server-timing", b"app;dur=%.3f" % ((time.perf_counter() - started) * 1000)))
    if stats.stale_seconds is not None and stats.cache_outcome == Outcome.STALE:
        headers += [_STALE_WARNING, (b"x-refdata-stale-seconds", b"%d" % stats.stale_seconds)]
    message["status"], message["headers"] = status, headers
    return message


def log_request(
    method: str, path: str, status: int, stats: RequestStats, *, started: float, cold_start: bool
) -> None:
    """The request's line: path, status, duration, cold start, SQL statements, cache outcome
    and age, as one JSON object (app/logs.py write_line). It is written on every invoke, so
    it is built without a LogRecord, datetime or round()."""
    if not logger.isEnabledFor(logging.INFO):
        return
    snapshot = cache.current
    write_line(
        {
            "time": timestamp(),
            "level": "INFO",
            "logger": "refdata",
            "message": "request",
            "method": method,
            "path": path,
            "status": status,
            # µs, as a float of ms: exact to the µs, without round()'s cost.
            "duration_ms": int((time.perf_counter() - started) * 1e6) / 1000,
            "cold_start": cold_start,
            "sql_statements": stats.statements,
            "cache_outcome": stats.cache_outcome,
            "cache_version": snapshot.version if snapshot else None,
            "cache_age_s": int(snapshot.age_seconds() * 10) / 10 if snapshot else None,
            "stale_s": stats.stale_seconds,
        }
    )


class Edge:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # From zero: the first request also publishes what INIT did (its load).
        self._published = dict.fromkeys(cache.counters, 0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        Environment.invocations += 1
        cold_start = Environment.is_cold_start()
        stats = start_request()
        started = time.perf_counter()
        status = 500
        method, path = scope["method"], scope["path"]
        if scope.get("root_path"):
            path = path.removeprefix(scope["root_path"])  # logged as routed: /countries
        has_body = method not in _BODYLESS_METHODS
        if_none_match = None
        too_large = False
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if_none_match = value
            elif has_body and name == b"content-length":
                too_large = not value.isdigit() or int(value) > self.max_body_bytes
        if has_body:
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
            log_request(method, path, status, stats, started=started, cold_start=cold_start)
            if cold_start or cache.counters != self._published:
                # Counted since the last EMF line (usually: by this request).
                publish(cold_start, self._published, cache.counters)
                self._published = dict(cache.counters)

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
