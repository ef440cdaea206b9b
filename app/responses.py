"""Responses from pre-encoded bytes, and the OpenAPI document of models that build no
validator. Conditional requests (If-None-Match → 304) are answered by app.kit.edge.Edge
from the ETag these carry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Response
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

REF_TEMPLATE = "#/components/schemas/{model}"

Headers = tuple[tuple[bytes, bytes], ...]


def cached_headers(max_age_seconds: int) -> Headers:
    """The headers every CachedJSON of an app carries: made once, by the routes' factory."""
    return (
        (b"cache-control", f"public, max-age={max_age_seconds}".encode()),
        (b"content-type", b"application/json"),
    )


class CachedJSON(Response):
    """200 with bytes encoded at INIT. The headers are built here directly: Starlette's
    generic header handling is measurable on a response this cheap."""

    media_type = "application/json"

    def __init__(self, body: bytes, etag: str, same_for_all: Headers) -> None:
        self.status_code = 200
        self.background = None
        self.body = body
        self.raw_headers = [
            (b"etag", etag.encode()),
            (b"content-length", b"%d" % len(body)),
            *same_for_all,
        ]


# Bearer keys routes are guarded by, by scheme name: documented, not run (app/kit/keys.py checks
# them), so a guarded request pays for no security dependency.
_SECURITY: dict[str, dict[str, str]] = {}


def bearer_security(name: str, description: str) -> list[dict[str, list[str]]]:
    """An operation's `security` (its `openapi_extra`): a bearer token of scheme `name`."""
    _SECURITY[name] = {"type": "http", "scheme": "bearer", "description": description}
    return [{name: []}]


# Models that document a route's body without FastAPI building a validator for them at INIT
# (routes answer pre-encoded bytes, or validate their body themselves): their JSON schemas
# are made when /openapi.json is first asked for, and put into its components.
_DOCUMENTED: dict[str, tuple[type[BaseModel], JsonSchemaMode]] = {}


def schema_of(model: type[BaseModel], mode: JsonSchemaMode = "serialization") -> dict[str, str]:
    """A reference to `model`'s schema in the document's components."""
    _DOCUMENTED[model.__name__] = (model, mode)
    return {"$ref": f"{REF_TEMPLATE.format(model=model.__name__)}"}


def ok(model: type[BaseModel], *, many: bool = False) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a 200 with `model` (or a list of them) as its JSON body."""
    schema: dict[str, Any] = schema_of(model)
    if many:
        schema = {"type": "array", "items": schema}
    return {
        200: {
            "description": "Successful Response",
            "content": {"application/json": {"schema": schema}},
        }
    }


class DocumentedAPI(FastAPI):
    """FastAPI, whose OpenAPI document also holds the schemas of the models routes point at
    with `schema_of` (the problem document among them) and the bearer schemes of
    `bearer_security`."""

    _completed: dict[str, Any] | None = None

    def __init__(
        self, *, completions: Sequence[Callable[[dict[str, Any]], None]] = (), **options: Any
    ) -> None:
        """`completions`: steps run on each new document (what depends on this app's
        settings, say), after FastAPI made it."""
        super().__init__(**options)
        self.completions = tuple(completions)

    def openapi(self) -> dict[str, Any]:
        document = super().openapi()  # made once, and again only if the routes change
        if document is not self._completed:
            for complete in self.completions:
                complete(document)
            components = document.setdefault("components", {})
            if _SECURITY:
                components.setdefault("securitySchemes", {}).update(_SECURITY)
            schemas = components.setdefault("schemas", {})
            for name, (model, mode) in _DOCUMENTED.items():
                schema = model.model_json_schema(ref_template=REF_TEMPLATE, mode=mode)
                for defined, definition in schema.pop("$defs", {}).items():
                    schemas.setdefault(defined, definition)
                schemas[name] = schema
            self._completed = document
        return document
