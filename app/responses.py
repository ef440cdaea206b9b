"""Responses built from pre-encoded bytes, with HTTP validators so clients can skip the body."""

from __future__ import annotations

from fastapi import Request, Response

from app.config import settings

_CACHE_CONTROL = f"public, max-age={settings.http_max_age_seconds}"


def _matches(if_none_match: str, etag: str) -> bool:
    # If-None-Match uses the weak comparison (RFC 9110 §13.1.2): W/ prefixes are ignored.
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


def cached_json(request: Request, body: bytes, etag: str) -> Response:
    """200 with the encoded body, or 304 when the client already holds these exact bytes."""
    headers = {"ETag": etag, "Cache-Control": _CACHE_CONTROL}
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)
