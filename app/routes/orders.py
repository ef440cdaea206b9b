"""Orders: quote from the cached thresholds, place with one INSERT, read back by id or page."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Path, Query, Request, Response

from app import orders
from app.db import SessionDep
from app.problems import (
    ORDER_RULES,
    Conflict,
    ConstraintViolation,
    DatabaseUnavailable,
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    OrderingUnavailable,
    PayloadTooLarge,
    ReferenceDataUnavailable,
    responses,
)
from app.reference import cache
from app.routes import operation_id
from app.schemas import OrderCreate, OrderPage, OrderRead, QuoteRead

# An order is checked and priced from the snapshot's thresholds.
PRICING = (*ORDER_RULES, ReferenceDataUnavailable, OrderingUnavailable)

router = APIRouter(prefix="/orders", tags=["orders"], generate_unique_id_function=operation_id)

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


@router.post(
    "/quote",
    summary="Price an order without placing it",
    response_model=QuoteRead,
    responses=responses(PayloadTooLarge, InvalidRequest, *PRICING),
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
        IdempotencyKeyReused,
        Conflict,
        PayloadTooLarge,
        InvalidRequest,
        ConstraintViolation,
        *PRICING,
        DatabaseUnavailable,
    ),
)
def create_order(
    order: OrderCreate,
    session: SessionDep,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> OrderRead:
    """Validate, price and store an order (`Location` names it). A replay of the same
    `Idempotency-Key` and body answers the same order with `Idempotent-Replayed: true`."""
    placed, created = orders.create_order(session, cache.snapshot(), order, idempotency_key)
    response.headers["Location"] = f"{request.scope.get('root_path', '')}/orders/{placed.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return placed


@router.get(
    "/{order_id}",
    summary="Get an order by id",
    response_model=OrderRead,
    responses=responses(NotFound, InvalidRequest, DatabaseUnavailable),
)
def get_order(
    order_id: Annotated[UUID, Path(examples=["4c8e2932-0016-4dce-b129-7e9a606a6db7"])],
    session: SessionDep,
) -> OrderRead:
    """One order by id."""
    return orders.get_order(session, order_id)


@router.get(
    "",
    summary="List orders, newest first",
    response_model=OrderPage,
    responses=responses(InvalidRequest, DatabaseUnavailable),
)
def list_orders(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Orders per page", examples=[20])] = 20,
    cursor: Annotated[
        str | None,
        Query(
            pattern=orders.CURSOR_PATTERN,
            description="`next_cursor` of the previous page",
            examples=["AAZhM_9haohMjikyABZNzrEpfppgam23"],
        ),
    ] = None,
) -> OrderPage:
    """Orders, newest first, a page at a time."""
    return orders.list_orders(session, limit, cursor)
