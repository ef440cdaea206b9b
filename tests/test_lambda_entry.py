"""The Lambda side: stage prefixes, SnapStart hooks, the migrate function, a lean INIT."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.pool import QueuePool

from app.lambda_handler import Handler, handler
from app.main import app
from harness.databases import Database, alembic_config
from harness.events import SHAPES, LambdaContext, http_v2, rest_v1
from harness.http import invoke, reply
from harness.processes import run_python
from harness.sql import SqlWindow


class TestStagePrefix:
    """Behind `/prod` (a REST stage) every link the app gives must carry the prefix."""

    def test_routes_resolve_behind_a_rest_stage(self) -> None:
        response = invoke(rest_v1("GET", "/countries/VN", stage="prod"))
        assert response.status == 200
        assert response.json()["alpha_2"] == "VN"

    def test_docs_page_points_at_the_staged_openapi_document(self) -> None:
        response = invoke(rest_v1("GET", "/docs", stage="prod"))
        assert response.status == 200
        assert b'data-openapi-url="/prod/openapi.json"' in response.body

    def test_openapi_lists_the_stage_as_its_server(self) -> None:
        response = invoke(rest_v1("GET", "/openapi.json", stage="prod"))
        assert response.status == 200
        assert response.json()["servers"] == [{"url": "/prod"}]

    def test_problem_instance_is_the_path_the_client_used(self) -> None:
        response = invoke(rest_v1("GET", "/countries/XX", stage="prod"))
        assert response.json()["instance"] == "/prod/countries/XX"

    def test_no_prefix_on_http_api_default_stage(self) -> None:
        response = invoke(http_v2("GET", "/openapi.json"))
        assert "servers" not in response.json()

    def test_custom_domain_base_path(self) -> None:
        # api.example.com/v1 mapped to the API: the event path carries the base path.
        behind_base_path = Handler(app, api_gateway_base_path="/v1")
        event = rest_v1("GET", "/v1/countries/VN", stage="prod")
        event["requestContext"]["path"] = "/v1/countries/VN"
        response = reply(behind_base_path(event, LambdaContext()))
        assert response.status == 200
        assert response.json()["alpha_2"] == "VN"
        event = rest_v1("GET", "/v1/docs", stage="prod")
        event["requestContext"]["path"] = "/v1/docs"
        docs = reply(behind_base_path(event, LambdaContext()))
        assert b'data-openapi-url="/v1/openapi.json"' in docs.body


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_integration_is_read_once_by_refdatas_readers(shape: str) -> None:
    # Mangum rebuilds the scope on every `.scope` read (and reads it twice per HTTP API or
    # ALB invoke); refdata's readers build it once, with the stage prefix as root_path.
    reader = handler.adapter.infer(SHAPES[shape]("GET", "/countries/VN"), LambdaContext())
    assert type(reader).__module__ == "app.lambda_handler"
    scope = reader.scope
    assert reader.scope is scope
    assert scope["path"].endswith("/countries/VN")
    assert scope["path"] == scope["root_path"] + "/countries/VN"


class TestSnapStart:
    def test_hooks_are_registered_with_the_runtime(self) -> None:
        registry = pytest.importorskip("snapshot_restore_py")
        from app import lambda_handler

        befores = [entry[0] for entry in registry._before_snapshot_registry]
        afters = [entry[0] for entry in registry._after_restore_registry]
        assert lambda_handler.before_snapshot in befores
        assert lambda_handler.after_restore in afters

    def test_snapshot_holds_no_connection_and_restore_reconnects_and_reloads(
        self, sql: SqlWindow
    ) -> None:
        from app.init import cache, engine
        from app.lambda_handler import after_restore, before_snapshot

        before = cache.snapshot()
        before_snapshot()
        assert isinstance(engine.pool, QueuePool)
        assert engine.pool.checkedin() == 0  # nothing to carry into the snapshot
        assert invoke(http_v2("GET", "/countries/VN")).status == 200  # still served from memory
        assert sql.connects == 0
        after_restore()
        assert sql.connects == 1  # a fresh connection, not one from before the snapshot
        assert cache.snapshot() is not before  # reloaded
        assert cache.snapshot().version == before.version
        sql.reset()
        assert invoke(http_v2("GET", "/vn/provinces/79")).status == 200
        assert sql.statements == []


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def test_migrate_function_upgrades_and_reports(blank_database: Database) -> None:
    from app.migrate import upgrade

    head = head_revision()
    first = upgrade(blank_database.url)
    assert first == {"from": None, "to": head, "changed": True}
    again = upgrade(blank_database.url)
    assert again == {"from": head, "to": head, "changed": False}


def test_migrate_handler_uses_the_configured_database(blank_database: Database) -> None:
    result = run_python(
        "import json; from app.migrate import handler; print(json.dumps(handler({}, None)))",
        {"REFDATA_DATABASE_URL": blank_database.url},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["to"] == head_revision()


def test_the_api_imports_nothing_it_does_not_serve_with(database: Database) -> None:
    result = run_python(
        "import sys, json, app.lambda_handler; print(json.dumps(sorted(sys.modules)))",
        {"REFDATA_DATABASE_URL": database.url},
    )
    assert result.returncode == 0, result.stderr
    loaded = {name.split(".")[0] for name in json.loads(result.stdout.splitlines()[-1])}
    heavy = {"alembic", "httpx", "uvicorn", "pycountry", "vietnam_provinces", "mako"}
    heavy |= {"boto3", "botocore", "moto"}  # the secrets' SDK client imports them; not this
    assert not heavy & loaded
