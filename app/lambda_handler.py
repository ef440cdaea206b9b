"""AWS Lambda entry point: `app.lambda_handler.handler`."""

from __future__ import annotations

import gc
import json
import time
from collections.abc import MutableMapping
from typing import Any

from mangum import Mangum
from mangum.protocols import HTTPCycle

from app import INIT_STARTED
from app.config import settings
from app.db import engine
from app.logs import logger
from app.main import app
from app.problems import MEDIA_TYPE
from app.reference import cache


class Handler(Mangum):
    """Mangum, plus one promise: every event gets a well-formed HTTP response.

    An event Mangum cannot read (not from API Gateway, an ALB or a function URL; missing
    keys; a body that is not base64; text UTF-8 cannot carry) gets a 400 problem instead
    of an exception, so a stray invoke leaves no trace but one log line.
    """

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
    """The ASGI fields an app relies on have their ASGI types (events can carry anything)."""
    return (
        isinstance(scope.get("method"), str)
        and isinstance(scope.get("path"), str)
        and isinstance(scope.get("query_string"), bytes)
        and all(
            isinstance(name, bytes) and isinstance(value, bytes)
            for name, value in scope.get("headers", ())
        )
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

# lifespan="off": Mangum runs lifespan startup and shutdown on every invoke, so everything
# long-lived is built at import instead (see app.db and app.reference).
handler = Handler(
    app,
    lifespan="off",
    api_gateway_base_path=settings.api_gateway_base_path,
    text_mime_types=["text/", "application/json", "application/javascript", MEDIA_TYPE],
)


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
    },
)
