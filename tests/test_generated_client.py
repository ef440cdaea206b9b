"""A client generated from /openapi.json calls the service by the operations' own names.

openapi-python-client reads the document a real uvicorn serves (a file: no network) and
writes a package into a temporary directory, once for the module; the tests import it and
call the service through it over HTTP. Its functions are named by the operationIds, which
are the routes' function names: `list_countries`, not `list_countries_countries_get`.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.databases import Database
from harness.datasets import DATASET_ROUTES
from harness.servers import Uvicorn

PACKAGE = "refdata_client"
# No post-generation hooks: they would run ruff from PATH on the generated code.
CONFIG = "post_hooks: []\n"


@pytest.fixture(scope="module")
def server(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log_path = tmp_path_factory.mktemp("uvicorn") / "stderr.log"
    with Uvicorn({"REFDATA_DATABASE_URL": database.url}, log_path) as uvicorn:
        yield uvicorn.base_url


@pytest.fixture(scope="module")
def generated(server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The client's package directory, importable as PACKAGE while the module runs."""
    root = tmp_path_factory.mktemp("client")
    spec, config, out = root / "openapi.json", root / "config.yaml", root / PACKAGE
    with urllib.request.urlopen(f"{server}/openapi.json", timeout=10) as response:  # noqa: S310
        spec.write_bytes(response.read())
    config.write_text(CONFIG)
    options = {"--path": spec, "--output-path": out, "--meta": "none", "--config": config}
    command = ["generate", *(str(part) for option in options.items() for part in option)]
    result = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(root))
    try:
        yield out
    finally:
        sys.path.remove(str(root))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def operation(generated: Path, tag: str, name: str) -> Any:
    """The generated module of one operation: `sync`, `sync_detailed`, `asyncio`."""
    return importlib.import_module(f"{PACKAGE}.api.{tag}.{name}")


@pytest.fixture(scope="module")
def client(generated: Path, server: str) -> Iterator[Any]:
    make = importlib.import_module(PACKAGE).Client
    with make(base_url=server, raise_on_unexpected_status=True) as client:  # closes its sockets
        yield client


def test_the_functions_are_named_by_the_operations(generated: Path) -> None:
    modules = {path.stem for path in (generated / "api").glob("*/*.py") if path.stem != "__init__"}
    assert {route.route.name for route in DATASET_ROUTES} <= modules
    assert {"health", "quote_order", "create_order", "get_order", "list_orders"} <= modules
    assert not [name for name in modules if name.endswith(("_get", "_post", "_put"))]


def test_list_and_search_countries(generated: Path, client: Any) -> None:
    list_countries = operation(generated, "countries", "list_countries")
    countries = list_countries.sync(client=client)
    assert len(countries) == 249
    assert type(countries[0]).__name__ == "CountryRead"
    assert [country.alpha_2 for country in list_countries.sync(client=client, q="viet")] == ["VN"]


def test_get_a_country_by_any_code(generated: Path, client: Any) -> None:
    get_country = operation(generated, "countries", "get_country")
    for code in ("VN", "vnm", "704"):
        country = get_country.sync(code, client=client)
        assert (country.alpha_2, country.alpha_3, country.numeric) == ("VN", "VNM", "704")
        assert country.name == "Viet Nam"
    unknown = get_country.sync_detailed("ZZ", client=client)
    assert unknown.status_code == 404
    assert unknown.parsed.type_ == "urn:refdata:problem:not-found"


def test_search_a_provinces_wards(generated: Path, client: Any) -> None:
    list_wards = operation(generated, "vietnam", "list_vn_province_wards")
    (ward,) = list_wards.sync(79, client=client, q="sai gon")
    assert (ward.code, ward.name, ward.province_code) == (26740, "Phường Sài Gòn", 79)
    assert len(list_wards.sync(79, client=client)) > 100


def test_settings_come_back_typed(generated: Path, client: Any) -> None:
    get_setting = operation(generated, "settings", "get_setting")
    threshold = get_setting.sync("max_order_total_vnd", client=client)
    assert (threshold.key, threshold.value, threshold.value_type) == (
        "max_order_total_vnd",
        50_000_000,
        "int",
    )
    assert get_setting.sync("currency", client=client).value == "VND"
