"""Benchmark harness: wriftai_async vs raw aiohttp vs the official client.

One command (from the repository root, in the project's virtualenv)::

    python benchmarks/run.py            # full run, a few minutes on 2 cores
    python benchmarks/run.py --quick    # ~1-2 minutes, smaller sizes, 3 reps
    python benchmarks/run.py --scenarios A,B --contenders floor,wriftai_async
    python benchmarks/run.py --profile --scenarios A,B   # cProfile, no tables

What it does:

1. Starts ``fake_server.py`` in its own process on 127.0.0.1 (precomputed
   JSON, so the server's CPU barely matters) and stops it by PID at the end,
   also on Ctrl-C, SIGTERM or error.
2. For each scenario, for each repetition, runs every contender in a *fresh*
   subprocess (``workloads.py``), rotating the order every repetition so
   slow drifts of a noisy machine spread over all contenders.
3. Each child reports its own CPU (user+sys, getrusage) and wall time around
   the workload only, after imports and warm-up.
4. Prints a table per scenario (median and min-max; ratios of medians to the
   floor and to the official client) and writes ``latest.json`` and
   ``latest.md`` into ``--out`` (default ``benchmarks/results/``).

    python benchmarks/run.py --readme   # also print the README's tables

Scenarios: A list all models of many users (5 pages x 50), concurrency 32,
reading ``name``, ``owner.username``, ``created_at`` and
``predictions_count`` of every model (the dict contenders the same keys;
two more rows for ``AsyncClient`` read nothing and every field); B poll
predictions (10 polls each, reading the status), concurrency 32; C structuring cost per
model (no network); D sync facade overhead per call; E peak RSS growth while
streaming 100,000 models through one listing; S scenario A at concurrency
1, 8, 32, 128 and 512 (``--sweep``), floor vs AsyncClient (at least as many
users as the concurrency, so every level is really reached). Sync contenders run
sequentially (no thread pool). Contenders whose packages are missing are
reported as "not installed"; the harness needs only the project itself.

Exit status: 0 when every available contender ran, 1 if any failed, 130 on
Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import report
from workloads import A_ONLY, C_ROWS, CONTENDERS, D_ROWS, PAGE_SIZE

HERE = Path(__file__).resolve().parent
WORKLOADS = HERE / "workloads.py"
SERVER = HERE / "fake_server.py"
SYNC_OVERHEAD = HERE / "sync_overhead.py"  # another engineer's; we only run it
PAGES_PER_USER = 5

FULL = {
    "users": 200,
    "predictions": 500,
    "polls": 10,
    "bulk_models": 100_000,
    "c_models": 10_000,
    "c_rounds": 5,
    "d_calls": 2000,
    "d_run_calls": 200,
    "sync_overhead_calls": 5000,
    "reps": 5,
    "sweep_reps": 3,
}
QUICK = {
    "users": 40,
    "predictions": 100,
    "polls": 10,
    "bulk_models": 20_000,
    "c_models": 10_000,
    "c_rounds": 2,
    "d_calls": 500,
    "d_run_calls": 50,
    "sync_overhead_calls": 1000,
    "reps": 5,
    "sweep_reps": 2,
}
VERSIONED = [
    "aiohttp",
    "cattrs",
    "attrs",
    "orjson",
    "wriftai",
    "httpx",
    "wriftai-async",
]


def _die_on_sigterm(signum: int, frame: Any) -> None:
    # Turn SIGTERM into an exception so every `finally` stops its process.
    raise KeyboardInterrupt


def stop_process(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """Stop a process we started, by its PID: SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def start_server(bulk_pages: int) -> tuple[subprocess.Popen[str], int]:
    cmd = [
        sys.executable,
        str(SERVER),
        "--pages",
        str(PAGES_PER_USER),
        "--bulk-pages",
        str(bulk_pages),
    ]
    # Its own session: Ctrl-C reaches only us, and we stop it cleanly.
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout=30):
                raise RuntimeError("the fake server did not start within 30 s")
        line = proc.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"the fake server failed to start: {line!r}")
        return proc, int(line.split()[1])
    except BaseException:
        stop_process(proc)
        raise


def run_script(script: Path, argv: list[str], timeout: float) -> tuple[str, str]:
    """Run a Python script in a fresh interpreter; (stdout, stderr).

    Its own session, so Ctrl-C reaches only us; it is stopped by PID whatever
    happens (timeout, interrupt, error). Raises ``TimeoutError``.
    """
    proc = subprocess.Popen(
        [sys.executable, str(script), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"timed out after {timeout:.0f} s") from None
    finally:
        stop_process(proc)
    if proc.returncode and not err.strip():
        err = f"exit status {proc.returncode}"
    return out, err


def run_child(argv: list[str], timeout: float) -> dict[str, Any]:
    """Run one measurement (workloads.py); return its RESULT dict."""
    try:
        out, err = run_script(WORKLOADS, argv, timeout)
    except TimeoutError as exc:
        return {"error": str(exc)}
    for line in reversed(out.splitlines()):
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[7:])
            return result
    return {"error": " | ".join(err.strip().splitlines()[-3:]) or "no result"}


def run_sync_overhead(args: argparse.Namespace) -> dict[str, Any] | None:
    """Also run the sync-facade engineer's ``sync_overhead.py``, if present.

    It measures the same thing differently (in-process emulator, interleaved
    batches, wall-time medians, plus the portal alternatives); its output is
    kept verbatim next to scenario D's table. Best effort: never fatal.
    """
    if not SYNC_OVERHEAD.exists():
        return None
    argv = ["--calls", str(args.sync_overhead_calls)]
    print(f"[D] running {SYNC_OVERHEAD.name} {' '.join(argv)}", file=sys.stderr)
    command = f"python benchmarks/{SYNC_OVERHEAD.name} {' '.join(argv)}"
    try:
        out, err = run_script(SYNC_OVERHEAD, argv, args.timeout)
    except TimeoutError as exc:
        return {"command": command, "error": str(exc)}
    if not out.strip():
        return {"command": command, "error": err.strip()[-500:]}
    return {"command": command, "output": out.rstrip()}


def child_argv(
    args: argparse.Namespace, scenario: str, name: str, base_url: str
) -> list[str]:
    return [
        "--scenario",
        scenario,
        "--contender",
        name,
        "--base-url",
        base_url,
        "--concurrency",
        str(args.concurrency),
        "--users",
        str(args.users),
        "--pages",
        str(PAGES_PER_USER),
        "--predictions",
        str(args.predictions),
        "--polls",
        str(args.polls),
        "--bulk-models",
        str(args.bulk_models),
        "--c-models",
        str(args.c_models),
        "--c-rounds",
        str(args.c_rounds),
        "--d-calls",
        str(args.d_calls),
        "--d-run-calls",
        str(args.d_run_calls),
    ]


SWEEP = (1, 8, 32, 128, 512)
SWEEP_CONTENDERS = ("floor", "wriftai_async")


def sweep_rows(args: argparse.Namespace) -> dict[str, Any]:
    return {
        f"{name}@{conc}": (name, conc)
        for conc in args.sweep
        for name in SWEEP_CONTENDERS
        if name in args.contenders
    }


def scenario_rows(key: str, contenders: list[str]) -> dict[str, Any]:
    if key == "C":
        return dict(C_ROWS)
    if key == "D":
        return dict(D_ROWS)
    return {
        name: CONTENDERS[name]
        for name in contenders
        if key == "A" or name not in A_ONLY
    }


def title(key: str, a: argparse.Namespace) -> str:
    return {
        "A": f"list all models of {a.users} users ({PAGES_PER_USER} pages x "
        f"{PAGE_SIZE}) and read name, owner.username, created_at and "
        f"predictions_count of each, concurrency {a.concurrency} (sync: "
        f"sequential); {a.users * PAGES_PER_USER} requests per run",
        "B": f"poll {a.predictions} predictions {a.polls} times each (reading "
        f"the status), concurrency "
        f"{a.concurrency} (sync: sequential); "
        f"{a.predictions * a.polls} requests per run",
        "C": f"decode/structure {a.c_models:,} models x {a.c_rounds} rounds, "
        "no network (µs per model)",
        "D": f"per-call cost of predictions.get: warm AsyncClient and sync Client "
        f"({a.d_calls} calls), asyncio.run per call ({a.d_run_calls} calls)",
        "S": f"scenario A at concurrency {', '.join(map(str, a.sweep))}: "
        f"max({a.users}, concurrency) users x {PAGES_PER_USER} pages, floor vs "
        "AsyncClient",
        "E": f"stream {a.bulk_models:,} models ({a.bulk_models // PAGE_SIZE} pages "
        f"x {PAGE_SIZE}) through one listing: peak RSS growth",
    }[key]


def expected_items(key: str, a: argparse.Namespace) -> int | None:
    return {
        "A": a.users * PAGES_PER_USER * PAGE_SIZE,
        "B": a.predictions,
        "E": a.bulk_models,
        "C": (a.c_models // PAGE_SIZE) * PAGE_SIZE * a.c_rounds,
    }.get(key)


def measure_sweep(
    args: argparse.Namespace, base_url: str, availability: dict[str, str | None]
) -> dict[str, Any]:
    """Scenario A at each concurrency of ``--sweep``: CPU and wall per request."""
    rows = []
    plan = sweep_rows(args)
    for row_name, (name, conc) in plan.items():
        rows.append(
            {
                "name": row_name,
                "contender": name,
                "concurrency": conc,
                "label": f"{CONTENDERS[name].label}, concurrency {conc}",
                "kind": "async",
                "runs": [],
                "status": availability.get(name) or "ok",
            }
        )
    by_name = {row["name"]: row for row in rows}
    for rep in range(args.sweep_reps):
        for row_name, (name, conc) in plan.items():
            row = by_name[row_name]
            if row["status"] != "ok":
                continue
            users = max(args.users, conc)
            sub = argparse.Namespace(**{**vars(args), "concurrency": conc})
            sub.users = users
            result = run_child(child_argv(sub, "A", name, base_url), args.timeout)
            note = _check(result, users * PAGES_PER_USER * PAGE_SIZE)
            if note:
                row["status"] = note
                continue
            row["runs"].append(result)
            print(
                f"[S] rep {rep + 1}/{args.sweep_reps} {row_name:<20} "
                f"cpu {result['cpu_s']:.3f} s  wall {result['wall_s']:.3f} s",
                file=sys.stderr,
                flush=True,
            )
    return {"title": title("S", args), "rows": rows}


def measure(
    args: argparse.Namespace, base_url: str, availability: dict[str, str | None]
) -> dict[str, Any]:
    scenarios: dict[str, Any] = {}
    for key in args.scenarios:
        if key == "S":
            scenarios[key] = measure_sweep(args, base_url, availability)
            continue
        rows = scenario_rows(key, args.contenders)
        entries = {
            name: {
                "name": name,
                "label": c.label,
                "kind": c.kind,
                "runs": [],
                "status": availability.get(name) or "ok",
            }
            for name, c in rows.items()
        }
        scenarios[key] = {"title": title(key, args), "rows": list(entries.values())}
        names = list(entries)
        for rep in range(args.reps):
            shift = rep % len(names)
            for name in names[shift:] + names[:shift]:  # rotate every repetition
                row = entries[name]
                if row["status"] != "ok":
                    continue
                started = time.perf_counter()
                result = run_child(child_argv(args, key, name, base_url), args.timeout)
                note = _check(result, expected_items(key, args))
                if note:
                    row["status"] = note
                    print(
                        f"[{key}] rep {rep + 1}/{args.reps} {name}: {note}",
                        file=sys.stderr,
                        flush=True,
                    )
                    continue
                row["runs"].append(result)
                took = time.perf_counter() - started
                print(
                    f"[{key}] rep {rep + 1}/{args.reps} {name:<24} "
                    f"cpu {result['cpu_s']:.3f} s  wall {result['wall_s']:.3f} s  "
                    f"(child {took:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    return scenarios


def _check(result: dict[str, Any], expected: int | None) -> str | None:
    if "unavailable" in result:
        return str(result["unavailable"])
    if "error" in result:
        return f"error: {result['error']}"
    if expected is not None and result["items"] != expected:
        return f"error: got {result['items']} items, expected {expected}"
    return None


def probe() -> dict[str, str | None]:
    result = run_child(["--probe"], timeout=60)
    if "error" in result:
        raise RuntimeError(f"probing the contenders failed: {result['error']}")
    return result


def versions() -> dict[str, str]:
    out = {}
    for dist in VERSIONED:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def git_state() -> dict[str, Any]:
    """Which library code was measured (read-only git; none if not a checkout)."""

    def git(*cmd: str) -> str:
        return subprocess.run(
            ["git", "--no-optional-locks", *cmd],
            cwd=HERE.parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()

    try:
        changed = git("status", "--porcelain", "--", "wriftai_async")
        return {"commit": git("rev-parse", "HEAD"), "library_changed": bool(changed)}
    except (OSError, subprocess.SubprocessError):
        return {}


def profile(args: argparse.Namespace, base_url: str) -> None:
    """cProfile one child per (scenario, contender); print the top functions."""
    import pstats

    args.out.mkdir(parents=True, exist_ok=True)
    rows = {"C": ["wriftai_structure"]}
    for key in args.scenarios:
        if key in ("D", "S"):
            continue  # D: the work runs on another thread; S: profile A
        for name in rows.get(key, args.contenders):
            path = args.out / f"profile_{key}_{name}.pstats"
            argv = [*child_argv(args, key, name, base_url), "--profile", str(path)]
            result = run_child(argv, args.timeout)
            if not path.exists():
                print(f"== {key} {name}: {result}", flush=True)
                continue
            print(
                f"== Scenario {key}, {name}: cpu {result.get('cpu_s', 0):.3f} s "
                f"(under the profiler); top functions by own time",
                flush=True,
            )
            stats = pstats.Stats(str(path), stream=sys.stdout)
            stats.sort_stats("tottime").print_stats(args.profile_top)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark wriftai_async against raw aiohttp and the "
        "official wriftai client (see the module docstring)."
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smaller sizes (~1-2 minutes)",
    )
    p.add_argument(
        "--scenarios",
        default="A,B,C,D,E,S",
        help="comma-separated subset of A,B,C,D,E,S (S: the concurrency sweep)",
    )
    p.add_argument(
        "--sweep",
        default=",".join(map(str, SWEEP)),
        help="concurrency levels of scenario S (default 1,8,32,128,512)",
    )
    p.add_argument(
        "--readme",
        action="store_true",
        help="also print the tables in the README's markdown form",
    )
    p.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help=f"for A, B, E; any of {','.join(CONTENDERS)}",
    )
    p.add_argument("--reps", type=int, help="repetitions (default 5)")
    p.add_argument("--concurrency", type=int, default=32)
    for name in (
        "users",
        "predictions",
        "polls",
        "bulk_models",
        "c_models",
        "c_rounds",
        "d_calls",
        "d_run_calls",
        "sync_overhead_calls",
        "sweep_reps",
    ):
        p.add_argument(
            "--" + name.replace("_", "-"),
            type=int,
            dest=name,
            help=f"default {FULL[name]} (quick {QUICK[name]})",
        )
    p.add_argument(
        "--out",
        type=Path,
        default=HERE / "results",
        help="where latest.json / latest.md go",
    )
    p.add_argument(
        "--timeout", type=float, default=600, help="seconds one child may take"
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="profile floor/wriftai_async (or --contenders) instead",
    )
    p.add_argument("--profile-top", type=int, default=25)
    args = p.parse_args(argv)
    preset = QUICK if args.quick else FULL
    for name, value in preset.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.scenarios = [s.strip().upper() for s in args.scenarios.split(",") if s.strip()]
    args.sweep = [int(c) for c in args.sweep.split(",") if c.strip()]
    if bad := [s for s in args.scenarios if s not in "ABCDES" or len(s) != 1]:
        p.error(f"unknown scenario(s): {', '.join(bad)}")
    args.contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    if bad := [c for c in args.contenders if c not in CONTENDERS]:
        p.error(f"unknown contender(s): {', '.join(bad)}")
    if args.profile and "--contenders" not in (argv or sys.argv):
        args.contenders = ["floor", "wriftai_async"]
    if min(args.reps, args.users, args.predictions, args.polls) < 1:
        p.error("--reps, --users, --predictions and --polls must be >= 1")
    args.bulk_models = max(PAGE_SIZE, args.bulk_models // PAGE_SIZE * PAGE_SIZE)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _die_on_sigterm)
    started = dt.datetime.now(dt.timezone.utc)
    server = None
    try:
        server, port = start_server(args.bulk_models // PAGE_SIZE)
        base_url = f"http://127.0.0.1:{port}/v1"
        print(f"fake server pid {server.pid} on {base_url}", file=sys.stderr)
        if args.profile:
            profile(args, base_url)
            return 0
        scenarios = measure(args, base_url, probe())
        if "D" in scenarios:
            scenarios["D"]["sync_overhead_py"] = run_sync_overhead(args)
    except KeyboardInterrupt:
        print(
            "interrupted; child processes and the server were stopped", file=sys.stderr
        )
        return 130
    finally:
        if server is not None:
            stop_process(server)

    results: dict[str, Any] = {
        "meta": {
            "date": started.isoformat(timespec="seconds"),
            "command": " ".join(["python", *sys.argv])
            if argv is None
            else " ".join(["python", "benchmarks/run.py", *argv]),
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "versions": versions(),
            "git": git_state(),
            "reps": args.reps,
            "settings": {k: getattr(args, k) for k in [*FULL, "concurrency", "sweep"]},
            "duration_s": round(
                (dt.datetime.now(dt.timezone.utc) - started).total_seconds(), 1
            ),
        },
        "scenarios": scenarios,
    }
    report.summarize(results)
    results["targets"] = report.targets(results)
    print(report.render_text(results))
    if args.readme:
        print("\n" + report.render_readme(results))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "latest.md").write_text(report.render_markdown(results))
    print(
        f"\nwrote {args.out / 'latest.json'} and {args.out / 'latest.md'} "
        f"({results['meta']['duration_s']} s)",
        file=sys.stderr,
    )
    failed = [
        r
        for s in scenarios.values()
        for r in s["rows"]
        if r["status"].startswith("error")
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
