"""`make run`'s server: uvicorn serves the same app, and /docs opens."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from harness.databases import Database
from harness.servers import Uvicorn


@pytest.fixture(scope="module")
def server(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log_path = tmp_path_factory.mktemp("uvicorn") / "stderr.log"
    with Uvicorn({"REFDATA_DATABASE_URL": database.url}, log_path) as uvicorn:
        yield f"http://127.0.0.1:{uvicorn.port}"


def fetch(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
            return response.status, response.headers["content-type"], response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers["content-type"], error.read()


def test_docs_page_and_openapi_are_served(server: str) -> None:
    status, content_type, body = fetch(f"{server}/docs")
    assert status == 200
    assert content_type.startswith("text/html")
    assert b"swagger" in body.lower()
    status, _, body = fetch(f"{server}/openapi.json")
    assert status == 200
    paths = json.loads(body)["paths"]
    assert "/vn/provinces/{code}/wards" in paths


def test_reference_routes_answer_over_http(server: str) -> None:
    status, content_type, body = fetch(f"{server}/countries/vnm")
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body)["alpha_2"] == "VN"
    status, content_type, body = fetch(f"{server}/countries/ZZ")
    assert (status, content_type) == (404, "application/problem+json")
