"""Conditional GET: 304 when If-None-Match holds the response's ETag."""

from __future__ import annotations

NOT_MODIFIED_DROPS = frozenset({b"content-length", b"content-type"})


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
