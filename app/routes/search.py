"""The `q` parameter shared by list routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from app.problems import BadRequest
from app.reference import Collection, fold

SearchQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=100,
        description="Name contains this text; case, accents and punctuation are ignored",
        examples=["ho chi minh"],
    ),
]


def search(collection: Collection, q: str | None) -> Collection:
    if q is None:
        return collection
    folded = fold(q)
    if not folded:
        raise BadRequest("q must contain at least one letter or digit.", field="q")
    return collection.search(folded)
