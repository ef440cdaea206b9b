"""The `q` parameter shared by list routes.

Read from the query string directly rather than declared as a FastAPI parameter: FastAPI
validates declared query parameters on every request even when absent, a large part of a
warm list invoke. It is declared for OpenAPI with `openapi_extra` instead, and
checked here with the same rules.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from app.kit.text import fold
from app.problems import InvalidRequest
from app.schemas import MAX_NAME_LENGTH, name_length
from app.snapshot.snapshot import Collection

# For the route decorators: `openapi_extra=SEARCH_DOCS`.
SEARCH_DOCS: dict[str, Any] = {
    "parameters": [
        {
            "name": "q",
            "in": "query",
            "required": False,
            "description": "Name contains this text; case, accents and punctuation are ignored",
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH},
            "example": "ho chi minh",
        }
    ]
}


def search(collection: Collection, request: Request) -> Collection:
    if not request.scope["query_string"]:
        return collection  # the common case, without parsing an empty query string
    q = request.query_params.get("q")
    if q is None:
        return collection
    if not 1 <= name_length(q) <= MAX_NAME_LENGTH:
        raise InvalidRequest(
            f"q must be 1 to {MAX_NAME_LENGTH} characters long, as written and once "
            "NFKC-normalised.",
            field="q",
        )
    folded = fold(q)
    if not folded:
        raise InvalidRequest("q must contain at least one letter or digit.", field="q")
    return collection.search(folded)
