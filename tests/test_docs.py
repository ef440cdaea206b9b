"""/docs and /redoc work anywhere, and the OpenAPI document reads without the code.

The pages are checked here through the real Mangum handler (behind a REST stage too); a
real browser loads them in tests/test_docs_browser.py.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from app import __version__, problems
from app.init import settings
from app.problems import too_large
from app.routes import docs
from harness.databases import Database
from harness.datasets import DATASET_TAGS
from harness.events import ORDER, Event, LambdaContext, http_v2, rest_v1
from harness.http import invoke, send
from harness.processes import run_python

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


def documented_types(response: dict[str, Any]) -> set[str]:
    """The problem types a documented response lists (app.problems.responses)."""
    return set(re.findall(r"`(urn:refdata:problem:[a-z-]+)`", response.get("description", "")))


def catalog_entry(body: bytes) -> type[problems.Problem]:
    """The catalog entry a problem body is the encoding of: its type, title and status are
    the entry's, and its bytes are exactly what the one encoder writes for them."""
    fields = json.loads(body)
    [entry] = [
        e
        for e in problems.CATALOG
        if (e.type, e.title, e.status) == (fields["type"], fields["title"], fields["status"])
    ]
    again = Exception.__new__(entry)
    problems.Problem.__init__(again, fields["detail"], errors=fields.get("errors"))
    assert problems.encode(again, fields.get("instance")) == body
    return entry


JSON = {"content-type": "application/json"}
# The sample order, in a province that does not exist.
UNKNOWN_PROVINCE = json.dumps(
    {**json.loads(ORDER), "address": {"province_code": 998, "ward_code": 26740, "street": "x"}}
).encode()
WRONG_KEY = {"authorization": "Bearer not-the-admin-key"}


@dataclass(frozen=True)
class Asked:
    """A request that gets a problem, the operation that answers it and the problem's kind."""

    method: str
    path: str
    operation: str
    kind: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    authorize: bool = True  # with the orders key, for /orders (harness.http.send)


PROBLEM_REQUESTS = [
    Asked("GET", "/countries/XX", "/countries/{code}", "not-found"),
    Asked("GET", "/countries?q=" + "x" * 101, "/countries", "validation-error"),
    Asked("GET", "/vn/provinces/abc", "/vn/provinces/{code}", "validation-error"),
    Asked("GET", "/orders/4c8e2932-0016-4dce-b129-7e9a606a6db7", "/orders/{order_id}", "not-found"),
    Asked("GET", "/orders?cursor=" + "f" * 32, "/orders", "validation-error"),  # out of range
    Asked("POST", "/orders/quote", "/orders/quote", "unknown-province", JSON, UNKNOWN_PROVINCE),
    Asked(
        "POST",
        "/orders/quote",
        "/orders/quote",
        "payload-too-large",
        JSON,
        b" " * (settings.max_body_bytes + 1),
    ),
    Asked("GET", "/orders", "/orders", "unauthorized", authorize=False),
    Asked("POST", "/orders", "/orders", "forbidden", WRONG_KEY, b"{}"),
    Asked("POST", "/admin/cache/refresh", "/admin/cache/refresh", "unauthorized"),
    Asked("POST", "/admin/cache/refresh", "/admin/cache/refresh", "forbidden", WRONG_KEY),
    Asked("PUT", "/admin/settings/x", "/admin/settings/{key}", "forbidden", WRONG_KEY, b"{}"),
]


class TestErrorCatalog:
    """Every problem type is one entry of app/problems.py, documented where it is raised."""

    def test_every_documented_entry_is_declared_by_a_route_under_its_status(
        self, operations: list[Operation]
    ) -> None:
        declared: set[tuple[str, str]] = set()
        for _, _, operation in operations:
            for code, response in operation["responses"].items():
                declared |= {(t, code) for t in documented_types(response)}
        expected = {(e.type, str(e.status)) for e in problems.CATALOG if e.documented}
        assert expected - declared == set(), "never declared"
        assert declared - expected == set(), "declared, but no catalog entry says so"

    def test_each_declared_example_is_a_listed_entrys_own(
        self, operations: list[Operation]
    ) -> None:
        entries = {e.type: e for e in problems.CATALOG}
        for method, path, operation in operations:
            for code, response in operation["responses"].items():
                listed = documented_types(response)
                if not listed:
                    continue
                example = response["content"]["application/problem+json"]["example"]
                assert example["type"] in listed, f"{method} {path} {code}"
                expected = entries[example["type"]].example_body()
                if code == "413":  # the limit this path has here, not the default's
                    limit = settings.max_convert_body_bytes if path == "/vn/convert" else None
                    expected["detail"] = too_large(limit or settings.max_body_bytes)
                assert example == expected, f"{method} {path}"

    def test_the_catalog_states_each_entry_once_and_fully(self) -> None:
        assert len({(e.type, e.status) for e in problems.CATALOG}) == len(problems.CATALOG)
        for entry in problems.CATALOG:
            example = entry.example_body()
            assert example["type"] == f"urn:refdata:problem:{entry.kind}"
            assert (example["title"], example["status"]) == (entry.title, entry.status)
            assert example["instance"].startswith("/")

    @pytest.mark.parametrize(
        "asked",
        PROBLEM_REQUESTS,
        ids=[f"{a.method} {a.path[:40]} {a.kind}" for a in PROBLEM_REQUESTS],
    )
    def test_a_problem_a_client_gets_is_the_encoders_and_documented_for_its_route(
        self, document: dict[str, Any], asked: Asked
    ) -> None:
        reply = send(asked.method, asked.path, asked.body, asked.headers, authorize=asked.authorize)
        assert reply.headers["content-type"] == "application/problem+json"
        entry = catalog_entry(reply.body)
        assert entry.kind == asked.kind
        assert reply.status == entry.status
        operation = document["paths"][asked.operation][asked.method.lower()]
        declared = operation["responses"][str(reply.status)]
        assert entry.type in documented_types(declared)

    def test_the_413_example_follows_the_configured_limit(self, database: Database) -> None:
        result = run_python(
            "import json; from app.main import app\n"
            "paths = app.openapi()['paths']\n"
            "print(json.dumps([paths[p]['post']['responses']['413']['content']"
            "['application/problem+json']['example'] for p in ('/orders', '/vn/convert')]))",
            {
                "REFDATA_DATABASE_URL": database.url,
                "REFDATA_MAX_BODY_BYTES": "2048",
                "REFDATA_MAX_CONVERT_BODY_BYTES": "4096",
            },
        )
        assert result.returncode == 0, result.stderr
        orders, convert = json.loads(result.stdout.splitlines()[-1])
        assert orders["detail"] == "Request bodies are limited to 2048 bytes."
        assert convert["detail"] == "Request bodies are limited to 4096 bytes."


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
