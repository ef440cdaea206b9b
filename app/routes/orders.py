"""Orders: quote from the cached thresholds, place with one INSERT, read back by id or page.

Every route requires the orders key (app/kit/keys.py), checked before the body is read. SQL runs
in a database lane (app/kit/db.py `in_session`): under uvicorn a worker thread that holds its
connection only while the statement runs, and the JSON is encoded there too; on Lambda,
inline.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Path, Query, Request, Response

from app import orders
from app.kit.keys import ApiKey, guarded_router
from app.problems import (
    ORDER_RULES,
    Conflict,
    ConstraintViolation,
    DatabaseUnavailable,
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    OrderingUnavailable,
    OrdersKeyUnavailable,
    PayloadTooLarge,
    ReferenceDataUnavailable,
    TooBusy,
    responses,
)
from app.routes import operation_id
from app.schemas import OrderCreate, OrderPage, OrderRead, QuoteRead
from app.services import Services

# An order is checked and priced from the snapshot's thresholds.
PRICING = (*ORDER_RULES, ReferenceDataUnavailable, OrderingUnavailable)


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Makes retries safe: the same key and body return the first order again; "
        "the same key with another body is a 409",
        examples=["8e03978e-40d5-43e8-bc93-6894a57f9324"],
    ),
]


def _json(body: bytes | str, status_code: int = 200) -> Response:
    return Response(body, status_code, media_type="application/json")


def _placed_json(done: tuple[OrderRead, bool]) -> tuple[OrderRead, bool, str]:
    placed, created = done
    return placed, created, placed.model_dump_json()


def _order_json(order: OrderRead) -> str:
    return order.model_dump_json()


def routes(services: Services) -> APIRouter:
    """The orders routes: priced from `services.cache`, stored through `services.database`,
    behind the orders key."""
    cache, in_session = services.cache, services.database.in_session
    settings = services.settings

    orders_key = ApiKey(
        "orders key", settings.orders_api_key, services.secrets.orders, OrdersKeyUnavailable
    )
    # What every orders route can answer before its own work starts.
    guard = orders_key.problems

    router = guarded_router(
        orders_key, prefix="/orders", tags=["orders"], generate_unique_id_function=operation_id
    )

    @router.post(
        "/quote",
        summary="Price an order without placing it",
        response_model=QuoteRead,
        responses=responses(*guard, PayloadTooLarge, InvalidRequest, *PRICING),
    )
    async def quote_order(order: OrderCreate) -> QuoteRead:
        """Price an order without storing it: subtotal, shipping fee, total. Runs no SQL."""
        return orders.quote(order, await cache.asnapshot())

    @router.post(
        "",
        summary="Place an order",
        status_code=201,
        response_model=OrderRead,
        responses=responses(
            *guard,
            IdempotencyKeyReused,
            Conflict,
            PayloadTooLarge,
            InvalidRequest,
            ConstraintViolation,
            *PRICING,
            DatabaseUnavailable,
            TooBusy,
        ),
    )
    async def create_order(
        order: OrderCreate,
        request: Request,
        idempotency_key: IdempotencyKey = None,
    ) -> Response:
        """Validate, price and store an order (`Location` names it). A replay of the same
        `Idempotency-Key` and body answers the same order with `Idempotent-Replayed: true`."""
        snapshot = await cache.asnapshot()
        placed, created, body = await in_session(
            request.scope,
            lambda session: orders.create_order(session, snapshot, order, idempotency_key),
            _placed_json,
        )
        response = _json(body, 201)
        response.headers["Location"] = f"{request.scope.get('root_path', '')}/orders/{placed.id}"
        if not created:
            response.headers["Idempotent-Replayed"] = "true"
        return response

    @router.get(
        "/{order_id}",
        summary="Get an order by id",
        response_model=OrderRead,
        responses=responses(*guard, NotFound, InvalidRequest, DatabaseUnavailable, TooBusy),
    )
    async def get_order(
        order_id: Annotated[UUID, Path(examples=["4c8e2932-0016-4dce-b129-7e9a606a6db7"])],
        request: Request,
    ) -> Response:
        """One order by id."""
        body = await in_session(
            request.scope, lambda session: orders.get_order(session, order_id), _order_json
        )
        return _json(body)

    @router.get(
        "",
        summary="List orders, newest first",
        response_model=OrderPage,
        responses=responses(*guard, InvalidRequest, DatabaseUnavailable, TooBusy),
    )
    async def list_orders(
        request: Request,
        limit: Annotated[
            int, Query(ge=1, le=100, description="Orders per page", examples=[20])
        ] = 20,
        cursor: Annotated[
            str | None,
            Query(
                pattern=orders.CURSOR_PATTERN,
                description="`next_cursor` of the previous page",
                examples=["AAZhM_9haohMjikyABZNzrEpfppgam23"],
            ),
        ] = None,
    ) -> Response:
        """Orders, newest first, a page at a time (a page holds fewer than `limit` when its
        orders would pass 1 MiB of JSON; `next_cursor` goes on from there)."""
        body = await in_session(
            request.scope,
            lambda session: orders.list_orders(session, limit, cursor),
            orders.encode_page,
        )
        return _json(body)

    return router
