"""The registry's promise, per dataset: every route it declares is documented and served.

For each entry of app/datasets.py, with nothing typed here: each of its routes is in
/openapi.json as declared; answers 200 with the documented record for the documented key;
404 (problem+json) for a key the path accepts that names nothing; 422 for a key it does not
accept. The keys come from the path parameter's own schema in the document.
"""

from __future__ import annotations

import dataclasses
import re
import string
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st
from sqlalchemy import func, inspect, select

from app.datasets import DATASETS, SETTINGS, VN_WARDS, Dataset, Key, Route
from app.init import cache
from harness.datasets import DATASET_ROUTES, DATASET_TAGS, DatasetRoute, example_of
from harness.http import get, problem

PROBLEM = "application/problem+json"
FIND = hypothesis.settings(database=None, derandomize=True, max_examples=500)


def by_dataset(test: Any) -> Any:
    return pytest.mark.parametrize("dataset", DATASETS, ids=lambda dataset: dataset.name)(test)


# Datasets that declare routes; the others are indexes business code reads (conversions).
SERVED = [dataset for dataset in DATASETS if any(r.dataset is dataset for r in DATASET_ROUTES)]
INDEXES = [dataset for dataset in DATASETS if dataset not in SERVED]


def by_served_dataset(test: Any) -> Any:
    return pytest.mark.parametrize("dataset", SERVED, ids=lambda dataset: dataset.name)(test)


def routes_of(dataset: Dataset) -> list[DatasetRoute]:
    return [route for route in DATASET_ROUTES if route.dataset is dataset]


def keyed_routes_of(dataset: Dataset) -> list[DatasetRoute]:
    return [route for route in routes_of(dataset) if route.key is not None]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    reply = get("/openapi.json")
    assert reply.status == 200
    found: dict[str, Any] = reply.json()
    return found


def operation(document: dict[str, Any], route: DatasetRoute) -> dict[str, Any]:
    assert route.route.path in document["paths"], f"{route.route.path} is not documented"
    found: dict[str, Any] = document["paths"][route.route.path]["get"]
    return found


def key_schema(document: dict[str, Any], route: DatasetRoute) -> dict[str, Any]:
    """The documented schema of the route's path parameter."""
    assert route.key is not None
    (parameter,) = [
        p
        for p in operation(document, route).get("parameters", [])
        if p["in"] == "path" and p["name"] == route.key.name
    ]
    schema: dict[str, Any] = parameter["schema"]
    return schema


def owner_of(route: DatasetRoute) -> Dataset:
    """The dataset whose key the route's path takes."""
    return route.grouping.parent if route.grouping is not None else route.dataset


def unknown_key(schema: dict[str, Any], route: DatasetRoute) -> Any:
    """The simplest key the documented schema accepts that names no record."""
    owner = owner_of(route)
    known = cache.snapshot()[owner].by_key
    if schema["type"] == "integer":
        accepted: st.SearchStrategy[Any] = st.integers(schema.get("minimum"), schema.get("maximum"))
    else:
        assert "pattern" in schema, f"{route.route.path}: any text is a well-formed key"
        accepted = st.from_regex(schema["pattern"], fullmatch=True)
    return hypothesis.find(
        accepted, lambda key: owner.lookup.normalise(key) not in known, settings=FIND
    )


def malformed_keys(schema: dict[str, Any], route: DatasetRoute) -> list[Any]:
    """Keys the documented schema refuses: out of bounds, not a number, not the pattern."""
    if schema["type"] == "integer":
        bounds = [schema["minimum"] - 1] if "minimum" in schema else []
        bounds += [schema["maximum"] + 1] if "maximum" in schema else []
        return [*bounds, "x", "1.5"]
    assert "pattern" in schema, f"{route.route.path}: no key is malformed"
    text = st.text(string.ascii_letters + string.digits + "-._~", min_size=1, max_size=70)
    refused = hypothesis.find(
        text, lambda key: not re.fullmatch(schema["pattern"], key), settings=FIND
    )
    return [refused, "x" * 70]


@by_served_dataset
def test_every_route_is_documented_as_declared(dataset: Dataset, document: dict[str, Any]) -> None:
    described = {tag["name"]: tag.get("description") for tag in document["tags"]}
    assert described.get(dataset.tag.name) == dataset.tag.description
    for route in routes_of(dataset):
        documented = operation(document, route)
        assert documented["operationId"] == route.route.name
        assert documented["summary"] == route.route.summary
        assert documented["description"] == route.route.description
        assert documented["tags"] == [dataset.tag.name]
        success = documented["responses"]["200"]["content"]["application/json"]["schema"]
        ref = success["items"]["$ref"] if route.kind != "get" else success["$ref"]
        assert ref == f"#/components/schemas/{dataset.schema.__name__}"
        parameters = {(p["in"], p["name"]) for p in documented.get("parameters", [])}
        assert (("query", "q") in parameters) == route.searchable, route.route.path
        problems = set(documented["responses"]) - {"200"}
        keyed = route.key is not None
        expected = {"503"} | ({"404", "422"} if keyed else {"422"} if route.searchable else set())
        assert problems == expected, route.route.path
        if keyed:
            assert key_schema(document, route).get("examples") == [owner_of(route).lookup.example]


@by_served_dataset
def test_every_route_answers_200_with_the_documented_record(dataset: Dataset) -> None:
    example = example_of(dataset)
    for route in routes_of(dataset):
        for path in route.sample_paths():
            reply = get(path)
            assert reply.status == 200, (path, reply.body[:300])
            assert reply.headers["content-type"] == "application/json", path
            body = reply.json()
            if route.kind == "get":
                assert body == example, path
            else:
                assert isinstance(body, list), path
                for record in body:
                    dataset.schema.model_validate(record)
                assert example in body, path
    # The key the documentation shows is one that answers.
    if dataset.get_route is not None:
        assert dataset.lookup.example in [example[field] for field in dataset.lookup.fields]


@by_served_dataset
def test_an_unknown_well_formed_key_is_a_404_problem(
    dataset: Dataset, document: dict[str, Any]
) -> None:
    for route in keyed_routes_of(dataset):
        assert route.key is not None
        key = unknown_key(key_schema(document, route), route)
        body = problem(route.path(key), 404)
        assert body["type"] == "urn:refdata:problem:not-found"
        assert body["detail"] == f"No {owner_of(route).noun} with {route.key.name} {key!r}."


@by_served_dataset
def test_a_malformed_key_is_a_422_problem(dataset: Dataset, document: dict[str, Any]) -> None:
    for route in keyed_routes_of(dataset):
        assert route.key is not None
        for key in malformed_keys(key_schema(document, route), route):
            body = problem(route.path(key), 422)
            assert body["type"] == "urn:refdata:problem:validation-error"
            assert body["errors"][0]["loc"] == ["path", route.key.name]


@by_dataset
def test_health_counts_every_row_of_its_table(dataset: Dataset) -> None:
    from app.init import engine

    table = dataset.table.__tablename__
    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(dataset.table)).scalar_one()
    assert rows > 0
    assert get("/health").json()["row_counts"][table] == rows


@by_dataset
def test_groupings_hold_their_parents_primary_key(dataset: Dataset) -> None:
    for grouping in dataset.groups:
        (foreign_key,) = inspect(dataset.table).columns[grouping.field].foreign_keys
        parent_key = inspect(grouping.parent.table).primary_key[0]
        assert foreign_key.column is parent_key


def test_the_routes_listed_for_tests_are_the_documented_ones(document: dict[str, Any]) -> None:
    documented = {
        (method, path, operation["operationId"])
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if set(operation["tags"]) & DATASET_TAGS
    }
    assert documented == {("get", r.route.path, r.route.name) for r in DATASET_ROUTES}


def test_names_and_routes_are_unique() -> None:
    assert len({dataset.name for dataset in DATASETS}) == len(DATASETS)
    assert len({dataset.table for dataset in DATASETS}) == len(DATASETS)
    assert len({route.route.name for route in DATASET_ROUTES}) == len(DATASET_ROUTES)
    assert len({route.route.path for route in DATASET_ROUTES}) == len(DATASET_ROUTES)
    tags = {dataset.tag.name: dataset.tag for dataset in DATASETS}
    assert len(tags) == len({dataset.tag for dataset in DATASETS})  # one description per tag


def test_a_declaration_that_cannot_be_served_fails_at_import() -> None:
    with pytest.raises(ValueError, match="'nope' is not a field of the schema"):
        dataclasses.replace(VN_WARDS, search=("name", "nope"))
    with pytest.raises(ValueError, match="'name' is not the primary key"):
        dataclasses.replace(VN_WARDS, key=dataclasses.replace(VN_WARDS.lookup, fields=("name",)))
    moved = Route("/vn/wards/{id}", "get_vn_ward", "Get a ward", "One ward.")
    with pytest.raises(ValueError, match=r"/vn/wards/\{id\} does not take the key \{code\}"):
        dataclasses.replace(VN_WARDS, get_route=moved)
    with pytest.raises(ValueError, match="does not take the key"):
        dataclasses.replace(VN_WARDS, key=Key(("code",)))  # a get route, but no Path for it
    with pytest.raises(ValueError, match="needs a key to look records up by"):
        dataclasses.replace(VN_WARDS, key=None)
    with pytest.raises(ValueError, match="a record step runs at INIT"):
        dataclasses.replace(SETTINGS, at_init=False)


@pytest.mark.parametrize("dataset", INDEXES, ids=lambda dataset: dataset.name)
def test_an_index_only_dataset_has_every_row_in_each_of_its_groupings(dataset: Dataset) -> None:
    data = cache.snapshot()[dataset]
    assert dataset.key is None  # nothing to serve one record by
    assert data.count > 0
    assert dataset.groups
    for grouping in dataset.groups:
        groups = data.groups[grouping.field]
        assert sum(len(group.items) for group in groups.values()) == data.count
        parents = cache.snapshot()[grouping.parent].by_key
        assert set(groups) <= set(parents), f"{grouping.field} names a parent that is not there"


def test_the_index_only_datasets_are_the_conversion_tables() -> None:
    # A dataset that lost its routes by mistake would otherwise drop out of the route tests.
    assert {dataset.name for dataset in INDEXES} == {
        "vn_ward_conversions",
        "vn_district_conversions",
        "vn_province_conversions",
    }
