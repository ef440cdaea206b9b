"""The error catalog: every problem a client can get, as `application/problem+json` (RFC 9457).

Each `Problem` subclass is one entry: its status, its stable `type` (`urn:refdata:problem:` and
its kind), its title and an example. Routes raise entries; `responses(*entries)` documents
them on the routes that raise them; the exception handlers below turn every other error
(validation, HTTP, database, a bug) into an entry. `encode` writes every problem body: the
handlers', the edge's 413 (app/kit/edge/) and the Lambda handler's (app/lambda_handler.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, cast
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from app.kit.lanes import Busy
from app.kit.logs import dumps, logger
from app.kit.settings import Settings
from app.responses import schema_of
from app.schemas import ProblemDetail
from app.snapshot.cache import CacheUnavailable

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:refdata:problem:"

Errors = list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Example:
    """What one entry looks like in the OpenAPI document: a real body, for a real path."""

    detail: str
    instance: str
    errors: Errors | None = None


# Every entry, in the order they are defined (OrderRejected, an abstract base, is not one).
CATALOG: list[type[Problem]] = []


class Problem(Exception):
    """A catalog entry; raised, it is answered as its problem document.

    No defaults: each entry states its own status, kind, title and example (checked when
    the class is made). `documented` is False for what no route declares: what any request
    can get (405, 500), or what is not a route's answer at all (a Lambda event's).
    """

    status: int  # per class; an HTTPError carries the status it was raised with
    kind: ClassVar[str]
    title: ClassVar[str]
    example: ClassVar[Example]
    type: ClassVar[str]  # TYPE_PREFIX + kind
    documented: ClassVar[bool] = True
    headers: Mapping[str, str] | None = None
    error_count: int | None = None  # for validation errors: all of them, listed or not

    def __init_subclass__(cls, *, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if abstract:
            return
        missing = [a for a in ("status", "kind", "title", "example") if not hasattr(cls, a)]
        if missing:
            raise TypeError(f"problem {cls.__name__} does not state its {', '.join(missing)}")
        cls.type = TYPE_PREFIX + cls.kind
        CATALOG.append(cls)

    def __init__(
        self,
        detail: str,
        *,
        errors: Errors | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        if headers is not None:
            self.headers = headers

    @classmethod
    def example_body(cls) -> dict[str, Any]:
        example = cls.example
        return body_of(cls, cls.status, example.detail, example.instance, errors=example.errors)


def body_of(
    entry: type[Problem],
    status: int,
    detail: str,
    instance: str | None,
    *,
    errors: Errors | None = None,
    error_count: int | None = None,
) -> dict[str, Any]:
    """The fields of a problem document, in the order every body has them (`error_count`
    only when there were more errors than `errors` lists)."""
    body: dict[str, Any] = {
        "type": entry.type,
        "title": entry.title,
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
        if error_count is not None and error_count > len(errors):
            body["error_count"] = error_count
    return body


def encode(problem: Problem, instance: str | None) -> bytes:
    """The one encoder: the JSON body of `problem`, answering a request for `instance`."""
    return dumps(
        body_of(
            type(problem),
            problem.status,
            problem.detail,
            instance,
            errors=problem.errors,
            error_count=problem.error_count,
        )
    )


def instance_of(path: str) -> str:
    # A URI reference (RFC 9457): percent-encoded, so no raw client input is echoed.
    return quote(path, safe="/", errors="surrogatepass")


def answer(request: Request, problem: Problem) -> Response:
    body = encode(problem, instance_of(request.scope["path"]))
    return Response(body, problem.status, headers=problem.headers, media_type=MEDIA_TYPE)


# The catalog. ----------------------------------------------------------------------------


class NotFound(Problem):
    """A well-formed code that names nothing, or no such route."""

    status = 404
    kind = "not-found"
    title = "Not found"
    example = Example("No country with code 'XX'.", "/countries/XX")


class MethodNotAllowed(Problem):
    status = 405
    kind = "method-not-allowed"
    title = "Method not allowed"
    example = Example("Method Not Allowed", "/countries")
    documented = False


def too_large(limit: int) -> str:
    return f"Request bodies are limited to {limit} bytes."


class PayloadTooLarge(Problem):
    """A body over its route's limit (REFDATA_MAX_BODY_BYTES unless the route has its own)."""

    status = 413
    kind = "payload-too-large"
    title = "Payload too large"
    example = Example(too_large(Settings.model_fields["max_body_bytes"].default), "/orders")


_NOT_AN_INTEGER = "Input should be a valid integer, unable to parse string as an integer"


class InvalidRequest(Problem):
    """Input the schema refuses, or that passed it but still makes no sense."""

    status = 422
    kind = "validation-error"
    title = "Invalid request"
    example = Example(
        f"path.code: {_NOT_AN_INTEGER}",
        "/vn/provinces/abc",
        [{"loc": ["path", "code"], "msg": _NOT_AN_INTEGER}],
    )

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        errors: Errors | None = None,
        error_count: int | None = None,
    ) -> None:
        if field is not None:
            errors = [{"loc": ["query", field], "msg": detail}]
        super().__init__(detail, errors=errors)
        self.error_count = error_count


class HTTPError(Problem):
    """Any other HTTP error the framework raises, with its own status."""

    status = 400
    kind = "http-error"
    title = "HTTP error"
    example = Example("There was an error parsing the body", "/orders")
    documented = False

    def __init__(self, detail: str, status: int, headers: Mapping[str, str] | None) -> None:
        super().__init__(detail, headers=headers)
        self.status = status


class ReferenceDataUnavailable(Problem):
    """No reference data to answer from (see Retry-After)."""

    status = 503
    kind = "reference-data-unavailable"
    title = "Reference data unavailable"
    example = Example("Reference data is not loaded yet; retry shortly.", "/countries")


class MalformedRequest(Problem):
    """The request itself is broken: an unreadable Content-Length, a body cut short."""

    status = 400
    kind = "malformed-request"
    title = "Malformed request"
    example = Example("The Content-Length header is not a length.", "/orders")
    documented = False


class TooBusy(Problem):
    """Under a server (not Lambda): every worker for this kind of work stayed busy for as
    long as a request may wait (REFDATA_QUEUE_TIMEOUT_SECONDS); see Retry-After."""

    status = 503
    kind = "too-busy"
    title = "Too busy"
    example = Example("Every database lane is busy; retry shortly.", "/orders")


class DatabaseUnavailable(Problem):
    """Unreachable, restarting, a statement timeout, or no pooled connection free in time."""

    status = 503
    kind = "database-unavailable"
    title = "Database unavailable"
    example = Example("The database could not complete the request; retry shortly.", "/orders")
    headers = MappingProxyType({"Retry-After": "2"})


class Conflict(Problem):
    """A UNIQUE, foreign key or NOT NULL constraint refused the values against stored data."""

    status = 409
    kind = "conflict"
    title = "Conflict"
    example = Example("The request conflicts with stored data.", "/orders")


class ConstraintViolation(Problem):
    """A CHECK constraint refused the values themselves."""

    status = 422
    kind = "constraint-violation"
    title = "Constraint violation"
    example = Example("The values break a rule of the database.", "/orders")


class InternalError(Problem):
    """A bug: the traceback goes to the log, the client learns only that it failed."""

    status = 500
    kind = "internal"
    title = "Internal error"
    example = Example("The request could not be served.", "/countries")
    documented = False


class ResponseNotEncodable(InternalError):
    """The app answered, but its response cannot be put into the integration's format."""

    status = 502
    example = Example("The response could not be encoded for this integration.", "/countries")


class BadEvent(Problem):
    """A Lambda event that is not an HTTP request this function can read."""

    status = 400
    kind = "bad-event"
    title = "Unreadable event"
    example = Example("The Lambda event is not an HTTP request this function can read.", "/")
    documented = False


# Bearer keys (app/kit/keys.py): the admin API's and the orders'.


class Unauthorized(Problem):
    status = 401
    kind = "unauthorized"
    title = "Authentication required"
    example = Example(
        "Send the admin key as 'Authorization: Bearer <key>'.", "/admin/cache/refresh"
    )
    headers = MappingProxyType({"WWW-Authenticate": "Bearer"})


class Forbidden(Problem):
    status = 403
    kind = "forbidden"
    title = "Forbidden"
    example = Example("That key is not the admin key.", "/admin/cache/refresh")


# The admin API (app/routes/admin.py).


class InvalidSetting(Problem):
    status = 422
    kind = "invalid-setting"
    title = "Invalid setting value"
    example = Example("'max_order_items' cannot be negative.", "/admin/settings/max_order_items")


class AdminKeyUnavailable(Problem):
    """The admin key is kept in a secret that cannot be read now (see Retry-After)."""

    status = 503
    kind = "admin-key-unavailable"
    title = "Admin key unavailable"
    example = Example("The admin key could not be read; retry shortly.", "/admin/cache/refresh")


class OrdersKeyUnavailable(Problem):
    """The orders key is kept in a secret that cannot be read now (see Retry-After)."""

    status = 503
    kind = "orders-key-unavailable"
    title = "Orders key unavailable"
    example = Example("The orders key could not be read; retry shortly.", "/orders")


# Orders (app/orders.py).


class IdempotencyKeyReused(Problem):
    """The key was first used with a different body."""

    status = 409
    kind = "idempotency-key-reused"
    title = "Idempotency key reused"
    example = Example(
        "This Idempotency-Key was already used with a different request body.", "/orders"
    )


class OrderingUnavailable(Problem):
    """The thresholds in the snapshot cannot price an order (a setting is missing or mistyped)."""

    status = 503
    kind = "ordering-unavailable"
    title = "Ordering unavailable"
    example = Example(
        "Setting 'max_order_items' is missing or not a non-negative integer.", "/orders"
    )


class OrderRejected(Problem, abstract=True):
    """A business rule refused the order; each rule is an entry of its own."""

    status = 422

    def __init__(self, detail: str, loc: Sequence[str | int]) -> None:
        super().__init__(detail, errors=[{"loc": ["body", *loc], "msg": detail}])

    @classmethod
    def rejection(cls, detail: str, *loc: str | int) -> Example:
        return Example(detail, "/orders", [{"loc": ["body", *loc], "msg": detail}])


class UnknownProvince(OrderRejected):
    kind = "unknown-province"
    title = "Unknown province"
    example = OrderRejected.rejection("No province with code 1.", "address", "province_code")


class UnknownWard(OrderRejected):
    kind = "unknown-ward"
    title = "Unknown ward"
    example = OrderRejected.rejection("No ward with code 1.", "address", "ward_code")


class WardNotInProvince(OrderRejected):
    kind = "ward-not-in-province"
    title = "Ward not in province"
    example = OrderRejected.rejection(
        "Ward 26740 is in province 79, not 1.", "address", "ward_code"
    )


class DuplicateSku(OrderRejected):
    kind = "duplicate-sku"
    title = "Duplicate SKU"
    example = OrderRejected.rejection(
        "SKU 'A' appears more than once; put the whole quantity on one line.", "lines", 1, "sku"
    )


class TooManyItems(OrderRejected):
    kind = "too-many-items"
    title = "Too many items"
    example = OrderRejected.rejection("The order has 3 items; max_order_items is 2.", "lines")


class OrderTotalTooHigh(OrderRejected):
    kind = "order-total-too-high"
    title = "Order total too high"
    example = OrderRejected.rejection(
        "The order total is 105000 VND (shipping included); max_order_total_vnd is 100000."
    )


ORDER_RULES: tuple[type[OrderRejected], ...] = (
    UnknownProvince,
    UnknownWard,
    WardNotInProvince,
    DuplicateSku,
    TooManyItems,
    OrderTotalTooHigh,
)


# Documentation: routes' `responses=` from the entries they raise. -------------------------

# Under application/problem+json only: a `model` would also declare application/json, which
# these responses never are. The schema is put into the document's components by
# app.responses.DocumentedAPI.
_PROBLEM_SCHEMA = schema_of(ProblemDetail, "validation")


def limits_documented(limit_of: Callable[[str], int]) -> Callable[[dict[str, Any]], None]:
    """An OpenAPI completion (DocumentedAPI): each operation's 413 example names the limit
    its path has in this app (`limit_of(path)`), not the default's."""

    def complete(document: dict[str, Any]) -> None:
        for path, operations in document.get("paths", {}).items():
            for operation in operations.values():
                answer = operation.get("responses", {}).get("413", {})
                example = answer.get("content", {}).get(MEDIA_TYPE, {}).get("example")
                if example is not None:
                    answer["content"][MEDIA_TYPE]["example"] = {
                        **example,
                        "detail": too_large(limit_of(path)),
                    }

    return complete


def responses(*entries: type[Problem]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations of the problems a route can give, one response per status.

    Its description lists every type it can carry; its example is the first entry's."""
    by_status: dict[int, list[type[Problem]]] = {}
    for entry in entries:
        by_status.setdefault(entry.status, []).append(entry)
    return {
        status: {
            "description": "\n".join(f"- `{e.type}`: {e.title}" for e in same),
            "content": {MEDIA_TYPE: {"schema": _PROBLEM_SCHEMA, "example": same[0].example_body()}},
        }
        for status, same in sorted(by_status.items())
    }


# The exception handlers: every error answered as an entry. --------------------------------
# Starlette types every handler as taking Exception; each is registered for one class only.


async def _problem(request: Request, exc: Exception) -> Response:
    return answer(request, cast(Problem, exc))


_HTTP_ENTRIES: dict[int, type[Problem]] = {
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
}


_INCOMPLETE_BODY = "The request body ended before its Content-Length."


async def _http_error(request: Request, exc: Exception) -> Response:
    error = cast(StarletteHTTPException, exc)
    status = error.status_code
    if status == 400 and isinstance(error.__cause__, ClientDisconnect):
        # FastAPI's 400 for a body it could not read: the client went away mid-body.
        return answer(request, MalformedRequest(_INCOMPLETE_BODY))
    if status == 400 and isinstance(error.__cause__, ValueError | RecursionError):
        # FastAPI's 400 for a body json.loads refused other than with JSONDecodeError (bytes
        # that are not UTF-8, nesting too deep): malformed input, a 422 like invalid JSON.
        msg = "The body is not valid JSON."
        return answer(
            request, InvalidRequest(f"body: {msg}", errors=[{"loc": ["body"], "msg": msg}])
        )
    entry = _HTTP_ENTRIES.get(status)
    detail = "No such route." if status == 404 else str(error.detail)
    if entry is None:
        return answer(request, HTTPError(detail, status, error.headers))
    return answer(request, entry(detail, headers=error.headers))


_INVALID_UUID = "Input should be a valid UUID"
# A 422 lists at most this many errors (and counts the rest): its size and the time spent on
# it stay small whatever the body holds.
MAX_ERRORS = 20


def invalid(errors: Sequence[Mapping[str, Any]], total: int | None = None) -> InvalidRequest:
    """The 422 for validation errors (pydantic's, or in their shape): the first MAX_ERRORS,
    with `loc` and `msg` only (echoing the input would reflect whatever the client sent; and
    pydantic's UUID message quotes the offending character, so it gets a fixed one)."""
    total = len(errors) if total is None else total
    listed: Errors = [
        {
            "loc": [str(part) for part in error["loc"]],
            "msg": _INVALID_UUID if error.get("type") == "uuid_parsing" else error["msg"],
        }
        for error in errors[:MAX_ERRORS]
    ]
    detail = "; ".join(".".join(e["loc"]) + ": " + e["msg"] for e in listed[:3]) or "Invalid input."
    if total > len(listed):
        detail += f" ({total:,} errors; the first {len(listed)} are listed.)"
    return InvalidRequest(detail, errors=listed, error_count=total)


async def _validation_error(request: Request, exc: Exception) -> Response:
    return answer(request, invalid(cast(RequestValidationError, exc).errors()))


async def _client_disconnect(request: Request, exc: Exception) -> Response:
    # The client closed the connection before its body was complete: its fault, not ours, and
    # nobody is left to read the answer. The request's own log line says 400; no traceback.
    return answer(request, MalformedRequest(_INCOMPLETE_BODY))


async def _busy(request: Request, exc: Exception) -> Response:
    busy = cast(Busy, exc)
    return answer(
        request,
        TooBusy(
            f"Every {busy.lanes} lane is busy; retry shortly.",
            headers={"Retry-After": str(busy.retry_after)},
        ),
    )


async def _cache_unavailable(request: Request, exc: Exception) -> Response:
    retry_after = str(cast(CacheUnavailable, exc).retry_after)
    return answer(
        request,
        ReferenceDataUnavailable(
            "Reference data is not loaded yet; retry shortly.", headers={"Retry-After": retry_after}
        ),
    )


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    # The class name is logged; the message (it may hold SQL or a host name) is not.
    logger.error("database error", extra={"path": request.url.path, "error": type(exc).__name__})
    return answer(
        request, DatabaseUnavailable("The database could not complete the request; retry shortly.")
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
    logger.warning(
        "constraint violated", extra={"path": request.url.path, "error": type(error.orig).__name__}
    )
    if _is_check_violation(error):
        return answer(request, ConstraintViolation("The values break a rule of the database."))
    return answer(request, Conflict("The request conflicts with stored data."))


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error", extra={"path": request.url.path})
    return answer(request, InternalError("The request could not be served."))


def install(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ClientDisconnect, _client_disconnect)
    app.add_exception_handler(Busy, _busy)
    app.add_exception_handler(CacheUnavailable, _cache_unavailable)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(Exception, _unexpected)
