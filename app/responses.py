"""Responses from pre-encoded bytes. Conditional requests (If-None-Match → 304) are
answered by app.middleware.Edge from the ETag these carry."""

from __future__ import annotations

from fastapi import Response

from app.config import settings

_SAME_FOR_ALL = (
    (b"cache-control", f"public, max-age={settings.http_max_age_seconds}".encode()),
    (b"content-type", b"application/json"),
)


class CachedJSON(Response):
    """200 with bytes encoded at INIT. The headers are built here directly: Starlette's
    generic header handling is measurable on a response this cheap."""

    media_type = "application/json"

    def __init__(self, body: bytes, etag: str) -> None:
        self.status_code = 200
        self.background = None
        self.body = body
        self.raw_headers = [
            (b"etag", etag.encode()),
            (b"content-length", b"%d" % len(body)),
            *_SAME_FOR_ALL,
        ]
