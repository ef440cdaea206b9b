"""AWS Lambda entry point: `app.lambda_handler.handler`."""

from __future__ import annotations

import gc

from mangum import Mangum

from app.main import app
from app.problems import MEDIA_TYPE

# lifespan="off": Mangum runs lifespan startup and shutdown on every invoke, so everything
# long-lived is built at import instead (see app.db and app.reference).
handler = Mangum(
    app,
    lifespan="off",
    text_mime_types=["text/", "application/json", "application/javascript", MEDIA_TYPE],
)

# Everything allocated so far lives as long as the environment: keep the collector off it.
gc.freeze()
