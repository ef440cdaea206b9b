"""docs/benchmarks.md and docs/benchmarks.png from one run's results, and the targets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from bench.conversion import SIZE
from bench.variants import BY_KEY, ROUTES

HISTORY = Path(__file__).with_name("history.md")

X = "\N{MULTIPLICATION SIGN}"
MINUS = "\N{MINUS SIGN}"
CHART_VARIANTS = ("a", "b", "c", "d")
COLORS = {"a": "#b8b8b8", "b": "#7f7f7f", "c": "#1f77b4", "d": "#2ca02c"}
SHORT = {
    "a": "(a) no globals",
    "b": "(b) engine at INIT",
    "c": "(c) refdata",
    "d": "(d) FastAPI floor",
}

# The targets.
B_OVER_C = 30.0
A_OVER_C = 100.0
C_OVER_D = 1.3
APP_INIT_SHARE = 0.20
P99_OVER_P50 = 3.0


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    goal: str
    passed: bool | None  # None: not measured in this run

    @property
    def verdict(self) -> str:
        return {True: "pass", False: "**FAIL**", None: "not measured"}[self.passed]


def _us(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:,.1f} ms"
    if value >= 1000:
        return f"{value / 1000:,.2f} ms"
    return f"{value:,.0f} µs"


def _primary(results: Mapping[str, Any]) -> str | None:
    warm = results["warm"]
    return "postgresql" if "postgresql" in warm else next(iter(warm), None)


def ratios(results: Mapping[str, Any], backend: str) -> dict[str, dict[str, float]]:
    """a/c, b/c and c/d of medians, per route."""
    warm = results["warm"][backend]
    found = {}
    for route in ROUTES:
        median = {key: warm[key]["routes"][route]["median_us"] for key in CHART_VARIANTS}
        found[route] = {
            "a/c": median["a"] / median["c"],
            "b/c": median["b"] / median["c"],
            "c/d": median["c"] / median["d"],
        }
    return found


def init_shares(cold: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """The app's own INIT (INIT minus a library-only process), per bytecode mode."""
    medians = cold["medians_ms"]
    shares = {}
    for mode in ("pyc", "nopyc"):
        init, libraries, named = (medians[f"{k}/{mode}"] for k in ("app", "libraries", "named"))
        shares[mode] = {
            "init": init,
            "libraries": libraries,
            "named": named,
            "own": init - libraries,
            "share": (init - libraries) / libraries,
            "own_vs_named": init - named,
            "share_vs_named": (init - named) / named,
        }
    return shares


def targets(results: Mapping[str, Any]) -> list[Target]:
    backend = _primary(results)
    found: list[Target] = []
    on_pg = backend == "postgresql"
    where = "" if on_pg else f" ({backend}: PostgreSQL not measured)"
    if backend is not None:
        r = ratios(results, backend)["list"]
        found.append(
            Target(
                f"list route: (c) vs (b){where}",
                f"{r['b/c']:,.1f}{X}",
                f"≥ {B_OVER_C:g}{X}",
                r["b/c"] >= B_OVER_C if on_pg else None,
            )
        )
        found.append(
            Target(
                f"list route: (c) vs (a){where}",
                f"{r['a/c']:,.1f}{X}",
                f"≥ {A_OVER_C:g}{X}",
                r["a/c"] >= A_OVER_C if on_pg else None,
            )
        )
        for route, values in ratios(results, backend).items():
            found.append(
                Target(
                    f"{route} route: (c) / floor (d){where}",
                    f"{values['c/d']:.2f}{X}",
                    f"≤ {C_OVER_D:g}{X}",
                    values["c/d"] <= C_OVER_D if on_pg else None,
                )
            )
        for route in ROUTES:
            timing = results["warm"][backend]["c"]["routes"][route]
            spread = timing["p99_us"] / timing["median_us"]
            found.append(
                Target(
                    f"{route} route: (c) p99 / p50{where}",
                    f"{spread:.2f}{X}",
                    f"≤ {P99_OVER_P50:g}{X}",
                    spread <= P99_OVER_P50 if on_pg else None,
                )
            )
        successors = results["warm"][backend]["c"]["routes"].get("successors")
        if successors is not None:
            floor = results["warm"][backend]["d"]["routes"]["item"]["median_us"]
            ratio = successors["median_us"] / floor
            found.append(
                Target(
                    f"old ward's successors: (c) / floor (d) item route{where}",
                    f"{ratio:.2f}{X}",
                    f"≤ {C_OVER_D:g}{X}",
                    ratio <= C_OVER_D if on_pg else None,
                )
            )
    cold = results.get("cold")
    if cold:
        share = init_shares(cold)["pyc"]
        found.append(
            Target(
                f"app's own INIT / library imports (with .pyc, {cold['backend']})",
                f"{share['own']:,.0f} ms / {share['libraries']:,.0f} ms = {share['share']:.0%}",
                f"≤ {APP_INIT_SHARE:.0%}",
                share["share"] <= APP_INIT_SHARE if cold["backend"] == "postgresql" else None,
            )
        )
    return found


def summary(results: Mapping[str, Any]) -> list[str]:
    lines = []
    backend = _primary(results)
    if backend is not None:
        r = ratios(results, backend)
        lines.append(
            f"{backend}, list route: (c) refdata is {r['list']['b/c']:,.0f}{X} faster than (b), "
            f"{r['list']['a/c']:,.0f}{X} faster than (a), {r['list']['c/d']:.2f}{X} the floor (d)"
        )
    lines += [
        f"  {t.verdict.strip('*'):12s} {t.name}: {t.measured} ({t.goal})" for t in targets(results)
    ]
    return lines


def _warm_table(results: Mapping[str, Any], backend: str) -> list[str]:
    rows = [
        "| design | route | median | p99 | p99/p50 | every round's median "
        "| SQL statements / invoke | connections opened / invoke "
        "| statements the server ran / invoke |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for key, outcome in results["warm"][backend].items():
        for r in outcome["routes"].values():
            server = "—" if r["server_statements"] is None else f"{r['server_statements']:g}"
            rounds = ", ".join(_us(median) for median in r.get("round_medians_us", []))
            rows.append(
                f"| {BY_KEY[key].label} | `{r['path']}` | {_us(r['median_us'])} "
                f"| {_us(r['p99_us'])} | {r['p99_us'] / r['median_us']:.1f} | {rounds} "
                f"| {r['statements']:g} | {r['connects']:g} | {server} |"
            )
    return rows


def _ratio_table(results: Mapping[str, Any]) -> list[str]:
    rows = ["| backend | route | (a) / (c) | (b) / (c) | (c) / (d) |", "|---|---|--:|--:|--:|"]
    for backend in results["warm"]:
        for route, r in ratios(results, backend).items():
            rows.append(
                f"| {backend} | `{ROUTES[route]}` | {r['a/c']:,.0f}{X} | {r['b/c']:,.1f}{X} "
                f"| {r['c/d']:.2f}{X} |"
            )
    return rows


def _cold_section(cold: Mapping[str, Any]) -> list[str]:
    shares = init_shares(cold)
    lines = [
        f"Fresh processes on {cold['backend']}, median of {cold['runs']} run(s) each, runs of "
        "every kind interleaved. INIT = `import app.lambda_handler` + the first invoke "
        f"(`{ROUTES['list']}`).",
        "",
        "| process | with .pyc | without .pyc |",
        "|---|--:|--:|",
        f"| refdata INIT (import + first invoke) | {shares['pyc']['init']:,.0f} ms "
        f"| {shares['nopyc']['init']:,.0f} ms |",
        f"| libraries only: all {cold['libraries']} modules outside `app` that INIT loads "
        f"| {shares['pyc']['libraries']:,.0f} ms | {shares['nopyc']['libraries']:,.0f} ms |",
        "| libraries only: fastapi, mangum, sqlalchemy, pydantic, psycopg "
        f"| {shares['pyc']['named']:,.0f} ms | {shares['nopyc']['named']:,.0f} ms |",
        f"| **app's own INIT** (INIT {MINUS} all libraries) | **{shares['pyc']['own']:,.0f} ms "
        f"({shares['pyc']['share']:.0%})** | {shares['nopyc']['own']:,.0f} ms "
        f"({shares['nopyc']['share']:.0%}) |",
        f"| INIT {MINUS} the five named libraries | {shares['pyc']['own_vs_named']:,.0f} ms "
        f"({shares['pyc']['share_vs_named']:.0%}) | {shares['nopyc']['own_vs_named']:,.0f} ms "
        f"({shares['nopyc']['share_vs_named']:.0%}) |",
        f"| of INIT: the first invoke | {cold['first_invoke_ms']['pyc']:,.1f} ms "
        f"| {cold['first_invoke_ms']['nopyc']:,.1f} ms |",
    ]
    if cold["cache_load_ms"] is not None:
        lines.append(
            f"| of INIT: reading and encoding the snapshot (`Snapshot.load_ms`) "
            f"| {cold['cache_load_ms']:,.0f} ms | |"
        )
    lines += [
        "",
        "Percentages are of the library-only time. Top imports by cumulative time "
        f"(`python -X importtime`, median of {cold['importtime_runs']} run(s) with .pyc; none "
        "listed inside another):",
        "",
        "| module | cumulative | self |",
        "|---|--:|--:|",
    ]
    lines += [
        f"| `{n['name']}` | {n['cumulative_us'] / 1000:,.1f} ms | {n['self_us'] / 1000:,.1f} ms |"
        for n in cold["top_imports"]
    ]
    lines += [
        "",
        "The app's own modules by self time (a module's self time includes what its body "
        "runs: `app.init` builds the engine and loads the snapshot):",
        "",
        "| module | self | cumulative |",
        "|---|--:|--:|",
    ]
    lines += [
        f"| `{n['name']}` | {n['self_us'] / 1000:,.1f} ms | {n['cumulative_us'] / 1000:,.1f} ms |"
        for n in cold["app_modules"]
    ]
    if cold["library_failures"]:
        lines += [
            "",
            "Modules the library-only process could not import on their own (skipped): "
            + ", ".join(f"`{m}`" for m in cold["library_failures"]),
        ]
    return lines


def _artifact_section(measured: Mapping[str, Any]) -> list[str]:
    versions = measured["versions"]
    medians, compiled = measured["medians_ms"], measured["compiled"]
    lines = [
        f"The zip `npx serverless package --param=python=X.Y` builds ({measured['arch']}), "
        "unpacked read-only and imported by that Python with `-I -B` as Lambda runs it: INIT "
        "= `import app.lambda_handler` + the first invoke (`/health`), median of "
        f'{measured["runs"]} fresh processes each, runs interleaved. "modules compiled" '
        "counts the files the import system compiled from source (an audit hook); the same "
        "tree without its `.pyc` files shows what every cold start would compile without "
        "them.",
        "",
        "| Lambda Python | zip | INIT | modules compiled | INIT without .pyc | modules compiled |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    lines += [
        f"| python{v} | {measured['size_mb'][v]:.1f} MB | {medians[f'{v}/pyc']:,.0f} ms "
        f"| {compiled[f'{v}/pyc']} | {medians[f'{v}/nopyc']:,.0f} ms | {compiled[f'{v}/nopyc']} |"
        for v in versions
    ]
    first, last = versions[0], versions[-1]
    lines += [
        "",
        f"python{last} / python{first}: {medians[f'{last}/pyc'] / medians[f'{first}/pyc']:.2f}"
        f"{X} the INIT.",
    ]
    lines += ["", "### Secrets at INIT: the extension against the SDK", ""]
    lines += _secrets_section(measured)
    return lines


def _secrets_section(measured: Mapping[str, Any]) -> list[str]:
    secrets = measured.get("secrets") or {}
    if not secrets:
        return ["Not measured (it needs PostgreSQL: secrets hold PostgreSQL's credentials)."]
    version = measured["versions"][-1]
    medians = measured["medians_ms"]
    url = medians[f"{version}/pyc"]
    lines = [
        f"The same python{version} zip, INIT with the database URL in the environment "
        "against INIT with `REFDATA_DATABASE_SECRET` (an ARN) read from moto's Secrets "
        "Manager on 127.0.0.1: through a double of the Parameters and Secrets extension's "
        "HTTP protocol (`REFDATA_SECRETS_CLIENT=extension`, the default; the double's own "
        "cache off, as deployed), and through Powertools Parameters on boto3 (`sdk`; boto3 "
        "and its dependencies on sys.path after the zip, with their bytecode, as the Lambda "
        'runtime provides them). Medians of the same interleaved runs. "client\'s imports" '
        'is making the client at the first read; "read" is the read itself (the SDK\'s '
        "includes creating its boto3 client).",
        "",
        "| INIT of the zip | median | vs the URL | client's imports | read | reads |",
        "|---|--:|--:|--:|--:|--:|",
        f"| the URL in the environment | {url:,.0f} ms | — | — | — | 0 |",
    ]
    for key, label in (("secret/extension", "extension"), ("secret/sdk", "sdk")):
        if key not in secrets:
            continue
        cost = secrets[key]
        delta = medians[key] - url
        lines.append(
            f"| by reference, {label} | {medians[key]:,.0f} ms | "
            f"{'+' if delta >= 0 else MINUS}{abs(delta):,.0f} ms | {cost['import_ms']:.1f} ms "
            f"| {cost['read_ms']:.1f} ms | {cost['reads']:g} |"
        )
    lines += [
        "",
        "On Lambda both reads also cross the network to Secrets Manager (the same call for "
        "both), and the extension is a process of its own that Lambda starts before the "
        "function's INIT; neither is measured here. What is measured is what each choice "
        "costs in the function's own INIT: the imports and the client.",
    ]
    return lines


def _conversion_section(results: Mapping[str, Any]) -> list[str]:
    """Old addresses (issue 13): the warm conversion calls, and the snapshot before and
    after the old units joined it, on the deployed zip."""
    lines: list[str] = []
    backend = _primary(results)
    if backend is not None:
        routes = results["warm"][backend]["c"]["routes"]
        floor = results["warm"][backend]["d"]["routes"]["item"]["median_us"]
        lines += [
            f"Warm, on {backend}, in design (c)'s process (bench/conversion.py has the "
            "batches: 500 old wards spread over the country; by names, a third written "
            "officially, a third abbreviated, a third without accents or type words):",
            "",
            "| call | median | p99 | per item | vs the floor's item route | SQL / invoke "
            "| first call in the environment |",
            "|---|--:|--:|--:|--:|--:|--:|",
        ]
        for name in ("successors", "convert_codes", "convert_names"):
            if name not in routes:
                continue
            r = routes[name]
            batch = name.startswith("convert_")  # of SIZE items: per item, not vs the floor
            per_item = _us(r["median_us"] / SIZE) if batch else "—"
            vs_floor = "—" if batch else f"{r['median_us'] / floor:.2f}{X}"
            lines.append(
                f"| `{r['path']}` | {_us(r['median_us'])} | {_us(r['p99_us'])} "
                f"| {per_item} | {vs_floor} | {r['statements']:g} | {_us(r['first_us'])} |"
            )
        lines += [
            "",
            "The first call is the environment's first of that route: the successors call is "
            "the first to touch the old units, so it also indexes them (the old wards, "
            "districts and conversion rows are read at INIT but indexed on first use).",
        ]
    artifact = results.get("artifact")
    if artifact and "before" in artifact.get("load_ms", {}):
        version = artifact["versions"][-1]
        after = f"{version}/pyc"
        load, rss, init = artifact["load_ms"], artifact["rss_mib"], artifact["medians_ms"]
        rows = artifact["rows"]
        lines += [
            "",
            f"The deployed zip (python{version}, {artifact['arch']}) before and after: "
            f"`{artifact['before']}` is the last commit before the old units joined the "
            "snapshot, built and probed the same way against the same database; median of "
            f"{artifact['runs']} fresh processes each. RSS is the process's after INIT "
            "(`VmRSS`).",
            "",
            "| zip | rows in the snapshot | snapshot load | RSS after INIT | INIT |",
            "|---|--:|--:|--:|--:|",
            f"| before (`{artifact['before']}`) | {rows['before']:,} | {load['before']:.0f} ms "
            f"| {rss['before']:.1f} MiB | {init['before']:,.0f} ms |",
            f"| after | {rows['after']:,} | {load[after]:.0f} ms | {rss[after]:.1f} MiB "
            f"| {init[after]:,.0f} ms |",
        ]
    return lines or ["Not measured."]


def _managed_section(measured: Mapping[str, Any]) -> list[str]:
    rss = measured["worker_rss_kib"]
    connections = measured["connections"]
    lines = [
        f"AWS's runtime client with `AWS_LAMBDA_MAX_CONCURRENCY={measured['workers']}` forks "
        f"{measured['workers']} worker processes, each with its own INIT, against the emulated "
        f"Runtime API (`harness/lambda_runtime.py`) and {measured['backend']}; then "
        f"{measured['invokes_per_worker']} invokes on each worker, one at a time "
        "(`bench/managed.py`).",
        "",
        "| | |",
        "|---|--:|",
        f"| spawn to all {measured['workers']} workers polling "
        f"| {measured['init_all_ms']:,.0f} ms |",
        f"| RSS per worker | {', '.join(f'{kib / 1024:.1f}' for kib in rss)} MiB |",
        f"| RSS of the runtime client's main process | {measured['main_rss_kib'] / 1024:.1f} MiB |",
        "| the app's connections, as the server lists them | "
        + ("n/a (SQLite)" if connections is None else f"{connections}")
        + " |",
    ]
    if measured["round_trip_median_us"] is not None:
        lines.append(
            "| warm invoke through the emulated Runtime API, median "
            f"| {measured['round_trip_median_us']:,.0f} µs |"
        )
    return lines


def _load_section(results: Mapping[str, Any]) -> list[str]:
    loaded = results.get("load") or {}
    if not loaded:
        return ["Not run (`--load-seconds 0`)."]
    first = next(iter(next(iter(loaded.values())).values()))
    lines = [
        f"uvicorn (one worker, `--no-access-log`) on 127.0.0.1, {results['load_backend']}; "
        f"{first['tool']}, {first['connections']} keep-alive connections, "
        f"{first['seconds']:g} s per route. (b) gets SQLAlchemy's default pool (5 + 10) here; "
        "(c) logs its JSON line per request to a file.",
        "",
        "| design | route | requests/s | p50 | p99 | errors |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for key, routes in loaded.items():
        for route, r in routes.items():
            lines.append(
                f"| {BY_KEY[key].label} | `{ROUTES[route]}` | {r['requests_per_second']:,.0f} "
                f"| {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms | {r['errors']} |"
            )
    return lines


def markdown(results: Mapping[str, Any], png_name: str) -> str:
    m = results["machine"]
    plan = results["plan"]
    backend = _primary(results)
    start, end = results["load_average"]["start"], results["load_average"]["end"]
    smoke = " **Smoke run: tiny counts, numbers meaningless.**" if results["smoke"] else ""
    lines = [
        "# Benchmarks",
        "",
        f"`make bench` on {results['date']}, {results['elapsed_s']:.0f} s.{smoke} "
        f"{m['cpu']}, {m['cores']} cores, {m['memory']}; load average "
        f"{start[0]:.2f} at the start, {end[0]:.2f} at the end (anything near or above the core "
        "count means other work shared the machine).",
        "",
        f"![Warm invokes and INIT]({png_name})",
        "",
        "## Targets",
        "",
        "| target | measured | goal | |",
        "|---|--:|--:|---|",
    ]
    lines += [f"| {t.name} | {t.measured} | {t.goal} | {t.verdict} |" for t in targets(results)]
    lines += ["", "## Warm invokes", ""]
    lines += [
        f"The real Mangum handler called with API Gateway HTTP API (2.0) events, in a fresh "
        f"process per design, database and round: {plan['warmup']} warm-up invokes per route, "
        f"then {plan['invokes']:,} timed (`time.perf_counter_ns` around "
        f"`handler(event, context)`, gc on, after `gc.freeze()`), then {plan['count']} "
        "counted with SQLAlchemy events "
        "(and, on PostgreSQL, `pg_stat_statements` for the server's view: pre-ping, "
        "`BEGIN`/`ROLLBACK` and the driver's own queries included). All designs answer the "
        f"same bytes. Each design ran up to {plan['rounds']} rounds, each in a fresh process, "
        "the designs taking turns (each once, then again): a burst of noise from a neighbour "
        "on this shared machine lasts seconds and can cover the whole 0.2 s run of a "
        "sub-millisecond design, but rarely most of its rounds. A design whose one round "
        f"spanned {plan['long_round_s']:g} s of timed invokes ran once (no burst moves the "
        "median of a run that long). Each route's figures are from its fastest round by "
        "median (p99 and counts from that same round): noise from elsewhere only ever adds "
        "time, so the fastest round is the best estimate of what the code itself costs, as "
        "`timeit`'s documentation reasons. A design that ran once has only that round, so "
        "the ratios against it favour the designs with rounds by at most their spread; every "
        "round's median is listed. (c) also times `POST /orders/quote` (priced from the "
        "snapshot) and `POST /orders` (a new `Idempotency-Key` per invoke, so each one places "
        "an order).",
        "",
    ]
    lines += _ratio_table(results)
    for kind in results["warm"]:
        version = results["databases"].get(kind, "")
        lines += ["", f"### {kind} {version}".rstrip(), ""]
        lines += _warm_table(results, kind)
    lines += ["", "## Cold start", ""]
    lines += _cold_section(results["cold"]) if results.get("cold") else ["Not measured."]
    lines += ["", "## The deployed artifact, per Lambda Python", ""]
    lines += _artifact_section(results["artifact"]) if results.get("artifact") else ["Not run."]
    lines += ["", "## Old addresses: conversion, and what the old units cost", ""]
    lines += _conversion_section(results)
    lines += ["", "## Lambda Managed Instances: one environment, several processes", ""]
    lines += _managed_section(results["managed"]) if results.get("managed") else ["Not run."]
    lines += ["", "## Under uvicorn", ""]
    lines += _load_section(results)
    lines += [
        "",
        "## The designs",
        "",
        "- **(a) no globals** (`bench/designs/no_globals.py`): every request creates an engine, "
        "connects, queries through an ORM session and disposes of the engine. It is also "
        "what an engine built in a lifespan becomes under Mangum, which runs lifespan "
        "startup and shutdown on every invoke.",
        "- **(b) engine at INIT** (`bench/designs/engine_at_init.py`): the usual service: "
        "module-scope engine (pool 1 + 0, pre-ping, as refdata's), a session per request from "
        "a dependency, one `select()` per request.",
        "- (a) and (b) are written as FastAPI's SQL tutorial and full-stack-fastapi-template "
        "write them (`bench/designs/common.py`): SQLAlchemy 2 mapped class, `def` routes "
        "(a blocking driver belongs in FastAPI's thread pool), `response_model` serializing "
        "the rows. Same paths, same JSON bytes as refdata.",
        "- **(c) refdata**: `app.lambda_handler.handler`, unmodified, configured through "
        "`REFDATA_*`. Its per-request JSON log line is on (`REFDATA_LOG_LEVEL=INFO`, stderr "
        "to a file), as in production; the row *log WARNING* shows the same without it. The "
        "targets use the production row.",
        "- **(d) framework floor** (`bench/designs/floor.py`): `async def` routes returning "
        "constant bytes (refdata's own responses) through FastAPI + Mangum, no middleware: "
        "the least any FastAPI service on Lambda can cost.",
        "",
        "## Measured once: the figures behind design choices in the code",
        "",
        "The code says why it does what it does; what was measured, once, to decide it is "
        "kept here (`bench/history.md`), not in comments.",
        "",
        HISTORY.read_text().strip(),
        "",
        "## Machine and versions",
        "",
        f"- {m['os']}, Python {m['python']}",
        f"- {m['cpu']}, {m['cores']} cores, {m['memory']}",
    ]
    for kind, version in results["databases"].items():
        where = " (throwaway server on 127.0.0.1, fsync off)" if kind == "postgresql" else " (file)"
        lines.append(f"- {kind} {version}{where}")
    lines.append("- " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()))
    for reason in results["missing"]:
        lines.append(f"- not measured: {reason}")
    if backend is None:
        lines.append("- no warm results")
    lines += [
        "",
        "Re-run with `make bench` (options: `.venv/bin/python -m bench --help`). Numbers move "
        "with the machine; ratios from one run are what to compare.",
        "",
    ]
    return "\n".join(lines)


def chart(results: Mapping[str, Any], png: Path) -> None:
    backend = _primary(results)
    # The object API, without pyplot: no GUI backend, no global figure state.
    figure = Figure(figsize=(12, 5.2))
    warm_ax, init_ax = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1.7, 1]})
    if backend is not None:
        warm = results["warm"][backend]
        width = 0.38
        for offset, (route, hatch) in zip(
            (-width / 2, width / 2), (("list", ""), ("item", "//")), strict=True
        ):
            medians = [warm[k]["routes"][route]["median_us"] for k in CHART_VARIANTS]
            p99s = [warm[k]["routes"][route]["p99_us"] for k in CHART_VARIANTS]
            xs = [i + offset for i in range(len(CHART_VARIANTS))]
            warm_ax.bar(
                xs,
                medians,
                width,
                color=[COLORS[k] for k in CHART_VARIANTS],
                hatch=hatch,
                edgecolor="white",
                label=f"{ROUTES[route]}",
                yerr=[[0] * len(medians), [p - m for p, m in zip(p99s, medians, strict=True)]],
                error_kw={"ecolor": "#333", "capsize": 3, "elinewidth": 1},
            )
            for x, value in zip(xs, medians, strict=True):
                warm_ax.annotate(
                    _us(value),
                    (x, value),
                    xytext=(0, -13),
                    textcoords="offset points",
                    ha="center",
                    fontsize=8,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
                )
        r = ratios(results, backend)["list"]
        warm_ax.set_yscale("log")
        warm_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _us(v)))
        warm_ax.set_xticks(range(len(CHART_VARIANTS)), [SHORT[k] for k in CHART_VARIANTS])
        warm_ax.set_ylabel("µs per warm invoke (log scale); bar = median, whisker = p99")
        warm_ax.set_title(
            f"Warm invoke through Mangum, {backend}\n"
            f"list route: refdata {r['b/c']:,.0f}{X} faster than (b), {r['a/c']:,.0f}{X} than (a), "
            f"{r['c/d']:.2f}{X} the floor",
            fontsize=10,
        )
        legend = warm_ax.legend(title="route (hatched: item)", fontsize=8, title_fontsize=8)
        for handle in legend.legend_handles:
            if handle is not None:
                handle.set_facecolor("#999")
        warm_ax.grid(axis="y", which="major", alpha=0.3)
    cold = results.get("cold")
    if cold:
        shares = init_shares(cold)
        modes = ("pyc", "nopyc")
        labels = ["with .pyc", "without .pyc"]
        libraries = [shares[m]["libraries"] for m in modes]
        own = [max(0.0, shares[m]["own"]) for m in modes]
        init_ax.bar(labels, libraries, 0.55, color="#c7c7c7", label="library imports")
        init_ax.bar(labels, own, 0.55, bottom=libraries, color=COLORS["c"], label="app's own")
        for i, mode in enumerate(modes):
            total = shares[mode]["init"]
            init_ax.annotate(
                f"{total:,.0f} ms\napp {shares[mode]['own']:,.0f} ms ({shares[mode]['share']:.0%})",
                (i, total),
                xytext=(0, 4),
                textcoords="offset points",
                ha="center",
                fontsize=8,
            )
            init_ax.annotate(
                f"{libraries[i]:,.0f} ms", (i, libraries[i] / 2), ha="center", fontsize=8
            )
        init_ax.set_ylim(0, max(shares[m]["init"] for m in modes) * 1.22)
        init_ax.set_ylabel("ms")
        init_ax.set_title(
            f"INIT: import + first invoke, {cold['backend']}\n"
            f"median of {cold['runs']} fresh processes",
            fontsize=10,
        )
        init_ax.legend(fontsize=8, loc="upper left")
        init_ax.grid(axis="y", alpha=0.3)
    smoke = " (smoke run: numbers meaningless)" if results["smoke"] else ""
    figure.suptitle(f"refdata benchmark, {results['date']}{smoke}", fontsize=11)
    figure.tight_layout()
    figure.savefig(png, dpi=110)


def write(results: Mapping[str, Any], markdown_path: Path, png: Path) -> None:
    chart(results, png)
    markdown_path.write_text(markdown(results, png.name))
