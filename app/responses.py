"""Responses from pre-encoded bytes. Conditional requests (If-None-Match → 304) are
answered by app.middleware.Edge from the ETag these carry."""

from __future__ import annotations

from fastapi import Response

from app.config import settings

_CACHE_CONTROL = f"public, max-age={settings.http_max_age_seconds}".encode()


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
            (b"cache-control", _CACHE_CONTROL),
            (b"content-length", b"%d" % len(body)),
            (b"content-type", b"application/json"),
        ]
