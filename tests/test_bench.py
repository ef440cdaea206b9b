"""`make bench` keeps working: its smoke mode runs end to end. No test here asserts a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from app.schemas import MAX_CONVERT_ITEMS
from bench import conversion
from bench.cold import parse_importtime, top_imports
from bench.load import parse_wrk
from bench.run import best_round
from bench.variants import ROUTES, WARM
from harness import REPO
from tests.conftest import Backend

WRK_OUTPUT = """\
Running 10s test @ http://127.0.0.1:40123/countries
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.21ms  612.00us  18.07ms   91.20%
    Req/Sec     3.81k   210.33     4.02k    88.00%
  Latency Distribution
     50%    4.10ms
     75%    4.30ms
     90%    4.62ms
     99%    7.55ms
  37912 requests in 10.00s, 0.93GB read
  Socket errors: connect 0, read 1, write 0, timeout 2
Requests/sec:   3790.22
Transfer/sec:     95.31MB
"""

# Children are printed before their parent, indented two spaces per level.
IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       100 |        100 |       sqlalchemy.util
import time:       400 |        500 |     sqlalchemy
import time:       900 |        900 |     fastapi.routing
import time:       200 |       1100 |   fastapi
import time:        50 |       1650 | app.main
import time:      3000 |       3000 | pydantic
"""


def test_smoke_run_writes_the_report_the_chart_and_sane_counts(
    backend: Backend, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFDATA_")}
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--backend", backend.kind, "--out", str(out),
         "--json", str(tmp_path / "results.json")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "[bench" in result.stdout  # progress is shown while it runs

    assert (out / "benchmarks.png").read_bytes().startswith(b"\x89PNG")
    markdown = (out / "benchmarks.md").read_text()
    assert "![Warm invokes and INIT](benchmarks.png)" in markdown
    for heading in ("## Targets", "## Warm invokes", "## Cold start", "## Under uvicorn"):
        assert heading in markdown
    for variant in WARM:
        assert variant.label in markdown

    results = json.loads((tmp_path / "results.json").read_text())
    warm = results["warm"][backend.kind]
    assert set(warm) == {variant.key for variant in WARM}
    for route in ROUTES:
        # The same 200 body from every design, or the comparison means nothing.
        assert len({warm[key]["routes"][route]["body_sha256"] for key in warm}) == 1
        assert {warm[key]["routes"][route]["status"] for key in warm} == {200}
        assert warm["c"]["routes"][route]["statements"] == 0
        assert warm["c"]["routes"][route]["connects"] == 0
        rounds = warm["c"]["routes"][route]["round_medians_us"]
        assert len(rounds) == 2  # SMOKE: every design ran twice, in fresh processes
        assert warm["c"]["routes"][route]["median_us"] == min(rounds)  # the fastest round
        assert warm["d"]["routes"][route]["statements"] == 0
        assert warm["b"]["routes"][route]["statements"] >= 1
        assert warm["b"]["routes"][route]["connects"] == 0
        assert warm["a"]["routes"][route]["connects"] >= 1
        if backend.kind == "postgresql":
            assert warm["c"]["routes"][route]["server_statements"] == 0
            assert warm["b"]["routes"][route]["server_statements"] >= 1

    # Old addresses: a split ward's successors and full batches, with no SQL.
    for name in ("successors", "convert_codes", "convert_names"):
        assert warm["c"]["routes"][name]["statements"] == 0
        if backend.kind == "postgresql":
            assert warm["c"]["routes"][name]["server_statements"] == 0
    # The batches convert what they should (bench/conversion.py: 500 old wards; a third of
    # them by names without accents or type words), not 500 refusals.
    assert warm["c"]["routes"]["convert_codes"]["statuses"] == {"resolved": 468, "ambiguous": 32}
    assert warm["c"]["routes"]["convert_names"]["statuses"] == {"resolved": 468, "ambiguous": 32}
    assert "## Old addresses" in markdown
    assert conversion.SIZE == MAX_CONVERT_ITEMS  # the bench's batches are full ones

    cold = results["cold"]
    assert set(cold["medians_ms"]) == {
        f"{kind}/{mode}" for kind in ("app", "libraries", "named") for mode in ("pyc", "nopyc")
    }
    assert cold["libraries"] > 100
    assert len(cold["top_imports"]) == 10
    assert any(m["name"] == "app.init" for m in cold["app_modules"])
    managed = results["managed"]  # Managed Instances: every worker measured
    assert managed["workers"] == len(managed["worker_rss_kib"]) >= 4
    assert all(kib > 0 for kib in managed["worker_rss_kib"])
    if backend.kind == "postgresql":
        assert managed["connections"] == managed["workers"]  # one pool of 1 + 0 each
    assert "## Lambda Managed Instances" in markdown
    assert "artifact" not in results  # the smoke run builds no zip
    for key in ("b", "c"):
        for route in ROUTES:
            measured = results["load"][key][route]
            assert measured["requests"] > 0
            assert measured["errors"] == 0


def test_wrk_output_is_read() -> None:
    measured = parse_wrk(WRK_OUTPUT, 10, 16)
    assert measured.requests == 37912
    assert measured.requests_per_second == 3790.22
    assert measured.p50_ms == 4.10
    assert measured.p99_ms == 7.55
    assert measured.errors == 3


def test_top_imports_never_count_a_module_twice() -> None:
    nodes = parse_importtime(IMPORTTIME)
    assert [(n.name, n.depth) for n in nodes][:2] == [("sqlalchemy.util", 3), ("sqlalchemy", 2)]
    top = [n.name for n in top_imports(nodes, count=3)]
    # app.* is the app's own; fastapi contains sqlalchemy's import here, so only fastapi counts.
    assert top == ["pydantic", "fastapi"]


def test_a_design_is_reported_from_its_fastest_round_with_every_round_beside_it() -> None:
    def run(list_us: float, item_us: float) -> dict[str, object]:
        routes = {
            "list": {"median_us": list_us, "p99_us": list_us * 2},
            "item": {"median_us": item_us, "p99_us": item_us * 3},
        }
        return {"variant": "c", "routes": routes}

    # A burst of noise covered round 1 of the list route and round 3 of the item route.
    combined = best_round([run(152.0, 88.0), run(80.0, 90.0), run(81.0, 160.0)])
    assert combined["rounds"] == 3
    assert combined["routes"]["list"] == {
        "median_us": 80.0, "p99_us": 160.0, "round_medians_us": [152.0, 80.0, 81.0]
    }  # fmt: skip
    assert combined["routes"]["item"]["median_us"] == 88.0
    assert combined["routes"]["item"]["p99_us"] == 264.0  # from the same round as its median
