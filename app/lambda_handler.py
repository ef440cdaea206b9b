"""AWS Lambda entry point: `app.lambda_handler.handler`."""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import MutableMapping
from typing import Any, ClassVar, TypeVar

from mangum import Mangum
from mangum.handlers import ALB, APIGateway, HTTPGateway, LambdaAtEdge
from mangum.types import ASGI, LambdaConfig, LambdaHandler, Response

from app import INIT_STARTED
from app.init import cache, engine, settings
from app.kit.logs import logger
from app.kit.runtime import MANAGED_INSTANCES
from app.main import app
from app.problems import MEDIA_TYPE, BadEvent, InternalError, ResponseNotEncodable, encode


class UnreadableEvent(Exception):
    """The event is not an HTTP request this function can read (raised while reading it)."""


class _Reader:
    """One of Mangum's four event readers, through Mangum's custom-handler protocol.

    Its scope is read at construction and kept: Mangum's readers build it anew on every
    `.scope`. It carries the client's URL prefix (a REST stage, a custom domain's base path)
    as ASGI `root_path`, so links, redirects and /docs point where the client can reach
    them. An event it cannot read raises UnreadableEvent; a response it cannot put into the
    integration's format is answered with a 502 problem.
    """

    reads: ClassVar[type[LambdaHandler]]

    @classmethod
    def infer(cls, event: Any, context: Any, config: LambdaConfig) -> bool:
        try:
            return cls.reads.infer(event, context, config)
        except Exception:  # not even a mapping: _Unreadable takes it
            return False

    def __init__(self, event: Any, context: Any, config: LambdaConfig) -> None:
        try:
            self.reader = self.reads(event, context, config)
            scope, self.body = self.reader.scope, self.reader.body
            if not readable(scope):
                raise TypeError("an HTTP field of the event has the wrong type")
            prefix = external_prefix(event, scope["path"])
        except Exception as exc:
            raise UnreadableEvent from exc
        if prefix:
            # ASGI: path includes root_path; Starlette strips it again when routing.
            scope["root_path"], scope["path"] = prefix, prefix + scope["path"]
        self.scope = scope

    def __call__(self, response: Response) -> dict[str, Any]:
        try:
            return self.reader(response)
        except Exception as exc:
            logger.error("response not encodable", extra={"error": type(exc).__name__})
            return _problem_response(502, _BAD_RESPONSE)


def external_prefix(event: dict[str, Any], path: str) -> str:
    """The part of the client's URL in front of the route: a REST stage or a base path.

    API Gateway reports the client's full path in requestContext (`/prod/countries` for a
    REST stage, `/v1/countries` behind a custom-domain base path); Mangum routes on the
    path without it. The difference is the prefix links must carry. A requestContext of
    the wrong shape is an event this function cannot read (TypeError).
    """
    context = _typed(event, "requestContext", dict)
    if context is None:  # Lambda@Edge: no requestContext, no prefix
        return ""
    full = _typed(context, "path", str)
    if full is None:
        http = _typed(context, "http", dict)
        full = None if http is None else _typed(http, "path", str)
    if full is None or full == path:
        return ""
    if path == "/" and full.endswith("/"):
        return full.rstrip("/")
    if full.endswith(path):
        return full[: len(full) - len(path)].rstrip("/")
    return ""


T = TypeVar("T")


def _typed(fields: dict[str, Any], name: str, kind: type[T]) -> T | None:
    """fields[name] if it is a `kind`, None if absent; TypeError if anything else (null too:
    API Gateway and ALBs send none)."""
    if name not in fields:
        return None
    value = fields[name]
    if isinstance(value, kind):
        return value
    raise TypeError(f"{name} is not a {kind.__name__}")


def readable(scope: MutableMapping[str, Any]) -> bool:
    """The ASGI fields an app relies on have their ASGI types (events can carry anything).

    Headers need no check: Mangum builds each name and value with `str.encode`, so they
    are bytes or reading the event already failed (the event is JSON: nothing but a str
    has `.encode`). Checking them anyway would loop over every header on every invoke.
    """
    return (
        isinstance(scope.get("method"), str)
        and isinstance(scope.get("path"), str)
        and isinstance(scope.get("query_string"), bytes)
    )


# Mangum's four readers, in Mangum's order, then _Unreadable: Mangum tries them before
# its own, so every event is read by one of these.
class _ALB(_Reader):
    reads = ALB


class _HTTPGateway(_Reader):
    reads = HTTPGateway


class _APIGateway(_Reader):
    reads = APIGateway


class _LambdaAtEdge(_Reader):
    reads = LambdaAtEdge


class _Unreadable(_Reader):
    """Last: takes every event the readers above do not, so Mangum's own never see one."""

    @classmethod
    def infer(cls, event: Any, context: Any, config: LambdaConfig) -> bool:
        return True

    def __init__(self, event: Any, context: Any, config: LambdaConfig) -> None:
        raise UnreadableEvent("no reader takes this event")


class Handler:
    """Mangum, plus one promise: every event gets a well-formed HTTP response.

    An event Mangum cannot read (not from API Gateway, an ALB or a function URL; missing
    keys; a body that is not base64; text UTF-8 cannot carry) gets a 400 problem instead
    of an exception, so a stray invoke leaves no trace but one log line.
    """

    def __init__(self, asgi_app: ASGI, api_gateway_base_path: str = "/") -> None:
        self.adapter = Mangum(
            asgi_app,
            # Mangum runs lifespan startup and shutdown on every invoke, so everything
            # long-lived is built at import instead (see app.init).
            lifespan="off",
            custom_handlers=[_ALB, _HTTPGateway, _APIGateway, _LambdaAtEdge, _Unreadable],
            api_gateway_base_path=api_gateway_base_path,
            text_mime_types=["text/", "application/json", "application/javascript", MEDIA_TYPE],
        )

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        try:
            return self.adapter(event, context)
        except UnreadableEvent as exc:
            error = exc.__cause__ or exc
            logger.warning("unreadable lambda event", extra={"error": type(error).__name__})
            return _problem_response(400, _BAD_EVENT)
        except Exception:
            # A bug in reading or answering the event: it still gets an HTTP answer (an
            # exception would reach the runtime, which reports it and answers nothing usable).
            logger.exception("lambda event not served")
            return _problem_response(500, _INTERNAL)


def _problem_response(status: int, body: str) -> dict[str, Any]:
    """A Lambda response of its own, for when the app cannot give one."""
    return {
        "statusCode": status,
        "headers": {"content-type": MEDIA_TYPE},
        "isBase64Encoded": False,
        "body": body,
    }


# Encoded once: no request shapes them (they have no `instance`).
_BAD_EVENT = encode(
    BadEvent("The Lambda event is not an HTTP request this function can read."), None
).decode()
_INTERNAL = encode(InternalError("The request could not be served."), None).decode()
_BAD_RESPONSE = encode(
    ResponseNotEncodable("The response could not be encoded for this integration."), None
).decode()


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
