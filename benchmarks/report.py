"""Turn the raw runs collected by ``run.py`` into tables, ratios and targets.

Everything here is a pure function of the results dict (the same dict that is
written to ``latest.json``), so a saved JSON can be re-rendered::

    python benchmarks/report.py benchmarks/results/latest.json

Ratios compare **medians**: to the floor (raw aiohttp + orjson) and to the
official client of the same kind (async rows to its async client, sync rows
to its sync client).
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Callable
from typing import Any

FLOOR = "floor"
OFFICIAL = {"async": "official_async", "sync": "official_sync"}

Metric = Callable[[dict[str, Any]], float]


def _cpu_per_1k(run: dict[str, Any]) -> float:
    return float(run["cpu_s"] / run["requests"] * 1e6)  # ms per 1,000 requests


def _wall(run: dict[str, Any]) -> float:
    return float(run["wall_s"])


def _rss_mb(run: dict[str, Any]) -> float:
    return float(run["rss_growth_kb"] / 1024)


def _us_per_item(run: dict[str, Any]) -> float:
    return float(run["cpu_s"] / run["items"] * 1e6)


def _cpu_us_per_call(run: dict[str, Any]) -> float:
    return float(run["cpu_s"] / run["requests"] * 1e6)


def _wall_us_per_call(run: dict[str, Any]) -> float:
    return float(run["wall_s"] / run["requests"] * 1e6)


# Per scenario: the columns shown, (header, metric, format); the first one is
# the one ratios are computed on.
COLUMNS: dict[str, list[tuple[str, Metric, str]]] = {
    "A": [("CPU ms/1k req", _cpu_per_1k, "{:.0f}"), ("wall s", _wall, "{:.2f}")],
    "B": [("CPU ms/1k req", _cpu_per_1k, "{:.0f}"), ("wall s", _wall, "{:.2f}")],
    "E": [
        ("CPU ms/1k req", _cpu_per_1k, "{:.0f}"),
        ("peak RSS growth MB", _rss_mb, "{:.1f}"),
        ("wall s", _wall, "{:.2f}"),
    ],
    "C": [("CPU µs/model", _us_per_item, "{:.2f}")],
    "S": [
        ("CPU µs/req", _cpu_per_1k, "{:.0f}"),
        ("wall ms/1k req", lambda r: _wall(r) / r["requests"] * 1e6, "{:.0f}"),
    ],
    "D": [
        ("CPU µs/call", _cpu_us_per_call, "{:.0f}"),
        ("wall µs/call", _wall_us_per_call, "{:.0f}"),
    ],
}


def stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(results: dict[str, Any]) -> None:
    """Add ``stats`` (per column) and ``ratios`` to every row, in place."""
    for key, scenario in results["scenarios"].items():
        columns = COLUMNS[key]
        medians: dict[str, float] = {}
        for row in scenario["rows"]:
            runs = row.get("runs") or []
            if row["status"] != "ok" or not runs:
                row["stats"] = {}
                continue
            row["stats"] = {h: stats([m(r) for r in runs]) for h, m, _ in columns}
            medians[row["name"]] = row["stats"][columns[0][0]]["median"]
        for row in scenario["rows"]:
            row["ratios"] = _ratios(key, row, medians)


def _ratios(key: str, row: dict[str, Any], medians: dict[str, float]) -> dict[str, Any]:
    mine = medians.get(row["name"])
    if mine is None:
        return {}

    def ratio(ref: str | None) -> float | None:
        base = medians.get(ref) if ref else None
        return mine / base if base else None

    if key == "C":
        return {"x json.loads": ratio("json_loads"), "x orjson": ratio("orjson_loads")}
    if key == "S":
        # Against the floor at the same concurrency, CPU and wall.
        floor_row = f"{FLOOR}@{row.get('concurrency')}"
        return {"x floor": ratio(floor_row)}
    if key == "D":
        return {"x warm AsyncClient": ratio("d_async_warm")}
    official = OFFICIAL.get(row.get("kind", ""))
    return {"x floor": ratio(FLOOR), "x official": ratio(official)}


def _label(key: str, row: dict[str, Any]) -> str:
    # E only counts the models it streams: its rows read nothing.
    label = str(row["label"])
    return label.removesuffix(", reading") if key == "E" else label


def _fmt_stat(stat: dict[str, float] | None, fmt: str) -> str:
    if not stat:
        return ""
    lo, hi = fmt.format(stat["min"]), fmt.format(stat["max"])
    return f"{fmt.format(stat['median'])} ({lo}-{hi})"


def _fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def table_rows(key: str, scenario: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    columns = COLUMNS[key]
    ratio_names = {
        "C": ["x json.loads", "x orjson"],
        "D": ["x warm AsyncClient"],
        "S": ["x floor"],
    }.get(key, ["x floor", "x official"])
    header = [
        "contender",
        *[f"{h} median (min-max)" for h, _, _ in columns],
        *ratio_names,
    ]
    lines = []
    for row in scenario["rows"]:
        if row["status"] != "ok":
            lines.append([_label(key, row), row["status"], *[""] * (len(header) - 2)])
            continue
        cells = [_fmt_stat(row["stats"].get(h), f) for h, _, f in columns]
        ratios = [_fmt_ratio(row["ratios"].get(n)) for n in ratio_names]
        lines.append([_label(key, row), *cells, *ratios])
    return header, lines


def _text_table(header: list[str], lines: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]

    def fmt(cells: list[str]) -> str:
        padded = (c.ljust(w) for c, w in zip(cells, widths, strict=True))
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *(fmt(r) for r in lines)])


def _md_table(header: list[str], lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cells) + " |" for cells in lines]
    return "\n".join(out)


# --------------------------------------------------------------------------
# Targets (reported, never asserted).
# --------------------------------------------------------------------------


def _median(results: dict[str, Any], key: str, name: str, col: int = 0) -> float | None:
    scenario = results["scenarios"].get(key)
    if not scenario:
        return None
    for row in scenario["rows"]:
        if row["name"] == name and row.get("stats"):
            return float(row["stats"][COLUMNS[key][col][0]]["median"])
    return None


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target (issues 10 and 18): text, value, limit, met (None: not measured).

    Scenario A's targets are about the reading rows: every contender reads
    the same four fields of every model.
    """
    m = _median
    checks = [
        (
            "A: AsyncClient, reading, CPU/request ≤ 1.3x floor (reading)",
            _div(m(results, "A", "wriftai_async"), m(results, "A", FLOOR)),
            1.3,
        ),
        (
            "A: AsyncClient, reading, CPU/request ≤ 0.15x official async",
            _div(m(results, "A", "wriftai_async"), m(results, "A", "official_async")),
            0.15,
        ),
        (
            "A: sync Client, reading, CPU/request ≤ 0.6x official sync",
            _div(
                m(results, "A", "wriftai_async_sync"), m(results, "A", "official_sync")
            ),
            0.6,
        ),
        (
            "B: AsyncClient CPU/request ≤ 1.1x floor",
            _div(m(results, "B", "wriftai_async"), m(results, "B", FLOOR)),
            1.1,
        ),
        (
            "B: sync Client CPU/request ≤ 0.5x official sync",
            _div(
                m(results, "B", "wriftai_async_sync"), m(results, "B", "official_sync")
            ),
            0.5,
        ),
        ("C: converter ≤ 8 µs/model", m(results, "C", "wriftai_structure"), 8.0),
        (
            "D: sync facade overhead ≤ 1/3 of asyncio.run's (wall, per call)",
            _d_overheads(results)[2],
            1 / 3,
        ),
        (
            "E: AsyncClient peak RSS growth ≤ 10 MB for the bulk listing",
            m(results, "E", "wriftai_async", 1),
            10.0,
        ),
    ]
    return [
        {
            "target": text,
            "value": value,
            "limit": limit,
            "met": None if value is None else value <= limit,
        }
        for text, value, limit in checks
    ]


def _target_lines(results: dict[str, Any]) -> list[list[str]]:
    out = []
    for t in results.get("targets", []):
        value = "not measured" if t["value"] is None else f"{t['value']:.3g}"
        verdict = {True: "met", False: "MISSED", None: "-"}[t["met"]]
        out.append([t["target"], value, f"{t['limit']:.3g}", verdict])
    return out


def _d_overheads(
    results: dict[str, Any],
) -> tuple[float | None, float | None, float | None]:
    """Wall µs per call above a warm AsyncClient: (sync facade, asyncio.run, ratio)."""
    warm = _median(results, "D", "d_async_warm", 1)
    sync = _median(results, "D", "d_sync_client", 1)
    run = _median(results, "D", "d_asyncio_run", 1)
    if warm is None or sync is None or run is None:
        return None, None, None
    sync_over, run_over = sync - warm, run - warm
    return sync_over, run_over, _div(sync_over, run_over)


def _d_note(results: dict[str, Any]) -> str:
    sync_over, run_over, ratio = _d_overheads(results)
    if sync_over is None or run_over is None or ratio is None:
        return ""
    return (
        f"Overhead per call over a warm AsyncClient (wall): sync facade "
        f"{sync_over:.0f} µs, asyncio.run(one_call()) {run_over:.0f} µs "
        f"(ratio {ratio:.2f}; target ≤ 0.33)."
    )


NOTES = [
    "async contenders: asyncio.gather over one task per user (A) or per "
    "prediction (B), bounded by one semaphore (concurrency 32); sync "
    "contenders run sequentially (no thread pool)",
    "A: each contender reads name, owner.username, created_at and "
    "predictions_count of every model it listed (attributes of the typed "
    "objects, keys of the dicts); B: the status of every prediction polled",
    "official client with its default settings (httpx pool: 100 connections, "
    "20 kept alive; a larger keep-alive pool measured slower)",
    "fake server in its own process on 127.0.0.1, precomputed JSON "
    "(~37 KB per 50-model page, ~0.8 KB per prediction)",
    "CPU = the client process's user+sys time (getrusage, all threads) around "
    "the workload only, after imports and warm-up; each run a fresh process",
]


def meta_lines(results: dict[str, Any]) -> list[str]:
    meta = results["meta"]
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    git = meta.get("git") or {}
    where = (
        f"commit {git['commit'][:10]}"
        + (" + uncommitted library changes" if git.get("library_changed") else "")
        if git
        else "n/a"
    )
    return [
        f"date: {meta['date']}; command: {meta['command']}",
        f"Python {meta['python']} on {meta['platform']}, "
        f"os.cpu_count() = {meta['cpu_count']}",
        f"versions: {versions}; code: {where}",
        f"{meta['reps']} repetitions per row, order rotated every repetition; "
        "tables show median (min-max)",
    ]


def render_text(results: dict[str, Any]) -> str:
    parts = [*meta_lines(results), ""]
    for key, scenario in results["scenarios"].items():
        header, lines = table_rows(key, scenario)
        parts.append(f"Scenario {key}: {scenario['title']}")
        parts.append(_text_table(header, lines))
        if key == "D" and _d_note(results):
            parts.append(_d_note(results))
        if key == "D" and (extra := scenario.get("sync_overhead_py")):
            parts.append(f"\n$ {extra['command']}")
            parts.append(extra.get("output") or f"failed: {extra.get('error')}")
        parts.append("")
    if results.get("targets"):
        parts.append("Targets (medians; not assertions)")
        parts.append(
            _text_table(
                ["target", "measured", "limit", "verdict"], _target_lines(results)
            )
        )
    return "\n".join(parts)


def render_markdown(results: dict[str, Any]) -> str:
    parts = ["# wriftai_async benchmarks", ""]
    parts += [f"- {line}" for line in [*meta_lines(results), *NOTES]]
    parts.append("")
    for key, scenario in results["scenarios"].items():
        header, lines = table_rows(key, scenario)
        parts += [f"## Scenario {key}: {scenario['title']}", ""]
        parts.append(_md_table(header, lines))
        if key == "D" and _d_note(results):
            parts += ["", _d_note(results)]
        if key == "D" and (extra := scenario.get("sync_overhead_py")):
            text = extra.get("output") or f"failed: {extra.get('error')}"
            parts += ["", f"`{extra['command']}` (in-process emulator):", ""]
            parts += ["```", text, "```"]
        parts.append("")
    if results.get("targets"):
        parts += [
            "## Targets",
            "",
            _md_table(
                ["target", "measured", "limit", "verdict"], _target_lines(results)
            ),
            "",
        ]
    return "\n".join(parts)


# --------------------------------------------------------------------------
# The README's tables (``run.py --readme``): paste from one run.
# --------------------------------------------------------------------------


def _cell(row: dict[str, Any], key: str, col: int = 0, fmt: str | None = None) -> str:
    header, _, default = COLUMNS[key][col]
    stat = row.get("stats", {}).get(header)
    return _fmt_stat(stat, fmt or default) if stat else row["status"]


def _scenario_md(results: dict[str, Any], key: str) -> list[str]:
    scenario = results["scenarios"].get(key)
    if not scenario:
        return []
    if key in ("A", "B"):
        header = ["contender", "CPU ms/1k req", "x floor", "x official", "wall s"]
        lines = [
            [
                _label(key, row),
                _cell(row, key),
                _fmt_ratio(row["ratios"].get("x floor")),
                _fmt_ratio(row["ratios"].get("x official")),
                _cell(row, key, 1),
            ]
            for row in scenario["rows"]
        ]
    elif key == "S":
        header = [
            "concurrency",
            "floor CPU µs/req",
            "AsyncClient CPU µs/req",
            "x floor (CPU)",
            "floor wall ms/1k req",
            "AsyncClient wall ms/1k req",
            "x floor (wall)",
        ]
        rows = {row["name"]: row for row in scenario["rows"]}
        lines = []
        for conc in sorted({row["concurrency"] for row in scenario["rows"]}):
            floor, ours = rows.get(f"{FLOOR}@{conc}"), rows.get(f"wriftai_async@{conc}")
            if floor is None or ours is None:
                continue
            ratios = [
                _div(_stat_median(ours, key, c), _stat_median(floor, key, c))
                for c in (0, 1)
            ]
            lines.append(
                [
                    str(conc),
                    _cell(floor, key),
                    _cell(ours, key),
                    _fmt_ratio(ratios[0]),
                    _cell(floor, key, 1),
                    _cell(ours, key, 1),
                    _fmt_ratio(ratios[1]),
                ]
            )
    else:
        header, lines = table_rows(key, scenario)
    return [f"**{key}. {scenario['title']}**", "", _md_table(header, lines), ""]


def _stat_median(row: dict[str, Any], key: str, col: int) -> float | None:
    stat = row.get("stats", {}).get(COLUMNS[key][col][0])
    return float(stat["median"]) if stat else None


def render_readme(results: dict[str, Any]) -> str:
    """The README's benchmark section body, from one run (markdown)."""
    meta = results["meta"]
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    parts = [
        f"Run: {meta['date']} (`{meta['command']}`, {meta['duration_s']} s), "
        f"Python {meta['python']}, {versions}, os.cpu_count() = "
        f"{meta['cpu_count']}; {meta['reps']} repetitions, median (min-max).",
        "",
    ]
    for key in ("A", "B", "S", "C", "D", "E"):
        parts += _scenario_md(results, key)
        if key == "D" and _d_note(results):
            parts += [_d_note(results), ""]
    if results.get("targets"):
        parts += [
            _md_table(
                ["target", "measured", "limit", "verdict"], _target_lines(results)
            ),
            "",
        ]
    return "\n".join(parts)


if __name__ == "__main__":
    paths = [a for a in sys.argv[1:] if not a.startswith("--")]
    path = paths[0] if paths else "benchmarks/results/latest.json"
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    summarize(data)
    data["targets"] = targets(data)
    print(render_text(data))
    if "--readme" in sys.argv:
        print("\n" + render_readme(data))
