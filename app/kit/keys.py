"""Bearer keys that guard groups of routes (the admin API, orders), checked before the body.

A key is in the environment (development) or in a secret by reference, read at INIT and read
again, at most once per back-off window, when a presented key does not match it (it may have
been rotated). Routes of a guarded router are made by `guarded_by(key)`: their handler checks
the key before FastAPI reads, parses or validates the body, so a caller without a key learns
nothing about what a valid body looks like (401 before 422).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Coroutine
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from pydantic import SecretStr

from app.kit.logs import logger
from app.kit.secrets import Secret, SecretUnavailable
from app.problems import Forbidden, Problem, Unauthorized
from app.responses import bearer_security


def _digest(secret: str) -> bytes:
    # Equal-length digests: the comparison reveals neither content nor the key's length.
    return hashlib.sha256(secret.encode()).digest()


def _matches(presented: bytes, key: str) -> bool:
    return hmac.compare_digest(presented, _digest(key))


class ApiKey:
    """One bearer key: `name` is what answers call it ("admin key"), `unavailable` the
    problem answered while its secret cannot be read."""

    def __init__(
        self,
        name: str,
        plain: SecretStr | None,
        secret: Secret[str] | None,
        unavailable: type[Problem],
    ) -> None:
        self.name = name
        self._plain = plain
        self.secret = secret
        self._unavailable = unavailable
        # For /docs: the lock on each guarded operation (nothing runs for it per request).
        self.security = bearer_security(
            name.title().replace(" ", ""), f"The {name} as a bearer token"
        )
        if plain is not None:
            self._plain_digest = _digest(plain.get_secret_value())  # once, not per request

    @property
    def problems(self) -> tuple[type[Problem], ...]:
        """What each route behind this key can answer before its own work starts."""
        return (Unauthorized, Forbidden, self._unavailable)

    @property
    def configured(self) -> bool:
        return self._plain is not None or self.secret is not None

    def load(self) -> None:
        """INIT: read a key kept by reference (never raises: a 503 until it is read)."""
        if self.secret is not None:
            self.secret.load()
        elif not self.configured:
            logger.warning(f"no {self.name} is configured: its routes refuse every caller")

    def _unreadable(self, retry_after: int) -> Problem:
        return self._unavailable(
            f"The {self.name} could not be read; retry shortly.",
            headers={"Retry-After": str(retry_after)},
        )

    async def check(self, authorization: str | None) -> None:
        """Pass, or raise the problem to answer: 401 without a bearer token, 403 with one
        that is not this key, 503 while the key cannot be read."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized(f"Send the {self.name} as 'Authorization: Bearer <key>'.")
        presented = _digest(token)
        if self.secret is None:  # the key itself is in the environment, or there is none
            if self._plain is None:
                raise Forbidden(f"No {self.name} is configured on this server.")
            if not hmac.compare_digest(presented, self._plain_digest):
                raise Forbidden(f"That key is not the {self.name}.")
            return
        await self._check_secret(self.secret, presented)

    async def _check_secret(self, secret: Secret[str], presented: bytes) -> None:
        # The key read at INIT; read again (off the event loop) only if it is not in memory,
        # or after a key that does not match it, at most once per back-off.
        key = secret.value
        try:
            if key is None:
                key = await anyio.to_thread.run_sync(secret.get)
        except SecretUnavailable as exc:
            raise self._unreadable(exc.retry_after) from None
        if _matches(presented, key):
            secret.accepted()
            return
        # Perhaps the key was rotated: read it again (at most once per fixed window).
        reread = await anyio.to_thread.run_sync(secret.rejected, key)
        if reread.unavailable is not None:  # the key cannot be checked now
            raise self._unreadable(reread.unavailable.retry_after)
        if reread.value is None or not _matches(presented, reread.value):
            raise Forbidden(f"That key is not the {self.name}.")
        secret.accepted()


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def guarded_by(key: ApiKey) -> type[APIRoute]:
    """A route class (`APIRouter(route_class=...)`) whose routes check `key` first: before
    FastAPI reads the body, so no request without the key costs a parse or a validation."""

    class Guarded(APIRoute):
        def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
            extra = options.get("openapi_extra") or {}
            options["openapi_extra"] = {**extra, "security": key.security}
            super().__init__(path, endpoint, **options)

        def get_route_handler(self) -> Handler:
            handle = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                await key.check(request.headers.get("authorization"))
                return await handle(request)

            return guarded

    return Guarded


def guarded_router(key: ApiKey, **options: Any) -> APIRouter:
    """An APIRouter (`options`: its prefix, tags…) whose routes answer only callers holding
    `key`, checked before the body (`guarded_by`), with the key's lock on each operation in
    /docs. Reads the key now: a router is made at INIT."""
    key.load()
    return APIRouter(route_class=guarded_by(key), **options)
