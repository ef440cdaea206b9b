"""The edge of the app: one pure ASGI wrapper (no per-request task or thread), made of the
named concerns that app/main.py builds and hands it:

- `BodyLimit`: a body over its route's limit is refused with 413, an unreadable
  Content-Length with 400;
- HEAD: routed as GET and answered with GET's headers and no body;
- conditional GET (`not_modified`): 304 when If-None-Match holds the response's ETag;
- response headers (`finish_headers`): security headers, Server-Timing, `x-request-id` and
  the staleness warning;
- `Observation`: one JSON log line per request, and EMF metrics when something was counted.

One layer, not one per concern: each layer would wrap `send` again on every invoke. (A REST
stage prefix arrives as ASGI root_path: app/lambda_handler.py.)
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.kit.logs import logger, timestamp, write_line
from app.kit.runtime import Environment, RequestStats, start_request
from app.problems import (
    MEDIA_TYPE,
    MalformedRequest,
    PayloadTooLarge,
    Problem,
    encode,
    instance_of,
    too_large,
)

if TYPE_CHECKING:
    from app.reference import ReferenceCache

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
_BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# A client's X-Request-Id is adopted only as what proxies and tracers generate: 1-128 of
# [A-Za-z0-9._-]. Anything else is replaced, never echoed nor logged.
_CLIENT_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")


def request_id_of(context: Any, client_request_id: bytes | None) -> str:
    """The id of this request in its log lines and its `x-request-id` response header.

    On Lambda: the invoke's `aws_request_id` (Mangum's scope["aws.context"]), the id of its
    START/END/REPORT lines too; a client's header is then ignored. Otherwise: the client's
    X-Request-Id if well-formed, else a new uuid4 as 32 lowercase hex digits."""
    aws_request_id = getattr(context, "aws_request_id", None)
    if isinstance(aws_request_id, str) and aws_request_id:
        return aws_request_id
    if client_request_id is not None and _CLIENT_REQUEST_ID.fullmatch(client_request_id):
        return client_request_id.decode("ascii")
    return uuid4().hex


# The body limit. -------------------------------------------------------------------------


class BodyLimit:
    """Each route's largest request body: refused before the app runs when Content-Length
    says so, and counted as it arrives otherwise."""

    def __init__(self, default: int, per_path: Mapping[str, int] | None = None) -> None:
        self.default = default
        self.per_path = dict(per_path or {})  # path → its own limit

    def of(self, path: str) -> int:
        return self.per_path.get(path, self.default)

    @staticmethod
    def counting(receive: Receive, limit: int) -> Receive:
        """A body without Content-Length is counted as it arrives."""
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI passes an HTTPException from reading the body through as is;
                    # app.problems answers it as PayloadTooLarge.
                    raise HTTPException(413, too_large(limit))
            return message

        return counting_receive

    def check(self, path: str, content_length: bytes | None) -> Problem | None:
        """The refusal of a body whose declared length is unreadable or over the limit."""
        if content_length is None:
            return None
        # RFC 9110: 1*DIGIT. Past 18 significant digits it is no length anyone sends (and
        # Python's int() refuses thousands of digits outright).
        if not content_length.isdigit() or len(content_length.lstrip(b"0")) > 18:
            return MalformedRequest("The Content-Length header is not a length.")
        limit = self.of(path)
        if int(content_length) > limit:
            return PayloadTooLarge(too_large(limit))
        return None


async def refuse(scope: Scope, send: Send, request_id: str, problem: Problem) -> None:
    """Answer `problem` before the app sees the request, and close the connection: the body
    it declared is not going to be read."""
    body = encode(problem, instance_of(scope["path"]))
    headers = [
        (b"content-type", MEDIA_TYPE.encode()),
        (b"content-length", b"%d" % len(body)),
        (b"connection", b"close"),
        *SECURITY_HEADERS,
        (b"x-request-id", request_id.encode()),
    ]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# Conditional GET. ------------------------------------------------------------------------

_NOT_MODIFIED_DROPS = frozenset({b"content-length", b"content-type"})


def etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    # If-None-Match uses the weak comparison (RFC 9110 §13.1.2): W/ prefixes are ignored.
    if if_none_match.strip() == b"*":
        return True
    return any(tag.strip().removeprefix(b"W/") == etag for tag in if_none_match.split(b","))


def not_modified(
    status: int, headers: list[tuple[bytes, bytes]], if_none_match: bytes | None
) -> bool:
    """Whether this response is a 304 for a client that holds its ETag."""
    if if_none_match is None or status != 200:
        return False
    for name, value in headers:
        if name == b"etag":
            return etag_matches(if_none_match, value)
    return False


# Response headers. -----------------------------------------------------------------------

# RFC 9111 retired the Warning header, but 111 "Revalidation Failed" still says exactly this.
_STALE_WARNING = (b"warning", b'111 - "Revalidation Failed"')


def finish_headers(
    headers: list[tuple[bytes, bytes]], stats: RequestStats, started: float
) -> list[tuple[bytes, bytes]]:
    """The headers every response leaves with, added to the app's own."""
    for name, _ in headers:
        if name in _SECURITY_NAMES:  # a route with its own policy (the docs pages) keeps it
            names = {name for name, _ in headers}
            headers += [h for h in SECURITY_HEADERS if h[0] not in names]
            break
    else:
        headers += SECURITY_HEADERS
    headers.append((b"server-timing", b"app;dur=%.3f" % ((time.perf_counter() - started) * 1000)))
    headers.append((b"x-request-id", stats.request_id.encode()))
    if stats.stale_seconds is not None:  # set only when a stale snapshot was served
        headers += [_STALE_WARNING, (b"x-refdata-stale-seconds", b"%d" % stats.stale_seconds)]
    return headers


# Observation. ----------------------------------------------------------------------------

# The Lambda runtime sets this anew for every invoke: read per request, never cached.
_TRACE_VARIABLE = "_X_AMZN_TRACE_ID"


def xray_trace_id() -> str | None:
    """This invoke's X-Ray trace id: the `Root=` field of `_X_AMZN_TRACE_ID`
    (`Root=1-5e1b4151-…;Parent=…;Sampled=0` → `1-5e1b4151-…`), as X-Ray and CloudWatch
    show it; the whole value if it has no Root field; None when the variable is unset."""
    header = os.environ.get(_TRACE_VARIABLE)
    if not header:
        return None
    start = header.find("Root=")
    if start < 0:
        return header
    end = header.find(";", start)
    return header[start + 5 :] if end < 0 else header[start + 5 : end]


Publish = Callable[[bool, Mapping[str, int], Mapping[str, int]], None]


class Observation:
    """What a request leaves behind: its log line, and an EMF line when a counter moved.

    `cache` is the reference cache whose version, age and counters are reported; `publish`
    writes one EMF line (app.kit.metrics.publish)."""

    def __init__(self, cache: ReferenceCache, publish: Publish) -> None:
        self.cache = cache
        self.publish = publish
        # From zero: the first request also publishes what INIT did (its load).
        self._published = dict.fromkeys(cache.counters, 0)

    def record(
        self,
        method: str,
        path: str,
        status: int,
        stats: RequestStats,
        *,
        started: float,
        cold_start: bool,
    ) -> None:
        """The request's line: request and X-Ray trace ids, path, status, duration, cold
        start, SQL statements, cache outcome and age, as one JSON object (app/kit/logs.py
        write_line), built without a LogRecord, datetime or round(): it is written on every
        invoke. Then the EMF line, if a counter moved since the last one."""
        if logger.isEnabledFor(logging.INFO):
            snapshot = self.cache.current
            write_line(
                {
                    "time": timestamp(),
                    "level": "INFO",
                    "logger": "refdata",
                    "message": "request",
                    "request_id": stats.request_id,
                    "xray_trace_id": xray_trace_id(),  # null without _X_AMZN_TRACE_ID
                    "method": method,
                    "path": path,
                    "status": status,
                    # Microseconds, as a float of ms: exact enough, without round()'s cost.
                    "duration_ms": int((time.perf_counter() - started) * 1e6) / 1000,
                    "cold_start": cold_start,
                    "sql_statements": stats.statements,
                    "cache_outcome": stats.cache_outcome,
                    "cache_version": snapshot.version if snapshot else None,
                    "cache_age_s": int(snapshot.age_seconds() * 10) / 10 if snapshot else None,
                    "stale_s": stats.stale_seconds,
                }
            )
        counters = self.cache.counters
        if cold_start or counters != self._published:
            # Counted since the last EMF line (usually: by this request).
            self.publish(cold_start, self._published, counters)
            self._published = dict(counters)


# The edge itself. ------------------------------------------------------------------------


class Edge:
    """The outermost ASGI middleware: the concerns above, around every HTTP request."""

    def __init__(self, app: ASGIApp, *, body_limit: BodyLimit, observation: Observation) -> None:
        self.app = app
        self.body_limit = body_limit
        self.observation = observation

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        Environment.invocations += 1
        cold_start = Environment.is_cold_start()
        started = time.perf_counter()
        status = 500
        method, path = scope["method"], scope["path"]
        if scope.get("root_path"):
            path = path.removeprefix(scope["root_path"])  # logged as routed: /countries
        has_body = method not in _BODYLESS_METHODS
        if_none_match = content_length = client_request_id = None
        # One pass over the request headers, for every concern.
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if_none_match = value
            elif has_body and name == b"content-length":
                content_length = value
            elif name == b"x-request-id":
                client_request_id = value
        stats = start_request(request_id_of(scope.get("aws.context"), client_request_id))
        refusal = self.body_limit.check(path, content_length) if has_body else None
        if has_body:
            receive = self.body_limit.counting(receive, self.body_limit.of(path))
        # HEAD is GET without the body (RFC 9110 §9.3.2), on every GET route: routed as GET,
        # answered with GET's status and headers (Content-Length included) and no body.
        suppress_body = method == "HEAD"
        if suppress_body:
            scope = {**scope, "method": "GET"}

        async def send_wrapped(message: Message) -> None:
            nonlocal status, suppress_body
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers")
                headers = headers if isinstance(headers, list) else list(headers or ())
                if not_modified(status, headers, if_none_match):
                    status = 304
                    suppress_body = True
                    headers = [h for h in headers if h[0] not in _NOT_MODIFIED_DROPS]
                message["status"] = status
                message["headers"] = finish_headers(headers, stats, started)
            elif suppress_body and message["type"] == "http.response.body":
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        try:
            if refusal is not None:
                status = refusal.status
                await refuse(scope, send, stats.request_id, refusal)
            else:
                await self.app(scope, receive, send_wrapped)
        finally:
            self.observation.record(
                method, path, status, stats, started=started, cold_start=cold_start
            )
