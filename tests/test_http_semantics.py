"""HTTP as clients and RFC 9110 expect it, on Lambda and under uvicorn: HEAD wherever GET is,
the caller judged before the body, a client that leaves mid-body answered (and logged) as its
own fault, and servers that say nothing about themselves."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.routing import Route

from harness import ADMIN_KEY, ORDERS_KEY
from harness.databases import Database
from harness.datasets import DATASET_ROUTES
from harness.events import ORDER
from harness.http import HOST, JSON, Reply, get, post, send
from harness.servers import Uvicorn

# Headers that differ between any two requests.
_PER_REQUEST = {"x-request-id", "server-timing", "date"}


def get_routes() -> list[str]:
    """Every GET route of the app, as its path template."""
    from app.main import app

    return sorted(
        route.path
        for route in app.routes
        if isinstance(route, Route) and route.methods and "GET" in route.methods
    )


@pytest.fixture(scope="module")
def samples() -> dict[str, str]:
    """A path that answers 200, for every GET route."""
    found = {route.route.path: route.sample_paths()[0] for route in DATASET_ROUTES}
    order = post("/orders", json.loads(ORDER))
    assert order.status == 201
    docs = get("/docs").body.decode()
    asset = re.search(r"/docs/assets/[0-9a-f]+/swagger-ui\.css", docs)
    assert asset is not None
    return {
        **found,
        "/openapi.json": "/openapi.json",
        "/health": "/health",
        "/docs": "/docs",
        "/redoc": "/redoc",
        "/docs/assets/{digest}/{name}": asset[0],
        "/redoc/logo-mini.svg": "/redoc/logo-mini.svg",
        "/vn/legacy/wards/{code}/successors": "/vn/legacy/wards/26740/successors",
        "/vn/legacy/districts/{code}/successors": "/vn/legacy/districts/760/successors",
        "/vn/legacy/provinces/{code}/successors": "/vn/legacy/provinces/79/successors",
        "/vn/wards/{code}/predecessors": "/vn/wards/26740/predecessors",
        "/orders/{order_id}": f"/orders/{order.json()['id']}",
        "/orders": "/orders?limit=2",
    }


# Routes whose body changes from one request to the next (/health's cache age): its length too.
_CHANGING = {"/health"}


def comparable(headers: dict[str, str], path: str) -> dict[str, str]:
    varying = _PER_REQUEST | ({"content-length"} if path in _CHANGING else set())
    return {k: v for k, v in headers.items() if k not in varying}


def test_every_get_route_has_a_sample(samples: dict[str, str]) -> None:
    assert set(get_routes()) <= set(samples), "a GET route without a sample path here"


def test_head_answers_every_get_route_on_lambda_with_gets_headers_and_no_body(
    samples: dict[str, str],
) -> None:
    for template in get_routes():
        path = samples[template]
        full, head = send("GET", path), send("HEAD", path)
        assert full.status == 200, (path, full.body[:200])
        assert head.status == 200, (path, head.body[:200])
        assert head.body == b"", path
        assert comparable(head.headers, path) == comparable(full.headers, path), path
        if path not in _CHANGING:
            assert int(head.headers["content-length"]) == len(full.body), path


def test_head_of_a_conditional_get_is_a_304_and_of_a_missing_record_a_404() -> None:
    etag = get("/countries/VN").headers["etag"]
    assert send("HEAD", "/countries/VN", headers={"if-none-match": etag}).status == 304
    missing = send("HEAD", "/countries/XX")
    assert (missing.status, missing.body) == (404, b"")
    assert missing.headers["content-type"] == "application/problem+json"


@pytest.fixture(scope="module")
def server(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Uvicorn]:
    """refdata as `make run` and the Docker image serve it (`python -m app`)."""
    log = tmp_path_factory.mktemp("uvicorn-http") / "stderr.log"
    env = {"REFDATA_DATABASE_URL": database.url, "REFDATA_ADMIN_API_KEY": ADMIN_KEY}
    with Uvicorn(env, log) as uvicorn:
        yield uvicorn


def over_http(server: Uvicorn, method: str, path: str, **headers: str) -> Reply:
    client = server.client()
    try:
        reply, _ = client.request(method, path, headers=headers)
    finally:
        client.close()
    return reply


def test_head_answers_every_get_route_under_uvicorn(
    server: Uvicorn, samples: dict[str, str]
) -> None:
    for template in get_routes():
        if template.startswith("/orders"):  # the samples' orders are in the in-process app's
            continue  # database; the server's own are read below
        path = samples[template]
        full, head = over_http(server, "GET", path), over_http(server, "HEAD", path)
        assert (full.status, head.status) == (200, 200), path
        assert head.body == b"", path
        assert comparable(head.headers, path) == comparable(full.headers, path), path
    orders = over_http(server, "HEAD", "/orders?limit=1")
    assert (orders.status, orders.body) == (200, b"")


# The caller before the body.

# Every route behind a key: (method, route, a path that is malformed past the key, the key).
GUARDED = [
    ("POST", "/orders/quote", "/orders/quote", ORDERS_KEY),
    ("POST", "/orders", "/orders", ORDERS_KEY),
    ("GET", "/orders/{order_id}", "/orders/not-a-uuid", ORDERS_KEY),
    ("GET", "/orders", "/orders?limit=0", ORDERS_KEY),
    ("PUT", "/admin/settings/{key}", "/admin/settings/max_order_items", ADMIN_KEY),
    ("POST", "/admin/cache/refresh", "/admin/cache/refresh?", ADMIN_KEY),
]


def test_every_guarded_route_is_listed_here() -> None:
    from app.main import app

    guarded = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route) and route.path.startswith(("/orders", "/admin"))
        for method in route.methods or ()
    }
    assert guarded == {(method, route) for method, route, _, _ in GUARDED}


@pytest.mark.parametrize(("method", "route", "path", "key"), GUARDED)
def test_without_a_key_a_bad_request_is_a_401_and_with_a_wrong_one_a_403(
    method: str, route: str, path: str, key: str
) -> None:
    body = b'{"not": json' if method in ("POST", "PUT") else None
    headers = JSON if body is not None else {}
    unauthenticated = send(method, path, body, headers, authorize=False)
    assert unauthenticated.status == 401, unauthenticated.body
    assert unauthenticated.headers["www-authenticate"] == "Bearer"
    wrong = send(method, path, body, {**headers, "authorization": "Bearer " + "w" * 32})
    assert wrong.status == 403, wrong.body
    right = send(method, path, body, {**headers, "authorization": f"Bearer {key}"})
    # Only now is the request itself judged (the cache refresh takes no body: it just runs).
    assert right.status == (200 if route == "/admin/cache/refresh" else 422), right.body


def test_docs_show_each_guarded_operation_with_its_keys_lock() -> None:
    document = get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    for method, route, _, key in GUARDED:
        name = "AdminKey" if key == ADMIN_KEY else "OrdersKey"
        operation = document["paths"][route][method.lower()]
        assert operation["security"] == [{name: []}], (method, route)
        assert schemes[name]["type"] == "http"
        assert schemes[name]["scheme"] == "bearer"
    open_ones = [
        op for path in ("/countries", "/vn/convert") for op in document["paths"][path].values()
    ]
    assert all("security" not in operation for operation in open_ones)


def test_one_route_keys_are_not_the_others() -> None:
    admin = {"authorization": f"Bearer {ADMIN_KEY}"}
    assert send("GET", "/orders?limit=1", headers=admin).status == 403
    orders = {"authorization": f"Bearer {ORDERS_KEY}"}
    assert send("POST", "/admin/cache/refresh", headers=orders).status == 403


# A client that leaves before its body is complete.


@pytest.mark.parametrize("path", ["/vn/convert", "/orders/quote"])
def test_a_client_gone_mid_body_is_logged_as_a_400_without_a_traceback(
    server: Uvicorn, path: str
) -> None:
    before = len(server.requests())
    with socket.create_connection((HOST, server.port), timeout=5) as raw:
        raw.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {ORDERS_KEY}\r\nContent-Length: 100\r\n\r\n".encode()
            + b'{"items":'
        )
    deadline = time.monotonic() + 10
    while len(server.requests()) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    (line,) = server.requests()[before:]
    assert (line["path"], line["status"], line["level"]) == (path, 400, "INFO")
    log = server.log()
    assert "Traceback" not in log
    assert '"level":"ERROR"' not in log


# Servers that say nothing about themselves.


def test_uvicorn_sends_no_server_header(server: Uvicorn) -> None:
    for path in ("/countries/VN", "/nowhere", "/docs"):
        reply = over_http(server, "GET", path)
        assert "server" not in reply.headers, path


def test_no_log_line_carries_a_query_string_or_a_credential(
    database: Database, tmp_path: Path
) -> None:
    # As `make run` serves it: uvicorn's own lines at its default level, stdout and stderr.
    env = {"REFDATA_DATABASE_URL": database.url}
    marker = "probe-" + "q" * 12
    with Uvicorn(env, tmp_path / "uvicorn.log", uvicorn_log_level="info") as made_run:
        over_http(made_run, "GET", f"/countries?api_key={marker}&q=viet")
        over_http(made_run, "GET", "/orders?limit=1", authorization=f"Bearer {marker}")
        reply = over_http(made_run, "GET", f"/nowhere?token={marker}")
        assert reply.status == 404
        time.sleep(0.2)  # the last line is written after the reply is sent
        log = made_run.log()
        lines = made_run.requests()
    assert "Uvicorn running on" in log  # uvicorn's own lines are in it
    assert marker not in log
    assert "api_key" not in log
    assert [line["path"] for line in lines[-3:]] == ["/countries", "/orders", "/nowhere"]


def test_the_servers_here_are_the_one_make_run_and_the_image_start(server: Uvicorn) -> None:
    repo = Path(__file__).parent.parent
    dockerfile = (repo / "docker" / "Dockerfile").read_text()
    makefile = (repo / "Makefile").read_text()
    assert 'CMD ["python", "-m", "app",' in dockerfile
    assert "$(BIN)/python -m app --host 127.0.0.1 --port 8000" in makefile
    command = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
    assert command[1:3] == [b"-m", b"app"]
