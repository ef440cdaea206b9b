"""The worst legal request of every route: the one whose answer is the largest, built from
the snapshot's own data, and what its answer costs against Lambda's response limit.

The largest record, list or group of each dataset; the old unit whose conversion answer is
the longest, and a full batch of the longest item; the largest order a body may carry; and
the worst body a client can send that is not a request at all (`unknown_keys`).
`tests/test_bounds.py` checks each answer fits Lambda's limit with room to spare;
`reliability/hostile.py` measures and times them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from harness import REPO

# A synchronous invoke's response payload, at most (Lambda quotas: 6 MB).
LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024
# What the worst answer may take of it: the other half is room for what answers grow by.
BUDGET = LAMBDA_RESPONSE_LIMIT // 2
JSON = {"content-type": "application/json"}


@dataclass(frozen=True)
class Worst:
    """One route's worst legal request."""

    route: str  # "GET /countries/{code}"
    path: str
    what: str  # why this one is the worst
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return self.route.split()[0]


def runtime_environment() -> str:
    """AWS_EXECUTION_ENV of the runtime serverless.yml deploys: `AWS_Lambda_python3.13`."""
    config = yaml.safe_load((REPO / "serverless.yml").read_text())
    return f"AWS_Lambda_python{config['params']['default']['python']}"


def marshalled(response: dict[str, Any]) -> int:
    """The bytes the runtime interface client sends to Lambda for `response`, encoded as the
    deployed runtime encodes it (its AWS_EXECUTION_ENV makes the encoder keep UTF-8)."""
    from awslambdaric.lambda_runtime_marshaller import to_json

    before = os.environ.get("AWS_EXECUTION_ENV")
    os.environ["AWS_EXECUTION_ENV"] = runtime_environment()
    try:
        return len(to_json(response).encode())
    finally:
        if before is None:
            del os.environ["AWS_EXECUTION_ENV"]
        else:
            os.environ["AWS_EXECUTION_ENV"] = before


def dataset_cases(snapshot: Any) -> Iterator[Worst]:
    """Each dataset route: its whole list; its largest record; its largest group."""
    from harness.datasets import DATASET_ROUTES  # the registry: imports the app

    for declared in DATASET_ROUTES:
        route = f"GET {declared.route.path}"
        data = snapshot.datasets[declared.dataset.name]
        if declared.kind == "list":
            yield Worst(route, declared.path(), f"all {data.count:,} records")
        elif declared.kind == "get":
            item = max(data.by_key.values(), key=lambda i: len(i.body))
            key = item.record[declared.dataset.lookup.fields[0]]
            yield Worst(route, declared.path(key), f"the largest record ({len(item.body):,} B)")
        else:
            assert declared.grouping is not None
            groups = data.groups[declared.grouping.field]
            key, group = max(groups.items(), key=lambda kv: len(kv[1].body))
            size = len(group.items)
            yield Worst(route, declared.path(key), f"the largest group ({size:,} records)")


def conversion_cases(snapshot: Any) -> Iterator[Worst]:
    """Each conversion route's longest answer, and a full batch of the longest item
    (by code or by names: a province and a ward or district name that match the most)."""
    from app.conversion import conversions
    from app.datasets import VN_LEGACY_DISTRICTS, VN_LEGACY_PROVINCES, VN_LEGACY_WARDS, VN_WARDS
    from app.schemas import MAX_CONVERT_ITEMS, ByNames

    answers = conversions(snapshot)
    routes = (  # the route, whose codes, its answer, the same old unit as a batch item
        ("/vn/legacy/wards/{code}/successors", VN_LEGACY_WARDS, answers.ward, "ward_code"),
        (
            "/vn/legacy/districts/{code}/successors",
            VN_LEGACY_DISTRICTS,
            answers.district,
            "district_code",
        ),
        (
            "/vn/legacy/provinces/{code}/successors",
            VN_LEGACY_PROVINCES,
            answers.province,
            "province_code",
        ),
        ("/vn/wards/{code}/predecessors", VN_WARDS, answers.predecessors, None),
    )
    items: list[tuple[int, dict[str, Any]]] = []
    for template, dataset, lookup, by_code in routes:
        size, code = max((_size(lookup(code)), code) for code in snapshot[dataset].by_key)
        yield Worst(f"GET {template}", template.replace("{code}", str(code)), f"{size:,} B")
        if by_code is not None:
            items.append((size, {by_code: code}))
    provinces = {
        item.record["code"]: item.record["name"] for item in snapshot[VN_LEGACY_PROVINCES].all.items
    }
    for dataset, level in ((VN_LEGACY_WARDS, "ward"), (VN_LEGACY_DISTRICTS, "district")):
        seen = set()
        for unit in snapshot[dataset].all.items:
            province, name = provinces[unit.record["province_code"]], unit.record["name"]
            names = {"province": province, level: name}
            if (names["province"], names[level]) not in seen:
                seen.add((names["province"], names[level]))
                items.append((len(answers.by_names(ByNames(**names)).body), names))
    size, item = max(items, key=lambda pair: pair[0])
    body = json.dumps({"items": [item] * MAX_CONVERT_ITEMS}, ensure_ascii=False).encode()
    yield Worst(
        "POST /vn/convert",
        "/vn/convert",
        f"{MAX_CONVERT_ITEMS:,} x {item} ({size:,} B each)",
        body,
        JSON,
    )


def _size(answer: Any) -> int:
    assert answer is not None, "a code of the snapshot has no answer"
    return len(answer.body)


def unknown_keys(size: int) -> bytes:
    """A JSON object of `size` bytes or a little less: nothing but unknown keys (one error each,
    were they all listed)."""
    keys = b",".join(b'"%x":0' % i for i in range(size // 6))
    return b"{" + keys[: size - 2].rsplit(b",", 1)[0] + b"}"


def largest_order(max_body_bytes: int) -> dict[str, Any]:
    """The order with the most lines, each as long as it may be, that fits in a body (its
    total still within a 64-bit amount, as the database keeps it)."""
    street = "Số 1 đường Nguyễn Thị Minh Khai, " * 7
    order: dict[str, Any] = {
        "address": {"province_code": 79, "ward_code": 26740, "street": street[:200]},
        "weight_grams": 10_000_000,
        "lines": [],
    }
    while True:
        sku = f"{len(order['lines']):08d}" + "X" * 56
        line = {"sku": sku, "quantity": 1_000_000, "unit_price_vnd": 9_999_999}
        order["lines"].append(line)
        if len(json.dumps(order, ensure_ascii=False).encode()) > max_body_bytes:
            order["lines"].pop()
            return order


def static_cases(docs_page: str) -> Iterator[Worst]:
    """The documents and assets the service serves itself."""
    yield Worst("GET /openapi.json", "/openapi.json", "the OpenAPI document")
    yield Worst("GET /docs", "/docs", "Swagger UI's page")
    yield Worst("GET /redoc", "/redoc", "ReDoc's page")
    yield Worst("GET /redoc/logo-mini.svg", "/redoc/logo-mini.svg", "ReDoc's logo")
    yield Worst("GET /health", "/health", "the cache's state")
    bundle = re.search(r"/docs/assets/[0-9a-f]+/swagger-ui-bundle\.js", docs_page)
    assert bundle is not None, "Swagger UI's page names no bundle"
    yield Worst("GET /docs/assets/{digest}/{name}", bundle[0], "the largest asset")
