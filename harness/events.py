"""Lambda events as AWS sends them, for calling the real Mangum handler.

Shapes follow the AWS documentation for each integration: API Gateway REST (payload 1.0),
HTTP API (payload 2.0), Application Load Balancer, and Lambda Function URLs (2.0 shape,
with a lambda-url domain).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

Event = dict[str, Any]

ACCOUNT = "123456789012"


@dataclass
class LambdaContext:
    """The attributes of the runtime's context object that handlers read."""

    function_name: str = "refdata-api"
    function_version: str = "$LATEST"
    invoked_function_arn: str = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:refdata-api"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name: str = "/aws/lambda/refdata-api"
    log_stream_name: str = "2026/11/26/[$LATEST]abcdef"
    client_context: Any = None
    identity: Any = None

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def _split(path: str) -> tuple[str, str]:
    raw_path, _, query = path.partition("?")
    return raw_path, query


def _body(body: bytes | None) -> tuple[str | None, bool]:
    if body is None:
        return None, False
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode(), True


def rest_v1(
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    stage: str = "prod",
) -> Event:
    """API Gateway REST API, Lambda proxy integration (payload format 1.0)."""
    raw_path, query = _split(path)
    headers = {"Host": "abc123.execute-api.eu-west-1.amazonaws.com", **(headers or {})}
    pairs = parse_qsl(query, keep_blank_values=True)
    multi_query: dict[str, list[str]] = {}
    for key, value in pairs:
        multi_query.setdefault(key, []).append(value)
    text, is_b64 = _body(body)
    return {
        "resource": "/{proxy+}",
        "path": raw_path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": {"proxy": raw_path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123",
            "extendedRequestId": "request-id",
            "httpMethod": method,
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "curl/8.5.0"},
            "path": f"/{stage}{raw_path}",
            "protocol": "HTTP/1.1",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "requestTime": "26/Nov/2026:20:00:00 +0000",
            "requestTimeEpoch": 1795723200000,
            "resourceId": "abcdef",
            "resourcePath": "/{proxy+}",
            "stage": stage,
        },
        "body": text,
        "isBase64Encoded": is_b64,
    }


def http_v2(
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    domain: str = "abc123.execute-api.eu-west-1.amazonaws.com",
) -> Event:
    """API Gateway HTTP API (payload format 2.0)."""
    raw_path, query = _split(path)
    headers = {"host": domain, **{k.lower(): v for k, v in (headers or {}).items()}}
    text, is_b64 = _body(body)
    event: Event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": domain.split(".", maxsplit=1)[0],
            "domainName": domain,
            "domainPrefix": domain.split(".", maxsplit=1)[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": "$default",
            "time": "26/Nov/2026:20:00:00 +0000",
            "timeEpoch": 1795723200000,
        },
        "isBase64Encoded": is_b64,
    }
    if query:
        params: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            params[key] = f"{params[key]},{value}" if key in params else value
        event["queryStringParameters"] = params
    if text is not None:
        event["body"] = text
    return event


def function_url(
    method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> Event:
    """Lambda Function URL: the 2.0 payload, served from a lambda-url domain."""
    return http_v2(
        method,
        path,
        headers,
        body,
        domain="a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6.lambda-url.eu-west-1.on.aws",
    )


def alb(
    method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> Event:
    """Application Load Balancer target group (multi-value headers off)."""
    raw_path, query = _split(path)
    text, is_b64 = _body(body)
    return {
        "requestContext": {
            "elb": {
                "targetGroupArn": f"arn:aws:elasticloadbalancing:eu-west-1:{ACCOUNT}:"
                "targetgroup/refdata/6d0ecf831eec9f09"
            }
        },
        "httpMethod": method,
        "path": raw_path,
        # ALB passes query values exactly as the client sent them (still URL-encoded).
        "queryStringParameters": {
            k: urlencode({"": v})[1:] for k, v in parse_qsl(query, keep_blank_values=True)
        },
        "headers": {
            "host": "refdata-alb-123.eu-west-1.elb.amazonaws.com",
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
            **{k.lower(): v for k, v in (headers or {}).items()},
        },
        "body": text or "",
        "isBase64Encoded": is_b64,
    }


def replaced(event: Event, value: Any, *path: str) -> Event:
    """`event` with the field at `path` (keys, outermost first) set to `value`: a field of
    the right name and the wrong shape."""
    target = event
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return event


SHAPES = {"rest_v1": rest_v1, "http_v2": http_v2, "alb": alb, "function_url": function_url}


# A valid order (POST /orders, /orders/quote): a ward of Ho Chi Minh City and one line.
ORDER = json.dumps(
    {
        "address": {"province_code": 79, "ward_code": 25747, "street": "12 Lê Lợi"},
        "lines": [{"sku": "TEA-250G", "quantity": 2, "unit_price_vnd": 120_000}],
        "weight_grams": 1200,
    },
    ensure_ascii=False,
).encode()
