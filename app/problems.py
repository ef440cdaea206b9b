"""Every error is `application/problem+json` (RFC 9457) with a stable `type`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.logs import dumps, logger
from app.reference import CacheUnavailable
from app.responses import add_documented_schemas
from app.schemas import ProblemDetail

MEDIA_TYPE = "application/problem+json"
_TYPE_PREFIX = "urn:refdata:problem:"


class Problem(Exception):
    """Raised by routes and business rules; answered as a problem document."""

    status = 400
    kind = "bad-request"
    title = "Bad request"
    headers: Mapping[str, str] | None = None

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
        # A URI reference (RFC 9457): percent-encoded, so no raw client input is echoed.
        "instance": quote(request.scope["path"], safe="/", errors="surrogatepass"),
    }
    if errors:
        body["errors"] = errors
    return Response(dumps(body), status, headers=headers, media_type=MEDIA_TYPE)


_STATUS_KINDS = {
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("payload-too-large", "Payload too large"),
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
        headers=error.headers,
        errors=error.errors,
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    error = cast(StarletteHTTPException, exc)
    if error.status_code == 400 and isinstance(error.__cause__, ValueError | RecursionError):
        # FastAPI's 400 for a body json.loads refused other than with JSONDecodeError (bytes
        # that are not UTF-8, nesting too deep): malformed input, a 422 like invalid JSON.
        msg = "The body is not valid JSON."
        return problem(
            request,
            422,
            kind="validation-error",
            title="Invalid request",
            detail=f"body: {msg}",
            errors=[{"loc": ["body"], "msg": msg}],
        )
    kind, title = _STATUS_KINDS.get(error.status_code, ("http-error", "HTTP error"))
    detail = "No such route." if error.status_code == 404 else str(error.detail)
    return problem(
        request, error.status_code, kind=kind, title=title, detail=detail, headers=error.headers
    )


_INVALID_UUID = "Input should be a valid UUID"


async def _validation_error(request: Request, exc: Exception) -> Response:
    # loc and msg only: echoing the input back would reflect whatever the client sent.
    # (pydantic's UUID message quotes the offending character, so it gets a fixed one.)
    errors: list[dict[str, Any]] = [
        {
            "loc": [str(part) for part in error["loc"]],
            "msg": _INVALID_UUID if error["type"] == "uuid_parsing" else error["msg"],
        }
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


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    # Unreachable, restarting, a statement timeout, or no pooled connection free in time
    # (PoolTimeout). The class name is logged; the message (it may hold SQL or a host name)
    # is not.
    logger.error("database error", extra={"path": request.url.path, "error": type(exc).__name__})
    return problem(
        request,
        503,
        kind="database-unavailable",
        title="Database unavailable",
        detail="The database could not complete the request; retry shortly.",
        headers={"Retry-After": "2"},
    )


def _is_check_violation(error: IntegrityError) -> bool:
    # PostgreSQL's SQLSTATE check_violation; SQLite's extended code SQLITE_CONSTRAINT_CHECK.
    orig = error.orig
    return getattr(orig, "sqlstate", None) == "23514" or (
        getattr(orig, "sqlite_errorcode", None) == 275
    )


async def _integrity_error(request: Request, exc: Exception) -> Response:
    # A CHECK refuses the values themselves (422); UNIQUE, foreign keys and NOT NULL refuse
    # them against the stored state (409). The constraint is logged, not sent.
    error = cast(IntegrityError, exc)
    check = _is_check_violation(error)
    logger.warning(
        "constraint violated", extra={"path": request.url.path, "error": type(error.orig).__name__}
    )
    return problem(
        request,
        422 if check else 409,
        kind="constraint-violation" if check else "conflict",
        title="Constraint violation" if check else "Conflict",
        detail="The values break a rule of the database."
        if check
        else "The request conflicts with stored data.",
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
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(Exception, _unexpected)
    _document_problems(app)


def _document_problems(app: FastAPI) -> None:
    """Put ProblemDetail into the OpenAPI components that `responses()` points at, and the
    models routes document with app.responses.ok / schema_of."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()  # also cached in app.openapi_schema, which this completes
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        problem_schema = ProblemDetail.model_json_schema(ref_template=_REF_TEMPLATE)
        schemas.update(problem_schema.pop("$defs", {}))
        schemas["ProblemDetail"] = problem_schema
        add_documented_schemas(schemas)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented extension point


_REF_TEMPLATE = "#/components/schemas/{model}"


def _example(status: int, kind: str, title: str, detail: str, instance: str) -> dict[str, Any]:
    return {
        "type": _TYPE_PREFIX + kind,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }


_NOT_AN_INTEGER = "Input should be a valid integer, unable to parse string as an integer"

# The problem responses routes declare: status → (description, example body).
_DECLARED: dict[int, tuple[str, dict[str, Any]]] = {
    401: (
        "No bearer token",
        _example(
            401,
            "unauthorized",
            "Authentication required",
            "Send the admin key as 'Authorization: Bearer <key>'.",
            "/admin/cache/refresh",
        ),
    ),
    403: (
        "Wrong key",
        _example(
            403, "forbidden", "Forbidden", "That key is not the admin key.", "/admin/cache/refresh"
        ),
    ),
    404: (
        "Unknown code",
        _example(404, "not-found", "Not found", "No country with code 'XX'.", "/countries/XX"),
    ),
    409: (
        "Conflicts with stored data (e.g. an Idempotency-Key reused with another body)",
        _example(
            409,
            "idempotency-key-reused",
            "Idempotency key reused",
            "This Idempotency-Key was already used with a different request body.",
            "/orders",
        ),
    ),
    422: (
        "Malformed input",
        {
            **_example(
                422,
                "validation-error",
                "Invalid request",
                f"path.code: {_NOT_AN_INTEGER}",
                "/vn/provinces/abc",
            ),
            "errors": [{"loc": ["path", "code"], "msg": _NOT_AN_INTEGER}],
        },
    ),
    413: (
        "Request body over REFDATA_MAX_BODY_BYTES",
        _example(
            413,
            "payload-too-large",
            "Payload too large",
            "Request bodies are limited to 65536 bytes.",
            "/orders",
        ),
    ),
    503: (
        "Reference data not loaded yet (see Retry-After)",
        _example(
            503,
            "reference-data-unavailable",
            "Reference data unavailable",
            "Reference data is not loaded yet; retry shortly.",
            "/countries",
        ),
    ),
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations of the problem responses a route can give.

    Under application/problem+json only: a `model` would also declare application/json,
    which these responses never are. `install` adds the ProblemDetail schema they point at.
    """
    return {
        status: {
            "description": _DECLARED[status][0],
            "content": {
                MEDIA_TYPE: {
                    "schema": {"$ref": _REF_TEMPLATE.format(model="ProblemDetail")},
                    "example": _DECLARED[status][1],
                }
            },
        }
        for status in statuses
    }
