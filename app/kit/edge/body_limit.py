"""Each route's largest request body: 413 before the app runs when Content-Length says so,
or as the body arrives; 400 for a Content-Length that is not a length."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import HTTPException
from starlette.types import Message, Receive, Scope, Send

from app.kit.edge.headers import SECURITY_HEADERS
from app.problems import (
    MEDIA_TYPE,
    MalformedRequest,
    PayloadTooLarge,
    Problem,
    encode,
    instance_of,
    too_large,
)


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
