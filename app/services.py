"""`Services`: what INIT builds once per process (app/init.py), handed to what serves requests.

Defined here, built there: the routers are made from a `Services` (`routes(services)`), so
none of them reaches for a module global, and a test can serve any cache it builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

    from app.kit.db import Database
    from app.kit.secrets import Secrets
    from app.kit.settings import Settings
    from app.snapshot.cache import ReferenceCache


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    secrets: Secrets  # by reference, as configured (None each: not by reference)
    database: Database
    cache: ReferenceCache
    metrics: Metrics | None  # None: EMF off
