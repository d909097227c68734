"""A fleet of processes sharing one token, against the emulator's budget mode.

    python benchmarks/fleet.py                  # 6 processes x 16, 300/s, 5 s
    python benchmarks/fleet.py --modes none,rate --seconds 3
    python benchmarks/fleet.py --json out.json  # the figures, for a test

It starts a ``redis-server`` (``wriftai_async.testing.RedisServer``) and the
emulator with ``budget=N`` in this process, then ``--processes`` worker
processes. Each worker runs one ``AsyncClient`` per phase with
``--concurrency`` tasks calling ``models.get`` as fast as they can
(``max_retries=8``), all workers in step. One phase per mode:

- ``none``: today's client: each process has its own 429 gate;
- ``split``: ``rate_limit=N/processes`` in each process, no store (a fixed
  split, the best one can do without sharing; ``--busy K`` shows what it
  leaves unused when only K processes have work);
- ``store``: ``rate_limit_store`` only (a 429's reset is shared);
- ``rate``: ``rate_limit_store`` and ``rate_limit=N`` (the shared budget);
- ``kill``: as ``rate``, with Redis killed (SIGKILL) halfway through the phase
  and started again at three quarters.

Printed per mode, side by side: requests sent, 429s and their share (as the
emulator counted them, every attempt included), requests the emulator
accepted per second during the phase (and as a share of the budget), calls
that failed with a ``WriftAIError`` (retries exhausted) and with any other
exception (must be 0). Figures, not assertions; the test suite runs it small
(``tests/test_fleet.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from wriftai_async import AsyncClient, RetryPolicy, WriftAIError
from wriftai_async.testing import Emulator, RedisServer

MODES = ("none", "split", "store", "rate", "kill")
GAP = 0.4  # seconds between phases at least: in-flight calls end
LOG_HEADER = (
    f"{'mode':<6} {'sent':>7} {'429s':>6} {'429 %':>6} {'ok/s':>7} "
    f"{'% budget':>8} {'failed':>6} {'raw':>4}"
)


# -- the worker (one process of the fleet) -------------------------------------


async def _phase(spec: dict[str, Any], phase: dict[str, Any]) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    raw: Counter[str] = Counter()
    end = phase["end"]
    client = AsyncClient(
        spec["token"],
        spec["base_url"],
        max_retries=8,
        timeout=spec["timeout"],
        retry=RetryPolicy(max_rate_limit_wait=5.0),
        rate_limit=phase["rate_limit"],
        rate_limit_store=phase["store"],
    )

    async def task() -> None:
        while time.time() < end:
            try:
                await client.models.get("alice/text-echo")
                counts["ok"] += 1
            except WriftAIError as exc:
                failed[type(exc).__name__] += 1
            except Exception as exc:
                raw[f"{type(exc).__name__}: {exc}"[:200]] += 1

    cpu = time.process_time()
    async with client:
        calls = spec["concurrency"] if spec["busy"] else 0  # idle: none at all
        await asyncio.gather(*(task() for _ in range(calls)))
    return {
        "mode": phase["mode"],
        "ok": counts["ok"],
        "failed": dict(failed),
        "raw": dict(raw),
        "cpu": time.process_time() - cpu,
    }


def _worker(spec: dict[str, Any]) -> None:
    if any(phase["store"] for phase in spec["phases"]):
        # Imported before the phases: redis-py's import (tens of ms, seconds
        # with six processes starting on two cores) is not the fleet's pace.
        import wriftai_async._redis_limit  # noqa: F401
    print("ready", flush=True)
    base = float(sys.stdin.readline())  # the common start, from the parent
    for phase in spec["phases"]:
        phase = {**phase, "start": base + phase["start"], "end": base + phase["end"]}
        time.sleep(max(0.0, phase["start"] - time.time()))
        print(json.dumps(asyncio.run(_phase(spec, phase))), flush=True)


# -- the parent ----------------------------------------------------------------


def _plan(args: argparse.Namespace, store: str | None) -> list[dict[str, Any]]:
    phases = []
    at = 0.0
    for mode in args.modes:
        rate: float | None = None
        if mode == "split":
            rate = args.budget / args.processes
        elif mode in ("rate", "kill"):
            rate = float(args.budget)
        phases.append(
            {
                "mode": mode,
                "start": at,
                "end": at + args.seconds,
                "rate_limit": rate,
                "store": store if mode in ("store", "rate", "kill") else None,
            }
        )
        # Each phase starts on a whole second: one budget window at least
        # lies wholly inside it (see _watch).
        at = math.ceil(at + args.seconds + GAP)
    return phases


def _watch(
    emu: Emulator,
    redis: RedisServer | None,
    phases: list[dict[str, Any]],
    base: float,
    accepted: dict[str, float],
    counted: list[tuple[int, int]],
) -> None:
    """Measure what the emulator accepted in each phase; kill Redis in ``kill``.

    Counted over the whole budget windows (Unix seconds) inside the phase: a
    window cut by the phase's start or end would count a burst that fits
    its budget into a fraction of a second. ``counted`` gets the budget's
    (accepted, refused) at each phase's start: every attempt, retries too.
    """
    budget = emu.budget
    assert budget is not None
    for phase in phases:
        start, end = base + phase["start"], base + phase["end"]
        time.sleep(max(0.0, start - time.time()))
        counted.append((budget.accepted, budget.refused))
        first, last = math.ceil(start), math.floor(end)
        events: list[tuple[float, Any]] = [(first, "open"), (last, "close")]
        if phase["mode"] == "kill" and redis is not None:
            length = end - start
            events += [(start + length / 2, redis.kill)]
            events += [(start + length * 3 / 4, redis.start)]
        for at, what in sorted(events, key=lambda e: e[0]):
            time.sleep(max(0.0, at - time.time()))
            if what == "open":
                before = budget.accepted
            elif what == "close":
                accepted[phase["mode"]] = (budget.accepted - before) / max(
                    1, last - first
                )
            else:
                what()
        time.sleep(max(0.0, end - time.time()))


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    needs_store = any(m in ("store", "rate", "kill") for m in args.modes)
    redis = RedisServer().start() if needs_store else None
    emu = Emulator(budget=args.budget, record_requests=False)
    try:
        with emu.run_in_thread():
            phases = _plan(args, redis.url if redis else None)
            spec = {
                "token": emu.access_token,
                "base_url": emu.base_url,
                "concurrency": args.concurrency,
                "timeout": args.timeout,
                "phases": phases,
            }
            workers = [
                subprocess.Popen(
                    [
                        *(sys.executable, __file__, "--worker"),
                        json.dumps({**spec, "busy": i < args.busy}),
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for i in range(args.processes)
            ]
            try:
                for worker in workers:
                    assert worker.stdout is not None
                    if worker.stdout.readline().strip() != "ready":
                        raise RuntimeError("a worker did not start")
                base = math.ceil(time.time() + 0.3)  # a whole second
                for worker in workers:
                    assert worker.stdin is not None
                    worker.stdin.write(f"{base}\n")
                    worker.stdin.close()
                accepted: dict[str, float] = {}
                counted: list[tuple[int, int]] = []
                watcher = threading.Thread(
                    target=_watch, args=(emu, redis, phases, base, accepted, counted)
                )
                watcher.start()
                outputs = []
                for worker in workers:
                    assert worker.stdout is not None
                    outputs.append(worker.stdout.read())
                    worker.wait(timeout=args.wait)
                watcher.join()
                assert emu.budget is not None
                counted.append((emu.budget.accepted, emu.budget.refused))
            finally:
                for worker in workers:
                    if worker.poll() is None:
                        worker.kill()
                        worker.wait()
            codes = [w.returncode for w in workers]
            if any(codes):
                raise RuntimeError(f"workers exited with {codes}")
    finally:
        if redis is not None:
            redis.stop()
    results = []
    for index, phase in enumerate(phases):
        mode = phase["mode"]
        (ok_before, refused_before), (ok_after, refused_after) = counted[
            index : index + 2
        ]
        refused = refused_after - refused_before
        sent = ok_after - ok_before + refused
        rows = [
            json.loads(line)
            for out in outputs
            for line in out.splitlines()
            if line.startswith("{") and json.loads(line)["mode"] == mode
        ]
        failed: Counter[str] = Counter()
        raw: Counter[str] = Counter()
        for r in rows:
            failed.update(r["failed"])
            raw.update(r["raw"])
        results.append(
            {
                "mode": mode,
                "processes": len(rows),
                "sent": sent,
                "429": refused,
                "share_429": refused / sent if sent else 0.0,
                "accepted_per_s": accepted[mode],
                "of_budget": accepted[mode] / args.budget,
                "ok": sum(r["ok"] for r in rows),
                "failed": dict(failed),
                "raw": dict(raw),
                "cpu": sum(r["cpu"] for r in rows),
            }
        )
    return results


def _print(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    busy = "" if args.busy == args.processes else f" ({args.busy} of them busy)"
    print(
        f"{args.processes} processes{busy} x {args.concurrency} calls in flight, "
        f"one token, budget {args.budget}/s, {args.seconds:g} s per mode"
    )
    print(LOG_HEADER)
    for r in results:
        print(
            f"{r['mode']:<6} {r['sent']:>7} {r['429']:>6} "
            f"{100 * r['share_429']:>5.1f}% {r['accepted_per_s']:>7.0f} "
            f"{100 * r['of_budget']:>7.0f}% {sum(r['failed'].values()):>6} "
            f"{sum(r['raw'].values()):>4}"
        )
    for r in results:
        for text, n in r["raw"].items():
            print(f"  {r['mode']}: {n} x {text}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--processes", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--busy",
        type=int,
        help="how many of the processes make calls (default: all); the "
        "others run a client and stay idle, as a fleet's quiet workers do",
    )
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=20.0, help="per call")
    parser.add_argument("--wait", type=float, default=300.0, help="for workers")
    parser.add_argument(
        "--modes",
        type=lambda text: [m for m in text.split(",") if m],
        default=["none", "split", "store", "rate", "kill"],
        help=f"comma-separated, of {', '.join(MODES)}",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.worker:
        _worker(json.loads(args.worker))
        return 0
    if args.busy is None:
        args.busy = args.processes
    unknown = set(args.modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    results = run(args)
    _print(results, args)
    if args.json:
        args.json.write_text(
            json.dumps({"args": vars(args), "results": results}, default=str)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
