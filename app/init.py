"""INIT: the one module that builds. Every process-wide object is made here, once, in this
order; every other module of `app` only defines (importing it connects to nothing).

1. settings, from the environment (a bad value stops here, naming the variable);
2. the logger (JSON lines on stderr, at the configured level);
3. the secrets, by reference, as configured (read by what needs them, when it first does);
4. the database: the engine, its sessions and lanes;
5. the reference cache, and its first load, on the engine's first connection (a database
   that is down does not stop INIT: reference routes answer 503 until a load succeeds);
6. the metrics (EMF, where they are on).

Imported by the entry points (app.main, app.lambda_handler) and by nothing else in `app`.
"""

from __future__ import annotations

from app.kit.db import Database
from app.kit.logs import configure
from app.kit.metrics import metrics_for
from app.kit.secrets import secrets_of
from app.kit.settings import load_settings
from app.services import Services
from app.snapshot.cache import Freshness, ReferenceCache

settings = load_settings()
logger = configure(settings.log_level)
secrets = secrets_of(settings)
database = Database(settings, secrets.database)
engine = database.engine
cache = ReferenceCache(database.engine, Freshness.of(settings))
cache.try_load()

services = Services(
    settings=settings,
    secrets=secrets,
    database=database,
    cache=cache,
    metrics=metrics_for(settings.emf_metrics),
)
