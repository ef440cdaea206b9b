"""/docs and /redoc work anywhere, and the OpenAPI document reads without the code.

The pages are checked here through the real Mangum handler (behind a REST stage too); a
real browser loads them in tests/test_docs_browser.py.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from app import __version__
from app.routes import docs
from tests.datasets import DATASET_TAGS
from tests.events import Event, LambdaContext, http_v2, rest_v1
from tests.support import Database, invoke, run_python

# Tags of the routes that read the reference snapshot: each can answer 503 while it is cold.
REFERENCE_TAGS = DATASET_TAGS
# Error responses that are not problem documents: /health's 503 is its usual body.
NOT_PROBLEMS = {("get", "/health", "503")}
PROBLEM_REF = "#/components/schemas/ProblemDetail"

Operation = tuple[str, str, dict[str, Any]]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    reply = invoke(http_v2("GET", "/openapi.json"))
    assert reply.status == 200
    document: dict[str, Any] = reply.json()
    return document


@pytest.fixture(scope="module")
def operations(document: dict[str, Any]) -> list[Operation]:
    found = [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]
    assert found
    return found


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The component a schema points at, through one level of array."""
    schema = schema.get("items", schema)
    if "$ref" in schema:
        resolved: dict[str, Any] = document["components"]["schemas"][schema["$ref"].split("/")[-1]]
        return resolved
    return schema


def has_example(thing: dict[str, Any]) -> bool:
    return bool(thing.get("example") or thing.get("examples"))


class TestOpenAPIDocument:
    def test_info_names_the_service_and_its_version(self, document: dict[str, Any]) -> None:
        info = document["info"]
        assert info["title"] == "refdata"
        assert info["version"] == __version__
        assert info["summary"]
        assert "application/problem+json" in info["description"]

    def test_every_operation_has_a_summary_of_its_own(self, operations: list[Operation]) -> None:
        # Without one FastAPI titles the function's name ("List Countries"): not enough.
        generated = []
        for method, path, operation in operations:
            name = operation["operationId"]
            if operation.get("summary", "") in ("", name.replace("_", " ").title()):
                generated.append(f"{method} {path}")
        assert not generated, f"no summary of their own: {generated}"

    def test_operation_ids_are_function_names(self, operations: list[Operation]) -> None:
        # `list_countries`, not FastAPI's default `list_countries_countries_get`: what a
        # generated client names its functions.
        ids = [operation["operationId"] for _, _, operation in operations]
        assert len(set(ids)) == len(ids)
        assert all(re.fullmatch(r"[a-z][a-z0-9_]*", i) for i in ids), ids
        suffixed = [
            i for (method, _, _), i in zip(operations, ids, strict=True) if i.endswith(method)
        ]
        assert not suffixed, f"path and method in the id: {suffixed}"

    def test_every_operation_is_tagged_with_a_described_tag(
        self, document: dict[str, Any], operations: list[Operation]
    ) -> None:
        described = {tag["name"] for tag in document["tags"] if tag.get("description")}
        untagged = [
            f"{method} {path}"
            for method, path, operation in operations
            if not operation.get("tags") or not set(operation["tags"]) <= described
        ]
        assert not untagged, f"tag missing or undescribed: {untagged}"

    def test_every_success_has_a_response_model_with_an_example(
        self, document: dict[str, Any], operations: list[Operation]
    ) -> None:
        missing = []
        for method, path, operation in operations:
            success = [code for code in operation["responses"] if code.startswith("2")]
            assert len(success) == 1, f"{method} {path}"
            content = operation["responses"][success[0]].get("content", {})
            media = content.get("application/json", {})
            schema = media.get("schema")
            if not schema or not (has_example(media) or has_example(resolve(document, schema))):
                missing.append(f"{method} {path}")
        assert not missing, f"no example: {missing}"

    def test_every_input_has_an_example(
        self, document: dict[str, Any], operations: list[Operation]
    ) -> None:
        missing = []
        for method, path, operation in operations:
            for parameter in operation.get("parameters", []):
                if not has_example(parameter) and not has_example(parameter["schema"]):
                    missing.append(f"{method} {path} {parameter['in']} {parameter['name']}")
            if "requestBody" in operation:
                schema = operation["requestBody"]["content"]["application/json"]["schema"]
                if not has_example(resolve(document, schema)):
                    missing.append(f"{method} {path} body")
        assert not missing, f"no example: {missing}"

    def test_errors_are_declared_as_problem_json_only(self, operations: list[Operation]) -> None:
        for method, path, operation in operations:
            for code, response in operation["responses"].items():
                if int(code) < 400 or (method, path, code) in NOT_PROBLEMS:
                    continue
                where = f"{method} {path} {code}"
                assert list(response["content"]) == ["application/problem+json"], where
                declared = response["content"]["application/problem+json"]
                assert declared["schema"] == {"$ref": PROBLEM_REF}, where
                assert declared["example"]["status"] == int(code), where
                assert declared["example"]["type"].startswith("urn:refdata:problem:"), where

    def test_every_route_declares_the_problems_it_can_give(
        self, operations: list[Operation]
    ) -> None:
        undeclared = []
        for method, path, operation in operations:
            expected = set()
            if operation.get("parameters") or "requestBody" in operation:
                expected.add("422")
            if "{" in path:
                expected.add("404")
            if "requestBody" in operation:
                expected.add("413")  # REFDATA_MAX_BODY_BYTES
            if set(operation.get("tags", [])) & REFERENCE_TAGS:
                expected.add("503")
            undeclared += [f"{method} {path} {c}" for c in expected - set(operation["responses"])]
        assert not undeclared, f"problem not declared: {undeclared}"

    def test_problem_detail_is_the_one_error_schema(self, document: dict[str, Any]) -> None:
        schemas = document["components"]["schemas"]
        assert schemas["ProblemDetail"]["required"] == ["type", "title", "status", "detail"]
        assert has_example(schemas["ProblemDetail"])
        # FastAPI's default 422 body is what an undeclared 422 would document.
        assert "HTTPValidationError" not in schemas

    def test_the_doc_pages_are_not_operations(self, document: dict[str, Any]) -> None:
        assert not [path for path in document["paths"] if path.startswith(("/docs", "/redoc"))]


def call(event: Event) -> dict[str, Any]:
    """The raw Lambda response, isBase64Encoded included."""
    from app.lambda_handler import handler

    response: dict[str, Any] = handler(event, LambdaContext())
    return response


def header(response: dict[str, Any], name: str) -> str:
    headers: dict[str, str] = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    for key, values in (response.get("multiValueHeaders") or {}).items():
        headers[key.lower()] = ", ".join(values)
    return headers[name]


def body(response: dict[str, Any]) -> bytes:
    if response["isBase64Encoded"]:
        return base64.b64decode(response["body"])
    text: str = response["body"]
    return text.encode()


def referenced(page: bytes) -> list[str]:
    return [
        m.decode() for m in re.findall(rb'(?:src|href|spec-url|data-openapi-url)="([^"]*)"', page)
    ]


class TestPagesThroughLambda:
    """Every asset comes from the service: under the stage prefix, with the right types."""

    @pytest.mark.parametrize("page", ["/docs", "/redoc"])
    def test_pages_reference_only_the_service_behind_a_rest_stage(self, page: str) -> None:
        response = call(rest_v1("GET", page, stage="prod"))
        assert response["statusCode"] == 200
        assert header(response, "content-type") == "text/html; charset=utf-8"
        html = body(response)
        assert b"://" not in html  # no CDN, no absolute URL of any kind
        urls = referenced(html)
        assert "/prod/openapi.json" in urls
        assert [u for u in urls if not u.startswith("/prod/")] == []
        assert "script-src 'self';" in header(response, "content-security-policy")
        assert b"<script>" not in html  # no inline script: the CSP above allows none

    def test_pages_at_the_root_reference_the_root(self) -> None:
        html = body(call(http_v2("GET", "/docs")))
        assert [
            u for u in referenced(html) if not u.startswith(("/docs/assets/", "/openapi"))
        ] == []

    @pytest.mark.parametrize("page", ["/docs", "/redoc"])
    def test_every_asset_answers_through_the_stage_with_its_type(self, page: str) -> None:
        html = body(call(rest_v1("GET", page, stage="prod")))
        assets = [u for u in referenced(html) if u.startswith("/prod/docs/assets/")]
        assert len(assets) == (4 if page == "/docs" else 2)
        for url in assets:
            name = url.rsplit("/", 1)[1]
            response = call(rest_v1("GET", url.removeprefix("/prod"), stage="prod"))
            assert response["statusCode"] == 200, url
            assert body(response) == docs.asset(name).body, url
            content_type = header(response, "content-type")
            expected = {
                ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8",
                ".png": "image/png",
            }[name[name.rindex(".") :]]
            assert content_type == expected, url
            # Mangum sends text/* as text, and anything else base64-encoded.
            assert response["isBase64Encoded"] is (expected == "image/png"), url

    def test_the_png_favicon_comes_back_base64(self) -> None:
        favicon = docs.asset("favicon.png")
        response = call(rest_v1("GET", f"/docs/assets/{favicon.digest}/favicon.png"))
        assert response["isBase64Encoded"] is True
        assert base64.b64decode(response["body"]).startswith(b"\x89PNG\r\n\x1a\n")

    def test_redoc_logo_is_where_redoc_asks_for_it(self) -> None:
        # ReDoc requests location.pathname + "/logo-mini.svg", stage included.
        response = call(rest_v1("GET", "/redoc/logo-mini.svg", stage="prod"))
        assert response["statusCode"] == 200
        assert header(response, "content-type") == "image/svg+xml"
        assert body(response).startswith(b"<svg")

    def test_assets_are_immutable_at_their_digest_and_absent_elsewhere(self) -> None:
        bundle = docs.asset("swagger-ui-bundle.js")
        response = call(http_v2("GET", f"/docs/assets/{bundle.digest}/swagger-ui-bundle.js"))
        assert header(response, "cache-control") == "public, max-age=31536000, immutable"
        assert header(response, "etag") == f'"{bundle.digest}"'
        for path in (
            "/docs/assets/0123456789abcdef/swagger-ui-bundle.js",  # another release's
            f"/docs/assets/{bundle.digest}/nothing.js",
            f"/docs/assets/{bundle.digest}/..%2F..%2Fapp%2Fconfig.py",
        ):
            response = call(http_v2("GET", path))
            assert response["statusCode"] == 404, path
            assert header(response, "content-type") == "application/problem+json", path

    def test_pages_are_revalidated(self) -> None:
        assert header(call(http_v2("GET", "/docs")), "cache-control") == "no-cache"


def test_init_reads_no_docs_asset(database: Database) -> None:
    result = run_python(
        "import sys, json, app.lambda_handler\n"
        "from app.routes import docs\n"
        "print(json.dumps([docs.ASSETS_PACKAGE in sys.modules, docs.asset.cache_info().currsize]))",
        {"REFDATA_DATABASE_URL": database.url},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [False, 0]
