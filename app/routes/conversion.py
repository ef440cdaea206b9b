"""Old Vietnamese addresses → today's units: successors, predecessors and batches.

Every answer comes from the snapshot (app/conversion.py): no SQL, and after an old unit's
first lookup, no encoding either. GETs carry an ETag (304 on a match) like every reference
route; POST /vn/convert answers a batch of up to 500 old addresses in one call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError
from pydantic_core import from_json

from app.conversion import Conversions, conversions
from app.datasets import (
    VN_LEGACY_DISTRICTS,
    VN_LEGACY_PROVINCES,
    VN_LEGACY_WARDS,
    VN_WARDS,
    Dataset,
    Tag,
)
from app.kit.lanes import Lanes
from app.problems import (
    MAX_ERRORS,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    ReferenceDataUnavailable,
    TooBusy,
    invalid,
    responses,
)
from app.responses import CachedJSON, cached_headers, ok, schema_of
from app.routes import operation_id
from app.routes.datasets import not_found
from app.schemas import (
    MAX_CONVERT_ITEMS,
    MAX_NAME_LENGTH,
    Conversion,
    ConvertRequest,
    ConvertResponse,
    Predecessors,
    name_length,
)
from app.services import Services
from app.snapshot.snapshot import Item, Snapshot

# Not a dataset's tag: these routes answer from several datasets, and are not the generic ones.
TAG = Tag(
    "vietnam-conversion",
    "Old addresses (before 1 July 2025) to today's units, and back: from the official "
    "conversion table, answered from memory.",
)

# An old or new unit's code, looked up in the snapshot.
LOOKUP = (NotFound, InvalidRequest, ReferenceDataUnavailable)

OldWardCode = Annotated[int, VN_LEGACY_WARDS.lookup.path]
OldDistrictCode = Annotated[int, VN_LEGACY_DISTRICTS.lookup.path]
OldProvinceCode = Annotated[int, VN_LEGACY_PROVINCES.lookup.path]
WardCode = Annotated[int, VN_WARDS.lookup.path]

_KINDS = (
    "Each new ward says how the old unit went into it: `whole` (all of it, with others), "
    "`part`, or `unchanged`."
)


def routes(services: Services) -> APIRouter:
    """The conversion routes, answered from `services.cache`."""
    router = APIRouter(tags=[TAG.name], generate_unique_id_function=operation_id)
    cache, config = services.cache, services.settings
    headers = cached_headers(config.http_max_age_seconds)
    # Batches under a server: at most this many at once, each in a worker thread.
    conversion_lanes = Lanes("conversion", config.convert_workers, config.queue_timeout_seconds)

    async def answer(
        dataset: Dataset, code: int, lookup: Callable[[Conversions, int], Item | None]
    ) -> Response:
        found = lookup(conversions(await cache.asnapshot()), code)
        if found is None:
            raise not_found(dataset, code)  # as the dataset's own routes say it
        return CachedJSON(found.body, found.etag, headers)

    @router.get(
        "/vn/legacy/wards/{code}/successors",
        summary="What an old ward is now",
        description="The new ward(s) and province an old ward went into. A ward split between "
        "several new wards is `ambiguous` and lists every candidate, never a single guess; the one "
        f"the official table gives the whole population is marked `default`. {_KINDS}",
        response_model=None,
        responses={**ok(Conversion), **responses(*LOOKUP)},
    )
    async def get_vn_legacy_ward_successors(code: OldWardCode) -> Response:
        return await answer(VN_LEGACY_WARDS, code, Conversions.ward)

    @router.get(
        "/vn/legacy/districts/{code}/successors",
        summary="What an old district is now",
        description="The new wards an old district's area went into, and its new province. The "
        "district level was abolished: one new ward is `resolved` (island districts became "
        "special zones), several are `ambiguous`.",
        response_model=None,
        responses={**ok(Conversion), **responses(*LOOKUP)},
    )
    async def get_vn_legacy_district_successors(code: OldDistrictCode) -> Response:
        return await answer(VN_LEGACY_DISTRICTS, code, Conversions.district)

    @router.get(
        "/vn/legacy/provinces/{code}/successors",
        summary="What an old province is now",
        description="The new province an old province went into, whole: `unchanged` when alone, "
        "`whole` when merged with others. (Its wards are not listed: ask for each ward.)",
        response_model=None,
        responses={**ok(Conversion), **responses(*LOOKUP)},
    )
    async def get_vn_legacy_province_successors(code: OldProvinceCode) -> Response:
        return await answer(VN_LEGACY_PROVINCES, code, Conversions.province)

    @router.get(
        "/vn/wards/{code}/predecessors",
        summary="What a new ward was formed from",
        description="The old wards (and, for special zones, districts) a ward of today was formed "
        f"from, each with how it went in. {_KINDS}",
        response_model=None,
        responses={**ok(Predecessors), **responses(*LOOKUP)},
    )
    async def get_vn_ward_predecessors(code: WardCode) -> Response:
        return await answer(VN_WARDS, code, Conversions.predecessors)

    @router.post(
        "/vn/convert",
        summary="Convert a batch of old addresses",
        description=f"Up to {MAX_CONVERT_ITEMS:,} old addresses, each by code (`ward_code`, "
        "`district_code` or `province_code`) or by names (`province`, with `district` and `ward` "
        "when known). Names match ignoring case, accents and punctuation; the type words are "
        "optional and TP., T., Q., H., TX., P., X., TT. are understood. The answers are in the "
        "order given, each `resolved`, `ambiguous` (every candidate listed), `not_found` "
        "(`unmatched` says which part) or `invalid` (the item is malformed): one bad item never "
        "fails the batch. Only a name over 100 characters (as written or once NFKC-normalised: no "
        "address has one) makes the whole batch a 422, before any item is converted. Runs no SQL.",
        response_model=None,
        responses={
            **ok(ConvertResponse),
            **responses(PayloadTooLarge, InvalidRequest, ReferenceDataUnavailable, TooBusy),
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": schema_of(ConvertRequest, "validation")}
                },
            }
        },
    )
    async def convert_vn_addresses(request: Request) -> Response:
        body = await request.body()  # a client gone mid-body: ClientDisconnect, a 400
        snapshot = await cache.asnapshot()
        # A batch is parsed, validated and answered off the event loop (on Lambda, inline).
        answers = await conversion_lanes.run(request.scope, _convert, snapshot, body)
        return Response(answers, media_type="application/json")

    return router


def _convert(snapshot: Snapshot, body: bytes) -> bytes:
    return conversions(snapshot).convert(read_batch(body).items)


_NOT_JSON = "Invalid JSON: the body is not a JSON document"


def read_batch(body: bytes) -> ConvertRequest:
    """The batch in `body`, or the 422. The body's shape is checked before pydantic reads it:
    pydantic makes one error per unknown key, and validates every item of a list before it
    counts them, so a megabyte of either would cost a second and a 422 of megabytes.
    (The validator is built on the first batch, not at INIT.)"""
    try:
        document = from_json(body)
    except ValueError:
        raise invalid([{"loc": ["body"], "msg": _NOT_JSON}]) from None
    if isinstance(document, dict):
        unknown = [key for key in document if key != "items"]
        if unknown:
            listed = unknown[:MAX_ERRORS]
            raise invalid(
                [{"loc": ["body", key], "msg": "Extra inputs are not permitted"} for key in listed],
                len(unknown),
            )
        items = document.get("items")
        if isinstance(items, list):
            if len(items) > MAX_CONVERT_ITEMS:
                raise invalid(
                    [
                        {
                            "loc": ["body", "items"],
                            "msg": f"List should have at most {MAX_CONVERT_ITEMS} items, "
                            f"not {len(items)}",
                        }
                    ]
                )
            over_long = list(_over_long_names(items))
            if over_long:
                raise invalid(over_long[:MAX_ERRORS], len(over_long))
    try:
        return ConvertRequest.model_validate(document)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        raise invalid([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


_NAMES = ("province", "district", "ward")
_OVER_LONG = f"Names are at most {MAX_NAME_LENGTH} characters, as written and once NFKC-normalised"


def _over_long_names(items: list[Any]) -> Iterator[dict[str, Any]]:
    """An error for each name longer than any unit's: no item of the batch is converted. (A
    malformed item is answered `invalid` in the batch; a name this long is not one a real
    address carries, and would only cost work.)"""
    for index, item in enumerate(items):
        if isinstance(item, dict):
            for field in _NAMES:
                name = item.get(field)
                if isinstance(name, str) and name_length(name) > MAX_NAME_LENGTH:
                    yield {"loc": ["body", "items", index, field], "msg": _OVER_LONG}
