"""The edge of the app: one pure ASGI wrapper (no per-request task or thread), made of the
named concerns that app/main.py builds and hands it, one module each:

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

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.kit.edge.body_limit import BodyLimit, refuse
from app.kit.edge.conditional import NOT_MODIFIED_DROPS, not_modified
from app.kit.edge.headers import finish_headers, request_id_of
from app.kit.edge.observation import Observation
from app.kit.runtime import Environment, start_request

__all__ = ["BodyLimit", "Edge", "Observation"]

_BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
                    headers = [h for h in headers if h[0] not in NOT_MODIFIED_DROPS]
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
