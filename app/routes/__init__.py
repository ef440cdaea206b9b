"""One router per resource; each route reads the current snapshot and returns its bytes."""

from __future__ import annotations

from fastapi.routing import APIRoute


def operation_id(route: APIRoute) -> str:
    """An operation's id is its function's name (`list_countries`): what /docs links to and
    what a generated client calls the function. Every router is made with it."""
    return route.name
