"""HTTP replies, decoded from a Lambda proxy response or read from a server, and a
keep-alive client for servers on 127.0.0.1; the in-process Lambda handler called as the
runtime calls it."""

from __future__ import annotations

import base64
import http.client
import json
import time
from dataclasses import dataclass
from typing import Any

from harness import ORDERS_KEY
from harness.events import LambdaContext, http_v2

HOST = "127.0.0.1"
JSON = {"content-type": "application/json"}
ORDERS_AUTH = {"Authorization": f"Bearer {ORDERS_KEY}"}


def as_orders_client(path: str, headers: dict[str, str] | None) -> dict[str, str]:
    """`headers`, plus the orders key for a path under /orders that names no Authorization of
    its own: the helpers here are a client that holds the key, unless a test says otherwise."""
    headers = dict(headers or {})
    if path.startswith("/orders") and not any(k.lower() == "authorization" for k in headers):
        headers.update(ORDERS_AUTH)
    return headers


@dataclass
class Reply:
    """An HTTP reply, decoded: a Lambda proxy response (`reply`) or a server's answer."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def reply(response: dict[str, Any]) -> Reply:
    raw = response.get("body") or ""
    body = base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    for key, values in (response.get("multiValueHeaders") or {}).items():
        headers[key.lower()] = ", ".join(values)
    return Reply(response["statusCode"], headers, body)


def invoke(event: dict[str, Any]) -> Reply:
    """Call the real Mangum handler, as the Lambda runtime would."""
    from app.lambda_handler import handler

    return reply(handler(event, LambdaContext()))


def send(
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    *,
    authorize: bool = True,
) -> Reply:
    """One request through the in-process handler, as an HTTP API (2.0) event (with the
    orders key, for /orders, if `authorize`)."""
    if authorize:
        headers = as_orders_client(path, headers)
    return invoke(http_v2(method, path, headers, body))


def get(path: str, headers: dict[str, str] | None = None) -> Reply:
    return send("GET", path, None, headers)


def post(
    path: str, body: Any, key: str | None = None, headers: dict[str, str] | None = None
) -> Reply:
    """POST `body` (JSON-encoded unless it is bytes already), with `key` as its
    Idempotency-Key."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    idempotency = {"Idempotency-Key": key} if key else {}
    return send("POST", path, raw, {**JSON, **idempotency, **(headers or {})})


def ok(path: str, headers: dict[str, str] | None = None) -> Any:
    """GET `path`: a 200 with a JSON body, decoded."""
    answer = get(path, headers)
    assert answer.status == 200, (path, answer.status, answer.body[:300])
    assert answer.headers["content-type"] == "application/json", path
    return answer.json()


def problem(answer: Reply | str, status: int) -> dict[str, Any]:
    """`answer` (or the GET of that path) is a problem document (RFC 9457) of `status`, in
    the app's schema; its body."""
    from app.schemas import ProblemDetail

    if isinstance(answer, str):
        answer = get(answer)
    assert answer.status == status, (answer.status, answer.body[:300])
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    ProblemDetail.model_validate(body)
    assert body["status"] == status
    return body


class HttpClient:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1; every request is timed."""

    def __init__(self, port: int, timeout: float = 30) -> None:
        self._connection = http.client.HTTPConnection(HOST, port, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        *,
        authorize: bool = True,
    ) -> tuple[Reply, float]:
        """`method path`, with the orders key for /orders if `authorize`; the reply and the
        seconds it took."""
        if authorize:
            headers = as_orders_client(path, headers)
        started = time.perf_counter()
        try:
            self._connection.request(method, path, body, headers or {})
            response = self._connection.getresponse()
            data = response.read()
        except BaseException:
            self._connection.close()  # the next request opens a new connection
            raise
        seconds = time.perf_counter() - started
        headers_read = {name.lower(): value for name, value in response.getheaders()}
        return Reply(response.status, headers_read, data), seconds

    def close(self) -> None:
        self._connection.close()
