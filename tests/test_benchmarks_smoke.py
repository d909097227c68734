"""The benchmark harness runs end to end in its smallest configuration.

It starts its fake server and two child processes, so this is a subprocess
test of ``benchmarks/run.py``: it must exit 0 and print scenario A's table
with its ratio columns. It needs only the project's ``[test]`` extras: without
orjson the floor is reported as "not installed" and its ratios as n/a.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(180)  # child processes; slow on a loaded machine
def test_harness_quickest_run(tmp_path: Path) -> None:
    args = "--scenarios A --users 4 --reps 1 --contenders floor,wriftai_async"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "run.py"), *args.split()]
    cmd += ["--out", str(tmp_path)]
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=150, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "Scenario A" in out
    header = next(line for line in out.splitlines() if line.startswith("contender"))
    assert "x floor" in header and "x official" in header
    lines = out.splitlines()
    row = next(line for line in lines if "AsyncClient" in line)
    if importlib.util.find_spec("orjson") is not None:
        floor = next(line for line in lines if "(floor)" in line)
        assert floor.split()[-2] == "1.00x"
        assert float(row.split()[-2].rstrip("x")) > 0  # a ratio to the floor
    else:
        assert "not installed (orjson)" in out
    # The official client is not compared in this run: its ratio is n/a.
    assert row.split()[-1] == "n/a"
    results = json.loads((tmp_path / "latest.json").read_text())
    assert results["meta"]["cpu_count"] and results["meta"]["versions"]
    (wriftai_row,) = [
        r for r in results["scenarios"]["A"]["rows"] if r["name"] == "wriftai_async"
    ]
    assert wriftai_row["status"] == "ok"
    assert wriftai_row["runs"][0]["items"] == 4 * 5 * 50
    assert (tmp_path / "latest.md").read_text().startswith("# wriftai_async")


@pytest.mark.timeout(200)  # nine child processes; slow on a loaded machine
def test_sweep_and_readme_tables(tmp_path: Path) -> None:
    args = (
        "--scenarios S,C --sweep 1,2 --users 2 --sweep-reps 1 --reps 1 "
        "--c-models 100 --c-rounds 1 --contenders floor,wriftai_async --readme"
    )
    cmd = [sys.executable, str(ROOT / "benchmarks" / "run.py"), *args.split()]
    cmd += ["--out", str(tmp_path)]
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=180, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "Scenario S: scenario A at concurrency 1, 2" in out
    # The README form: one markdown row per concurrency, ours against the floor.
    header = "| concurrency | floor CPU µs/req | AsyncClient CPU µs/req |"
    assert header in out
    rows = [line for line in out.splitlines() if line.startswith(("| 1 |", "| 2 |"))]
    assert len(rows) == 2
    if importlib.util.find_spec("orjson") is not None:
        assert all(row.count("x") >= 2 for row in rows)  # both ratios shown
    assert "| wriftai_async structure(page, Page[Model]) |" in out
    results = json.loads((tmp_path / "latest.json").read_text())
    sweep = {r["name"]: r for r in results["scenarios"]["S"]["rows"]}
    assert sweep["wriftai_async@2"]["runs"][0]["items"] == 2 * 5 * 50


def test_profile_shares_groups_own_time_by_layer(tmp_path: Path) -> None:
    import cProfile
    import itertools

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import profile_shares
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    from wriftai_async._json import loads

    # A tick per profiler event, not a clock: the shares are then the same on
    # a loaded machine (with a clock, one preemption inside the list
    # comprehension once moved 0.4 of the time out of the JSON layer).
    ticks = itertools.count()
    profiler = cProfile.Profile(lambda: next(ticks), 1.0)
    profiler.runcall(lambda: [loads(b'{"a": [1, 2, 3]}') for _ in range(2000)])
    profiler.dump_stats(tmp_path / "profile_X_json.pstats")
    shares = profile_shares.shares(tmp_path / "profile_X_json.pstats")
    assert abs(sum(shares.values()) - 1.0) < 1e-9
    # Decoding is the work: it outweighs every other layer.
    json_layer = next(name for name in shares if name.startswith("JSON"))
    assert shares[json_layer] == max(shares.values()) > 0.3
    assert profile_shares.main([str(tmp_path / "empty")]) == 1
