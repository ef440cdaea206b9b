"""Hostile input, the admin key, body limits, CORS and security headers.

Through the Mangum handler (as Lambda calls it) and through uvicorn (real HTTP: raw paths,
chunked bodies, preflights), against the session's test database. The schema-driven side
of the same questions is tests/test_fuzz.py.
"""

from __future__ import annotations

import http.client
import json
import unicodedata
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from app.init import settings
from app.problems import PayloadTooLarge, encode, too_large
from harness import ADMIN_KEY, ORDERS_KEY
from harness.databases import Database
from harness.datasets import DATASET_ROUTES
from harness.events import http_v2, rest_v1
from harness.http import ORDERS_AUTH, Reply, get, invoke, send
from harness.processes import run_python
from harness.servers import Uvicorn

PROBLEM = "application/problem+json"
JSON = {"content-type": "application/json"}
# A client of the orders routes (the in-process `send` adds the key by itself).
ORDER_JSON = {**JSON, **ORDERS_AUTH}
ORDER = {
    "address": {"province_code": 79, "ward_code": 26740, "street": "12 Lê Lợi"},
    "lines": [{"sku": "TEA-250G", "quantity": 1, "unit_price_vnd": 120_000}],
    "weight_grams": 500,
}
CORS_ORIGIN = "https://example.test"

# Injection-shaped text: SQL, markup, control and bidi characters, template lookups.
INJECTIONS = [
    "' OR 1=1 --",
    "'; DROP TABLE customer_order; --",
    '" OR ""="',
    "1 OR 1=1",
    "79; SELECT 1",
    '"><script>alert(1)</script>',
    "\x00",
    "VN\x00",
    "\u202evn",  # right-to-left override
    "\u200b",  # zero-width space
    "\r\nSet-Cookie: a=1",
    "${jndi:ldap://127.0.0.1/a}",
    "%s%s%s%n",
]
# Path traversal as it reaches the URL: raw, percent-encoded, double-encoded, backslashes.
TRAVERSALS = [
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%2E%2E/%2E%2E/etc/passwd",
    "..%252f..%252fetc%252fpasswd",
    "..%5C..%5Cwindows%5Cwin.ini",
    "..",
    "%2e%2e",
    "%2F",
    "%252F",
    "%C0%AF",
]
# Every path parameter, {} where the hostile value goes.
PATHS = [*(route.template for route in DATASET_ROUTES if route.key is not None), "/orders/{}"]
# Query parameters with a format: anything else is a 422.
FORMATTED_QUERIES = ["/orders?cursor={}", "/orders?limit={}"]
# Free-text search: hostile text is just text that names nothing.
SEARCHES = [
    route.path(route.samples()[0]) + "?q={}" for route in DATASET_ROUTES if route.searchable
]


def wire(payload: str) -> str:
    """The payload percent-encoded for a URL (every byte that is not unreserved)."""
    return quote(payload, safe="")


def as_admin(method: str, path: str, body: Any = None, key: str = ADMIN_KEY) -> Reply:
    payload = None if body is None else json.dumps(body).encode()
    return send(method, path, payload, {**JSON, "authorization": f"Bearer {key}"})


def unsafe(text: str) -> bool:
    """Markup or quotes, or control, format and bidi characters: what must not come back."""
    return any(c in "<>\"'`" or unicodedata.category(c) in ("Cc", "Cf") for c in text)


def assert_refused(reply: Reply, *raw: str) -> None:
    """A 4xx problem document that does not echo any unsafe `raw` back as it was sent."""
    assert 400 <= reply.status < 500, (reply.status, reply.body[:300])
    assert reply.headers["content-type"] == PROBLEM, reply.headers
    assert reply.headers["x-content-type-options"] == "nosniff"
    document = reply.json()
    assert document["status"] == reply.status
    text = reply.body.decode()
    for value in raw:
        if unsafe(value):
            assert value not in text, f"{value!r} reflected: {text[:300]}"


class TestHostileParameters:
    @pytest.mark.parametrize("template", PATHS)
    @pytest.mark.parametrize("payload", INJECTIONS, ids=repr)
    def test_injection_shaped_path_parameters_are_refused(
        self, template: str, payload: str
    ) -> None:
        for event in (http_v2, rest_v1):
            assert_refused(invoke(event("GET", template.format(wire(payload)))), payload)

    @pytest.mark.parametrize("template", PATHS)
    @pytest.mark.parametrize("traversal", TRAVERSALS)
    def test_traversal_shaped_path_parameters_are_refused(
        self, template: str, traversal: str
    ) -> None:
        for event in (http_v2, rest_v1):
            reply = invoke(event("GET", template.format(traversal)))
            assert_refused(reply)
            assert reply.json()["type"] != "urn:refdata:problem:internal"

    @pytest.mark.parametrize("template", FORMATTED_QUERIES)
    @pytest.mark.parametrize("payload", [*INJECTIONS, "../../etc/passwd"], ids=repr)
    def test_injection_shaped_formatted_queries_are_a_422(
        self, template: str, payload: str
    ) -> None:
        reply = get(template.format(wire(payload)))
        assert_refused(reply, payload)
        assert reply.status == 422

    @pytest.mark.parametrize("template", SEARCHES)
    @pytest.mark.parametrize("payload", INJECTIONS + TRAVERSALS, ids=repr)
    def test_injection_shaped_searches_match_nothing_or_are_a_422(
        self, template: str, payload: str
    ) -> None:
        everything = get(template.split("?", maxsplit=1)[0]).json()
        reply = get(template.format(wire(payload)))
        if reply.status == 200:
            found = reply.json()
            assert isinstance(found, list)
            assert len(found) < len(everything)  # `' OR 1=1 --` must not mean "all"
        else:
            assert_refused(reply, payload)

    @pytest.mark.parametrize("payload", INJECTIONS + TRAVERSALS, ids=repr)
    def test_hostile_admin_setting_keys_are_refused(self, payload: str) -> None:
        reply = as_admin("PUT", f"/admin/settings/{wire(payload)}", {"value": 1})
        assert_refused(reply, payload)

    @pytest.mark.parametrize("key", ["' OR 1=1 --", "a\x00b", "é", "\u202ekey", "k\r\nx: y", ""])
    def test_hostile_idempotency_keys_are_a_422(self, key: str) -> None:
        reply = send(
            "POST", "/orders", json.dumps(ORDER).encode(), {**JSON, "idempotency-key": key}
        )
        assert_refused(reply, key)
        assert reply.status == 422

    def test_injection_shaped_text_is_stored_as_text(self) -> None:
        street = "'; DROP TABLE customer_order; -- <b>"
        # Visible ASCII: a valid key, kept as the string it is (its own, for this run).
        key = f"'OR'1'='1--{uuid.uuid4().hex}"
        body = json.loads(json.dumps(ORDER))
        body["address"]["street"] = street
        placed = send(
            "POST", "/orders", json.dumps(body).encode(), {**JSON, "idempotency-key": key}
        )
        assert placed.status == 201, placed.body
        read = get(placed.headers["location"])
        assert read.status == 200
        assert read.json()["address"]["street"] == street
        assert get("/orders?limit=1").status == 200  # the table is still there

    def test_the_problem_instance_is_percent_encoded(self) -> None:
        reply = get("/settings/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        assert reply.status == 404
        assert reply.json()["instance"] == "/settings/%3Cscript%3Ealert%281%29%3C/script%3E"
        assert b"<script>" not in reply.body
        reply = get("/countries/%E2%80%AEvn")
        assert reply.json()["instance"] == "/countries/%E2%80%AEvn"

    @pytest.mark.parametrize(
        "path", ["/orders/quote", "/orders", "/admin/settings/max_order_total_vnd"]
    )
    @pytest.mark.parametrize(
        "body", [b"\x80", b"\xc0\xaf{}", b"\xed\xa0\x80", b"[" * 5000, b'{"a":' * 5000], ids=repr
    )
    def test_a_body_that_is_not_json_text_is_a_422(self, path: str, body: bytes) -> None:
        # Not UTF-8, or nested past the parser's depth: a 400 "error parsing the body" before.
        method = "PUT" if path.startswith("/admin") else "POST"
        key = ADMIN_KEY if path.startswith("/admin") else ORDERS_KEY
        reply = send(method, path, body, {**JSON, "authorization": f"Bearer {key}"})
        assert_refused(reply)
        assert reply.status == 422
        assert reply.json()["type"] == "urn:refdata:problem:validation-error"
        assert reply.json()["errors"][0]["loc"][0] == "body"

    @pytest.mark.parametrize("path", ["/countries/", "/countries/%2F", "/vn/provinces//"])
    def test_a_trailing_slash_is_a_404_not_a_redirect(self, path: str) -> None:
        # Starlette's slash redirect took its Location from the Host header.
        reply = invoke(http_v2("GET", path, {"host": "evil.test"}))
        assert reply.status == 404
        assert "location" not in reply.headers


# Wrong keys of every length and closeness; none may get further than another.
WRONG_KEYS = [
    "x",
    ADMIN_KEY[:1],
    ADMIN_KEY[:8],
    ADMIN_KEY[:-1],
    ADMIN_KEY + "0",
    ADMIN_KEY[:-1] + chr(ord(ADMIN_KEY[-1]) ^ 1),
    chr(ord(ADMIN_KEY[0]) ^ 1) + ADMIN_KEY[1:],
    ADMIN_KEY.upper(),
    ADMIN_KEY[::-1],
    "0" * len(ADMIN_KEY),
    ADMIN_KEY * 2,
    "k" * 4096,
    ADMIN_KEY.replace("-", "_"),
]


class TestAdminKey:
    def test_every_wrong_key_gets_the_same_403(self) -> None:
        bodies = set()
        for key in WRONG_KEYS:
            reply = as_admin("POST", "/admin/cache/refresh", key=key)
            assert reply.status == 403, (key, reply.status)
            assert reply.headers["content-type"] == PROBLEM
            assert "www-authenticate" not in reply.headers
            bodies.add(reply.body)
        assert len(bodies) == 1  # nothing in the answer says how close a key was

    def test_wrong_keys_change_nothing(self) -> None:
        before = get("/settings/max_order_total_vnd").json()
        for key in WRONG_KEYS:
            reply = as_admin("PUT", "/admin/settings/max_order_total_vnd", {"value": 1}, key=key)
            assert reply.status == 403
        assert get("/settings/max_order_total_vnd").json() == before

    @pytest.mark.parametrize("authorization", ["", "Bearer", "Bearer ", "Basic " + ADMIN_KEY])
    def test_no_bearer_token_is_a_401(self, authorization: str) -> None:
        reply = send("POST", "/admin/cache/refresh", None, {"authorization": authorization})
        assert reply.status == 401
        assert reply.headers["www-authenticate"] == "Bearer"

    def test_the_key_never_reaches_the_log(self, database: Database) -> None:
        """Every outcome of an admin request, logged at DEBUG in a fresh environment."""
        wrong = "wrong-key-but-secret-looking-0123"
        result = run_python(
            "from app.lambda_handler import handler; from harness.events import *\n"
            f"right, wrong = {ADMIN_KEY!r}, {wrong!r}\n"
            "def call(method, path, key, body=None):\n"
            "    headers = {'authorization': f'Bearer {key}', 'content-type': 'application/json'}\n"
            "    return handler(http_v2(method, path, headers, body), LambdaContext())\n"
            "statuses = [\n"
            "    call('POST', '/admin/cache/refresh', right),\n"
            "    call('POST', '/admin/cache/refresh', wrong),\n"
            "    call('PUT', '/admin/settings/currency', right, b'{\"value\": 1}'),\n"
            "    call('PUT', '/admin/settings/no_such', right, b'{\"value\": 1}'),\n"
            "    call('PUT', '/admin/settings/currency', right, b'\\x80'),\n"
            "    call('PUT', '/admin/settings/currency', right, b' ' * 70000),\n"
            "    call('GET', '/admin/nothing', right),\n"
            "]\n"
            "print([s['statusCode'] for s in statuses])\n",
            {
                "REFDATA_DATABASE_URL": database.url,
                "REFDATA_ADMIN_API_KEY": ADMIN_KEY,
                "REFDATA_LOG_LEVEL": "DEBUG",
            },
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[-1] == "[200, 403, 422, 404, 422, 413, 404]"
        output = result.stdout + result.stderr
        assert output.count('"message":"request"') == 7  # the log ran, at DEBUG
        assert ADMIN_KEY not in output
        assert wrong not in output
        assert "Bearer" not in output


def big_body(size: int) -> bytes:
    """Valid JSON of exactly `size` bytes: the limit, not the parser, must refuse it."""
    return json.dumps(ORDER).encode().ljust(size)


class TestBodyLimit:
    def test_a_body_at_the_limit_is_read(self) -> None:
        reply = send("POST", "/orders/quote", big_body(settings.max_body_bytes), JSON)
        assert reply.status == 200, reply.body[:300]

    @pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "no-length"])
    @pytest.mark.parametrize("event", [http_v2, rest_v1])
    def test_a_body_over_the_limit_is_a_413(self, with_length: bool, event: Any) -> None:
        body = big_body(settings.max_body_bytes + 1)
        headers = {**ORDER_JSON, "content-length": str(len(body))} if with_length else ORDER_JSON
        reply = invoke(event("POST", "/orders/quote", headers, body))
        assert reply.status == 413
        assert reply.headers["content-type"] == PROBLEM
        assert reply.json()["type"] == "urn:refdata:problem:payload-too-large"
        assert reply.headers["x-content-type-options"] == "nosniff"

    @pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "no-length"])
    def test_the_413_is_the_catalogs_entry_written_by_the_one_encoder(
        self, with_length: bool
    ) -> None:
        # Refused by the edge before the app runs (Content-Length), or by the app's exception
        # handler once the counted body passes the limit: the same bytes either way.
        body = big_body(settings.max_body_bytes + 1)
        headers = {**ORDER_JSON, "content-length": str(len(body))} if with_length else ORDER_JSON
        reply = invoke(http_v2("POST", "/orders/quote", headers, body))
        expected = PayloadTooLarge(too_large(settings.max_body_bytes))
        assert reply.status == PayloadTooLarge.status
        assert reply.body == encode(expected, "/orders/quote")
        assert reply.json()["title"] == PayloadTooLarge.title

    def test_a_content_length_over_the_limit_is_a_413(self) -> None:
        for length in ("99999999", "0" * 30 + "99999999", "9" * 18):
            headers = {**JSON, "content-length": length}
            reply = send("POST", "/orders/quote", json.dumps(ORDER).encode(), headers)
            assert reply.status == 413, length


@pytest.fixture(scope="module")
def server(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """uvicorn on 127.0.0.1 with one allowed CORS origin."""
    log = tmp_path_factory.mktemp("uvicorn") / "stderr.log"
    env = {
        "REFDATA_DATABASE_URL": database.url,
        "REFDATA_ADMIN_API_KEY": ADMIN_KEY,
        "REFDATA_CORS_ORIGINS": CORS_ORIGIN,
    }
    with Uvicorn(env, log) as server:
        yield server.base_url


def request(
    base: str, method: str, path: str, headers: dict[str, str] | None = None, body: Any = None
) -> tuple[int, list[tuple[str, str]], bytes]:
    """One raw HTTP request: the path goes out exactly as given; every header comes back,
    repeated ones included."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        chunked = body is not None and not isinstance(body, bytes)
        connection.request(method, path, body, headers or {}, encode_chunked=chunked)
        response = connection.getresponse()
        return response.status, [(k.lower(), v) for k, v in response.getheaders()], response.read()
    finally:
        connection.close()


def header(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in headers if key == name]


class TestOverHttp:
    @pytest.mark.parametrize("traversal", TRAVERSALS)
    def test_traversal_in_the_raw_path_is_refused(self, server: str, traversal: str) -> None:
        for template in ("/countries/{}", "/settings/{}", "/docs/assets/{}/swagger-ui.css"):
            status, headers, _ = request(server, "GET", template.format(traversal))
            assert 400 <= status < 500, (template, traversal, status)
            assert header(headers, "content-type") == [PROBLEM]

    def test_a_body_over_the_limit_is_a_413_with_or_without_content_length(
        self, server: str
    ) -> None:
        body = big_body(settings.max_body_bytes + 1)
        status, headers, content = request(server, "POST", "/orders/quote", ORDER_JSON, body)
        assert status == 413
        assert json.loads(content)["type"] == "urn:refdata:problem:payload-too-large"
        chunks = iter([body[:40_000], body[40_000:]])  # Transfer-Encoding: chunked
        status, headers, content = request(server, "POST", "/orders/quote", ORDER_JSON, chunks)
        assert status == 413
        assert header(headers, "content-type") == [PROBLEM]
        assert header(headers, "x-content-type-options") == ["nosniff"]

    def test_the_413_over_http_is_the_catalogs_entry_written_by_the_one_encoder(
        self, server: str
    ) -> None:
        expected = encode(PayloadTooLarge(too_large(settings.max_body_bytes)), "/orders/quote")
        body = big_body(settings.max_body_bytes + 1)
        status, headers, content = request(server, "POST", "/orders/quote", ORDER_JSON, body)
        assert (status, content) == (PayloadTooLarge.status, expected)
        assert header(headers, "content-length") == [str(len(expected))]
        chunks = iter([body[:40_000], body[40_000:]])  # no Content-Length: counted
        status, headers, content = request(server, "POST", "/orders/quote", ORDER_JSON, chunks)
        assert (status, content) == (PayloadTooLarge.status, expected)

    def test_cors_allows_exactly_the_configured_origin(self, server: str) -> None:
        preflight = {"origin": CORS_ORIGIN, "access-control-request-method": "GET"}
        status, headers, _ = request(server, "OPTIONS", "/countries", preflight)
        assert status == 200
        assert header(headers, "access-control-allow-origin") == [CORS_ORIGIN]
        assert "GET" in header(headers, "access-control-allow-methods")[0]
        status, headers, _ = request(server, "GET", "/countries/VN", {"origin": CORS_ORIGIN})
        assert status == 200
        assert header(headers, "access-control-allow-origin") == [CORS_ORIGIN]
        assert "Origin" in ", ".join(header(headers, "vary"))

        for other in ("https://evil.test", "https://example.test.evil.test", "null"):
            status, headers, _ = request(
                server, "OPTIONS", "/countries", {**preflight, "origin": other}
            )
            assert header(headers, "access-control-allow-origin") == [], other
            _, headers, _ = request(server, "GET", "/countries/VN", {"origin": other})
            assert header(headers, "access-control-allow-origin") == [], other

    @pytest.mark.parametrize(
        ("path", "headers", "status"),
        [
            ("/countries/VN", {}, 200),
            ("/countries/ZZ", {}, 404),
            ("/countries/!", {}, 422),
            ("/nowhere", {}, 404),
        ],
    )
    def test_security_headers_on_json_and_problems(
        self, server: str, path: str, headers: dict[str, str], status: int
    ) -> None:
        got, response_headers, _ = request(server, "GET", path, headers)
        assert got == status
        assert_security_headers(response_headers)

    def test_security_headers_on_a_304(self, server: str) -> None:
        _, headers, _ = request(server, "GET", "/countries/VN")
        etag = header(headers, "etag")[0]
        status, headers, body = request(server, "GET", "/countries/VN", {"if-none-match": etag})
        assert (status, body) == (304, b"")
        assert_security_headers(headers)

    def test_security_headers_on_a_413(self, server: str) -> None:
        body = big_body(settings.max_body_bytes + 1)
        status, headers, _ = request(server, "POST", "/orders", ORDER_JSON, body)
        assert status == 413
        assert_security_headers(headers)

    @pytest.mark.parametrize("page", ["/docs", "/redoc"])
    def test_the_docs_pages_keep_their_own_policy(self, server: str, page: str) -> None:
        status, headers, body = request(server, "GET", page)
        assert status == 200
        policies = header(headers, "content-security-policy")
        assert len(policies) == 1, policies  # two policies would both apply
        policy = directives(policies[0])
        assert policy["default-src"] == ["'none'"]
        assert policy["script-src"] == ["'self'"]  # no inline script, no eval
        assert policy["connect-src"] == ["'self'"]  # the page fetches /openapi.json
        assert policy["frame-ancestors"] == ["'none'"]
        assert header(headers, "x-content-type-options") == ["nosniff"]
        assert b"<script>" not in body  # every script is a file the policy allows

    def test_docs_assets_carry_the_headers(self, server: str) -> None:
        _, _, page = request(server, "GET", "/docs")
        script = page.decode().split('<script src="')[1].split('"')[0]
        status, headers, _ = request(server, "GET", script)
        assert status == 200
        assert header(headers, "x-content-type-options") == ["nosniff"]
        assert len(header(headers, "content-security-policy")) == 1


def directives(policy: str) -> dict[str, list[str]]:
    parts = [part.split() for part in policy.split(";") if part.strip()]
    return {name: values for name, *values in parts}


def assert_security_headers(headers: list[tuple[str, str]]) -> None:
    assert header(headers, "x-content-type-options") == ["nosniff"]
    assert header(headers, "referrer-policy") == ["no-referrer"]
    policies = header(headers, "content-security-policy")
    assert len(policies) == 1, policies
    policy = directives(policies[0])
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]


def test_cors_is_closed_by_default(database: Database) -> None:
    """No origins configured: no CORS headers at all, on preflights or on reads."""
    result = run_python(
        "import json; from app.lambda_handler import handler; from harness.events import *\n"
        "origin = {'origin': 'https://example.test', 'access-control-request-method': 'GET'}\n"
        "out = [handler(http_v2(m, '/countries', origin), LambdaContext())\n"
        "       for m in ('OPTIONS', 'GET')]\n"
        "print(json.dumps([[r['statusCode'], sorted(r['headers'])] for r in out]))\n",
        {"REFDATA_DATABASE_URL": database.url, "REFDATA_CORS_ORIGINS": ""},
    )
    assert result.returncode == 0, result.stderr
    (preflight, preflight_headers), (read, read_headers) = json.loads(
        result.stdout.splitlines()[-1]
    )
    assert preflight == 405  # no CORS layer answers it
    assert read == 200
    for names in (preflight_headers, read_headers):
        assert not [name for name in names if name.lower().startswith("access-control-")]


@pytest.mark.parametrize("path", ["/countries", "/countries/ZZ"])
def test_security_headers_through_the_handler(path: str) -> None:
    reply = get(path)
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert directives(reply.headers["content-security-policy"])["default-src"] == ["'self'"]
    etag = get("/countries").headers["etag"]
    not_modified = get("/countries", {"if-none-match": etag})
    assert not_modified.status == 304
    assert not_modified.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" in not_modified.headers
