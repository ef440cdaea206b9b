"""AWS Lambda entry point: `app.lambda_handler.handler`."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import time
from collections.abc import MutableMapping
from typing import Any

from mangum import Mangum
from mangum.handlers import ALB, APIGateway, HTTPGateway, LambdaAtEdge
from mangum.protocols import HTTPCycle
from mangum.types import ASGI, Scope

from app import INIT_STARTED
from app.config import settings
from app.db import engine
from app.logs import logger
from app.main import app
from app.problems import MEDIA_TYPE
from app.reference import cache
from app.runtime import MANAGED_INSTANCES


class _ScopeOnce:
    """Mangum's event readers, with two changes.

    The scope is built once: Mangum builds it anew each time `.scope` is read, and reads it
    twice per invoke for HTTP API and ALB events (the second time for one key). And it
    carries the client's URL prefix (a REST stage, a custom domain's base path) as ASGI
    `root_path`, so links, redirects and /docs point where the client can reach them.
    """

    _scope: Scope | None = None  # set on the instance by the first read

    @property
    def scope(self) -> Scope:
        if self._scope is None:
            scope = super().scope  # type: ignore[misc]
            prefix = external_prefix(scope["aws.event"], scope["path"])
            if prefix:
                # ASGI: path includes root_path; Starlette strips it again when routing.
                scope["root_path"], scope["path"] = prefix, prefix + scope["path"]
            self._scope = scope
        return self._scope


def external_prefix(event: dict[str, Any], path: str) -> str:
    """The part of the client's URL in front of the route: a REST stage or a base path.

    API Gateway reports the client's full path in requestContext (`/prod/countries` for a
    REST stage, `/v1/countries` behind a custom-domain base path); Mangum routes on the
    path without it. The difference is the prefix links must carry.
    """
    context = event.get("requestContext") or {}
    full = context.get("path") or (context.get("http") or {}).get("path")
    if not isinstance(full, str) or full == path:
        return ""
    if path == "/" and full.endswith("/"):
        return full.rstrip("/")
    if full.endswith(path):
        return full[: len(full) - len(path)].rstrip("/")
    return ""


# Mangum's four readers, in Mangum's order; tried before its own, so every event is read
# by one of these.
class _ALB(_ScopeOnce, ALB):
    pass


class _HTTPGateway(_ScopeOnce, HTTPGateway):
    pass


class _APIGateway(_ScopeOnce, APIGateway):
    pass


class _LambdaAtEdge(_ScopeOnce, LambdaAtEdge):
    pass


class Handler(Mangum):
    """Mangum, plus one promise: every event gets a well-formed HTTP response.

    An event Mangum cannot read (not from API Gateway, an ALB or a function URL; missing
    keys; a body that is not base64; text UTF-8 cannot carry) gets a 400 problem instead
    of an exception, so a stray invoke leaves no trace but one log line.
    """

    def __init__(self, asgi_app: ASGI, api_gateway_base_path: str = "/") -> None:
        super().__init__(
            asgi_app,
            # Mangum runs lifespan startup and shutdown on every invoke, so everything
            # long-lived is built at import instead (see app.db and app.reference).
            lifespan="off",
            custom_handlers=[_ALB, _HTTPGateway, _APIGateway, _LambdaAtEdge],
            api_gateway_base_path=api_gateway_base_path,
            text_mime_types=["text/", "application/json", "application/javascript", MEDIA_TYPE],
        )

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        # Mangum.__call__ with lifespan off, the event's reading guarded: the app's own
        # errors never escape HTTPCycle (it answers them), the event's do, from here.
        try:
            request = self.infer(event, context)
            scope, body = request.scope, request.body
            if not readable(scope):
                raise TypeError("an HTTP field of the event has the wrong type")
        except Exception as exc:
            logger.warning("unreadable lambda event", extra={"error": type(exc).__name__})
            return bad_event()
        response = HTTPCycle(scope, body)(self.app)
        try:
            return request(response)
        except Exception as exc:
            logger.error("response not encodable", extra={"error": type(exc).__name__})
            return bad_event(502)


def readable(scope: MutableMapping[str, Any]) -> bool:
    """The ASGI fields an app relies on have their ASGI types (events can carry anything).

    Headers need no check: Mangum builds each name and value with `str.encode`, so they
    are bytes or reading the event already failed (the event is JSON: nothing but a str
    has `.encode`). Checking them anyway was a loop over every header on every invoke.
    """
    return (
        isinstance(scope.get("method"), str)
        and isinstance(scope.get("path"), str)
        and isinstance(scope.get("query_string"), bytes)
    )


def bad_event(status: int = 400) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": MEDIA_TYPE},
        "isBase64Encoded": False,
        "body": _BAD_EVENT_BODY if status == 400 else _BAD_RESPONSE_BODY,
    }


_BAD_EVENT_BODY = json.dumps(
    {
        "type": "urn:refdata:problem:bad-event",
        "title": "Unreadable event",
        "status": 400,
        "detail": "The Lambda event is not an HTTP request this function can read.",
    }
)
_BAD_RESPONSE_BODY = json.dumps(
    {
        "type": "urn:refdata:problem:internal",
        "title": "Internal error",
        "status": 502,
        "detail": "The response could not be encoded for this integration.",
    }
)


# The environment's one event loop, set before Mangum's constructor looks for it: since
# Python 3.12, asyncio.get_event_loop() creating a loop implicitly is deprecated.
asyncio.set_event_loop(asyncio.new_event_loop())
handler = Handler(app, api_gateway_base_path=settings.api_gateway_base_path)


def before_snapshot() -> None:
    """SnapStart: a snapshot must not carry open sockets; the restored copies would share them."""
    engine.dispose()
    logger.info("snapstart: pool disposed before snapshot")


def after_restore() -> None:
    """SnapStart: the snapshot may be days old; reconnect and reload the reference data."""
    loaded = cache.try_load()
    logger.info("snapstart: restored", extra={"cache_loaded": loaded is not None})


try:
    # Present only in the Lambda Python runtime (or with snapshot-restore-py installed).
    from snapshot_restore_py import register_after_restore, register_before_snapshot
except ImportError:
    pass
else:
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)

# Everything allocated so far lives as long as the environment: keep the collector off it.
gc.freeze()

logger.info(
    "init complete",
    extra={
        "init_ms": round((time.perf_counter() - INIT_STARTED) * 1000, 1),
        "cache_loaded": cache.current is not None,
        # Managed instances INIT one process per worker: the PID tells their lines apart.
        "pid": os.getpid(),
        "managed_instances": MANAGED_INSTANCES,
    },
)
