"""Write docs/reliability.md from the JSON summaries of a `make reliability` run.

    python -m reliability.report .reliability docs/reliability.md

Each summary says what was tried, what was observed, and which checks held; this module
only lays them out, so the document is exactly what the run saw.
"""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ORDER = ["fuzz", "bad-events", "faults", "load", "hostile"]


def _name(key: str) -> str:
    """A summary's key as words: `p50_ms` → `p50 ms`; a path or a header stays as it is."""
    return key.replace("_", " ") if key.isidentifier() else key


def _value(value: Any, nested: bool = False) -> str:
    if isinstance(value, dict):
        text = ", ".join(f"{_name(k)}: {_value(v, True)}" for k, v in value.items())
        return f"({text})" if nested and len(value) > 1 else text
    if isinstance(value, list):
        return "; ".join(_value(v) for v in value) if value else "—"
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "—"}[value]
    if isinstance(value, int | float):
        return f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"
    return str(value)


def _checks(checks: dict[str, bool]) -> list[str]:
    lines = ["| check | held |", "|---|---|"]
    lines += [f"| {name} | {'yes' if held else '**NO**'} |" for name, held in checks.items()]
    return lines


def _operations(operations: list[dict[str, Any]]) -> list[str]:
    lines = ["| variant | operation | requests | statuses |", "|---|---|--:|---|"]
    for op in operations:
        statuses = ", ".join(f"{k}: {v:,}" for k, v in op.get("statuses", {}).items())
        lines.append(
            f"| {op.get('variant', '')} | `{op.get('operation', '')}` "
            f"| {op.get('requests', 0):,} | {statuses} |"
        )
    return [*lines, ""]


def _numeric(cells: list[Any]) -> bool:
    present = [cell for cell in cells if cell is not None]
    return bool(present) and all(
        isinstance(cell, int | float) and not isinstance(cell, bool) for cell in present
    )


def _table(table: dict[str, Any]) -> list[str]:
    """A run's table: {"title", "columns", "rows"}; numbers right-aligned."""
    columns, rows = table["columns"], table["rows"]
    align = ["--:" if _numeric([row[i] for row in rows]) else "---" for i in range(len(columns))]
    lines = [f"**{table['title']}**", "", "| " + " | ".join(columns) + " |"]
    lines.append("|" + "|".join(align) + "|")
    cells = [[_value(cell).replace("|", "\\|") for cell in row] for row in rows]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return [*lines, ""]


def _findings(runs: list[dict[str, Any]]) -> list[str]:
    """One line per run that reproduces a finding: what was seen then, and whether it holds."""
    lines = ["| finding | seen before | held now |", "|---|---|---|"]
    for run in runs:
        mark = "yes" if run.get("held") else "**NO**"
        lines.append(f"| {run.get('scenario', '?')} | {run['before']} | {mark} |")
    return [*lines, ""]


def _facts(title: str, facts: dict[str, Any]) -> list[str]:
    operations = facts.get("operations")
    if isinstance(operations, list) and operations and isinstance(operations[0], dict):
        facts = {k: v for k, v in facts.items() if k != "operations"}
        return [*_facts(title, facts), *_operations(operations)]
    lines = [f"**{title}**", ""]
    lines += [
        f"- {_name(key)}: {value if key == 'seed' else _value(value)}"
        for key, value in facts.items()
    ]
    return [*lines, ""]


def section(summary: dict[str, Any]) -> list[str]:
    scenario = summary.get("scenario", "?")
    backend = summary.get("backend")
    heading = f"## {scenario}" + (f" ({backend})" if backend else "")
    lines = [heading, ""]
    lines.append(f"Held: **{'yes' if summary.get('held') else 'NO'}**. ")
    lines.append(f"Command: `{summary.get('command', '?')}`")
    lines.append("")
    if summary.get("environment"):
        lines += [f"Environment: {summary['environment']}", ""]
    for key in ("plan", "tried", "orders", "reads", "server_log", "connections", "observed"):
        if isinstance(summary.get(key), dict):
            lines += _facts(key.replace("_", " ").capitalize(), summary[key])
    runs = summary.get("runs", [])
    if runs and all(run.get("before") for run in runs):
        lines += _findings(runs)
    for run in runs:
        lines += [f"### {run.get('scenario', '?')}", ""]
        if run.get("before"):
            lines += [f"Seen before: {run['before']}.", ""]
        if run.get("environment"):
            lines += [f"Environment: {run['environment']}", ""]
        for key in ("tried", "observed"):
            if isinstance(run.get(key), dict) and run[key]:
                lines += _facts(key.capitalize(), run[key])
        for table in run.get("tables", []):
            lines += _table(table)
        if run.get("checks"):
            lines += [*_checks(run["checks"]), ""]
    if not summary.get("runs") or summary.get("scenario") == "fuzz":
        lines += [*_checks(summary.get("checks", {})), ""]
    return lines


def render(summaries: list[dict[str, Any]], missing: list[str]) -> str:
    held = all(s.get("held") for s in summaries) and not missing
    lines = [
        "# Reliability",
        "",
        "Generated by `make reliability` (the long versions of the fault, load, fuzzing and",
        "malformed-event tests, and issue 21's hostile inputs sent again; `make test` runs the",
        "short ones). Do not edit by hand.",
        "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {platform.machine()}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}",
        f"- overall: **{'every check held' if held else 'SOME CHECKS FAILED'}**",
        "",
        "| part | backend | held |",
        "|---|---|---|",
    ]
    for summary in summaries:
        mark = "yes" if summary.get("held") else "**NO**"
        lines.append(f"| {summary.get('scenario')} | {summary.get('backend', '—')} | {mark} |")
    lines += [f"| {name} | — | **did not run** |" for name in missing]
    lines.append("")
    for summary in summaries:
        lines += section(summary)
    return "\n".join(lines).rstrip() + "\n"


def normalize(summary: dict[str, Any]) -> dict[str, Any]:
    """reliability.fuzz writes `part`/`what`/`backends`; lay it out like the others."""
    if "scenario" not in summary and summary.get("part") == "fuzzing":
        summary = {
            "scenario": "fuzz",
            "environment": summary.get("what"),
            "tried": {
                "examples_per_operation": summary.get("examples_per_operation"),
                "seed": summary.get("seed"),
                "requests": summary.get("requests"),
            },
            "runs": [
                {"scenario": f"backend: {b.get('backend', '?')}", "observed": b, "checks": {}}
                for b in summary.get("backends", [])
            ],
            "checks": summary.get("checks", {}),
            "command": summary.get("command")
            or f"python -m reliability.fuzz --examples {summary.get('examples_per_operation')}",
            **summary,
        }
    summary.setdefault("held", all(summary.get("checks", {}).values()))
    return summary


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    source, target = Path(args[0]), Path(args[1])
    summaries = [normalize(json.loads(p.read_text())) for p in sorted(source.glob("*.json"))]
    summaries.sort(key=lambda s: ORDER.index(s["scenario"]) if s.get("scenario") in ORDER else 99)
    present = {s.get("scenario") for s in summaries}
    missing = [name for name in ORDER if name not in present]
    target.write_text(render(summaries, missing))
    print(f"wrote {target}: {len(summaries)} summaries, missing: {missing or 'none'}")
    return 0 if all(s.get("held") for s in summaries) and not missing else 1


if __name__ == "__main__":
    sys.exit(main())
