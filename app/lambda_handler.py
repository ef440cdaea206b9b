"""AWS Lambda entry point: `app.lambda_handler.handler`."""

from __future__ import annotations

import gc
import time

from mangum import Mangum

from app import INIT_STARTED
from app.config import settings
from app.db import engine
from app.logs import logger
from app.main import app
from app.problems import MEDIA_TYPE
from app.reference import cache

# lifespan="off": Mangum runs lifespan startup and shutdown on every invoke, so everything
# long-lived is built at import instead (see app.db and app.reference).
handler = Mangum(
    app,
    lifespan="off",
    api_gateway_base_path=settings.api_gateway_base_path,
    text_mime_types=["text/", "application/json", "application/javascript", MEDIA_TYPE],
)


def before_snapshot() -> None:
    """SnapStart: a snapshot must not carry open sockets; the restored copies would share them."""
    engine.dispose()
    logger.info("snapstart: pool disposed before snapshot")


def after_restore() -> None:
    """SnapStart: the snapshot may be days old; reconnect and reload the reference data."""
    loaded = cache.try_load()
    logger.info("snapstart: restored", extra={"cache_loaded": loaded is not None})


try:
    # Present only in the Lambda Python runtime (or with snapshot-restore-py installed).
    from snapshot_restore_py import register_after_restore, register_before_snapshot
except ImportError:
    pass
else:
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)

# Everything allocated so far lives as long as the environment: keep the collector off it.
gc.freeze()

logger.info(
    "init complete",
    extra={
        "init_ms": round((time.perf_counter() - INIT_STARTED) * 1000, 1),
        "cache_loaded": cache.current is not None,
    },
)
