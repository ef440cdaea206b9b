"""The four designs under test, and how each is imported, served and configured."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness import ORDERS_KEY


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    module: str  # imported by bench.worker; has `handler`
    asgi: str  # served by uvicorn
    env: dict[str, str] = field(default_factory=dict)
    orders: bool = False  # also time POST /orders/quote and POST /orders (refdata only)


NO_GLOBALS = Variant(
    "a", "(a) no globals", "bench.designs.no_globals", "bench.designs.no_globals:app"
)
ENGINE_AT_INIT = Variant(
    "b", "(b) engine at INIT", "bench.designs.engine_at_init", "bench.designs.engine_at_init:app"
)
# refdata as deployed: its JSON log line per request (INFO) is part of the production cost;
# the worker's stderr goes to a file, not the terminal.
REFDATA = Variant(
    "c",
    "(c) refdata",
    "app.lambda_handler",
    "app.main:app",
    {"REFDATA_LOG_LEVEL": "INFO", "REFDATA_ORDERS_API_KEY": ORDERS_KEY},
    orders=True,
)
REFDATA_QUIET = Variant(
    "c-quiet",
    "(c) refdata, log WARNING",
    "app.lambda_handler",
    "app.main:app",
    {"REFDATA_LOG_LEVEL": "WARNING", "REFDATA_ORDERS_API_KEY": ORDERS_KEY},
)
FLOOR = Variant("d", "(d) framework floor", "bench.designs.floor", "bench.designs.floor:app")

WARM = (NO_GLOBALS, ENGINE_AT_INIT, REFDATA, REFDATA_QUIET, FLOOR)
BY_KEY = {variant.key: variant for variant in WARM}

# The routes every design serves, with the same JSON.
ROUTES = {"list": "/countries", "item": "/countries/VN"}
