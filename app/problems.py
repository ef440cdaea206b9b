"""Every error is `application/problem+json` (RFC 9457) with a stable `type`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.logs import logger
from app.reference import CacheUnavailable
from app.schemas import ProblemDetail

MEDIA_TYPE = "application/problem+json"
_TYPE_PREFIX = "urn:refdata:problem:"


class Problem(Exception):
    """Raised by routes and business rules; answered as a problem document."""

    status = 400
    kind = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class NotFound(Problem):
    """A well-formed code that names nothing."""

    status = 404
    kind = "not-found"
    title = "Not found"


class BadRequest(Problem):
    """Input that passed the schema but still makes no sense."""

    status = 422
    kind = "validation-error"
    title = "Invalid request"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(
            detail, errors=[{"loc": ["query", field], "msg": detail}] if field else None
        )


def problem(
    request: Request,
    status: int,
    *,
    kind: str,
    title: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> Response:
    body = {
        "type": _TYPE_PREFIX + kind,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    if errors:
        body["errors"] = errors
    return Response(orjson.dumps(body), status, headers=headers, media_type=MEDIA_TYPE)


_STATUS_KINDS = {
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
}


# Starlette types every handler as taking Exception; each is registered for one class only.


async def _problem(request: Request, exc: Exception) -> Response:
    error = cast(Problem, exc)
    return problem(
        request,
        error.status,
        kind=error.kind,
        title=error.title,
        detail=error.detail,
        errors=error.errors,
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    error = cast(StarletteHTTPException, exc)
    kind, title = _STATUS_KINDS.get(error.status_code, ("http-error", "HTTP error"))
    detail = "No such route." if error.status_code == 404 else str(error.detail)
    return problem(
        request, error.status_code, kind=kind, title=title, detail=detail, headers=error.headers
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    # loc and msg only: echoing the input back would reflect whatever the client sent.
    errors = [
        {"loc": [str(part) for part in error["loc"]], "msg": error["msg"]}
        for error in cast(RequestValidationError, exc).errors()
    ]
    where = "; ".join(".".join(e["loc"]) + ": " + e["msg"] for e in errors[:3])
    return problem(
        request,
        422,
        kind="validation-error",
        title="Invalid request",
        detail=where or "Invalid input.",
        errors=errors,
    )


async def _cache_unavailable(request: Request, exc: Exception) -> Response:
    return problem(
        request,
        503,
        kind="reference-data-unavailable",
        title="Reference data unavailable",
        detail="Reference data is not loaded yet; retry shortly.",
        headers={"Retry-After": str(cast(CacheUnavailable, exc).retry_after)},
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log for operators; the client learns only that it failed.
    logger.exception("unhandled error", extra={"path": request.url.path})
    return problem(
        request,
        500,
        kind="internal",
        title="Internal error",
        detail="The request could not be served.",
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(CacheUnavailable, _cache_unavailable)
    app.add_exception_handler(Exception, _unexpected)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations of the problem responses a route can give."""
    descriptions = {
        404: "Unknown code",
        422: "Malformed input",
        503: "Reference data not loaded yet (see Retry-After)",
    }
    return {
        status: {
            "model": ProblemDetail,
            "description": descriptions[status],
            "content": {MEDIA_TYPE: {}},
        }
        for status in statuses
    }
