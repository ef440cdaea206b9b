"""Headers every response leaves with: the security headers, Server-Timing, the request id
(adopted from a well-formed client X-Request-Id, or Lambda's), and the staleness warning."""

from __future__ import annotations

import re
import time
from typing import Any
from uuid import uuid4

from app.kit.runtime import RequestStats

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
