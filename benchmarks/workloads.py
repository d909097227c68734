"""The child side of the benchmarks: one contender, one scenario, one process.

``run.py`` starts this file in a fresh interpreter for every measurement::

    python benchmarks/workloads.py --scenario A --contender floor \\
        --base-url http://127.0.0.1:PORT/v1 [sizes...]

It imports the contender, sets up its client, warms it up (connections open,
cattrs structuring functions generated, JSON decoders loaded), then measures
*only the workload*: process CPU (``getrusage(RUSAGE_SELF)`` user+sys, which
counts every thread, so the sync facade's loop thread is included) and wall
time. The last stdout line is ``RESULT {json}``. A contender whose packages
are missing answers ``{"unavailable": "not installed (...)"}`` and exits 0.

``python benchmarks/workloads.py --probe`` prints which contenders can run.

Contenders (``CONTENDERS``) all do the same thing as their users would: the
async ones run ``asyncio.gather`` over tasks bounded by one semaphore (the same
driver for all, so the driver's cost cancels out in the ratios); the sync ones
run sequentially.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import resource
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

TOKEN = "bench-token"
PAGE_SIZE = 50
USER_PREFIX = "user"
BULK_OWNER = "bulk"  # the fake server's owner with --bulk-pages pages


@dataclass(frozen=True)
class Contender:
    label: str
    kind: str  # "async" or "sync": which official client it is compared with
    needs: tuple[str, ...]  # importable modules; missing -> "not installed"
    driver: str = ""  # which driver runs it (default: its own name)
    reads: str = "four"  # what the program reads of each model (READS)


# Scenario A: what a program does with a listing is read it. Every contender
# reads the same four fields of every model (``READS["four"]``): the typed
# clients their attributes, the dict ones (the floor, the official client's
# TypedDicts) the same keys. Two more rows show the extremes for ours.
CONTENDERS: dict[str, Contender] = {
    "floor": Contender(
        "raw aiohttp + orjson (floor), reading", "async", ("aiohttp", "orjson")
    ),
    "floor_everything": Contender(
        "raw aiohttp + orjson, reading every key",
        "async",
        ("aiohttp", "orjson"),
        driver="floor",
        reads="everything",
    ),
    "floor_nothing": Contender(
        "raw aiohttp + orjson, reading nothing",
        "async",
        ("aiohttp", "orjson"),
        driver="floor",
        reads="nothing",
    ),
    "aiohttp_json": Contender("raw aiohttp + json, reading", "async", ("aiohttp",)),
    "wriftai_async": Contender(
        "wriftai_async.AsyncClient, reading", "async", ("wriftai_async",)
    ),
    "wriftai_async_nothing": Contender(
        "wriftai_async.AsyncClient, reading nothing",
        "async",
        ("wriftai_async",),
        driver="wriftai_async",
        reads="nothing",
    ),
    "wriftai_async_everything": Contender(
        "wriftai_async.AsyncClient, reading every field",
        "async",
        ("wriftai_async",),
        driver="wriftai_async",
        reads="everything",
    ),
    "wriftai_async_sync": Contender(
        "wriftai_async.Client (sequential), reading", "sync", ("wriftai_async",)
    ),
    "official_async": Contender(
        "wriftai (official) async, reading", "async", ("wriftai", "httpx")
    ),
    "official_sync": Contender(
        "wriftai (official) sync, sequential, reading", "sync", ("wriftai", "httpx")
    ),
}
#: Rows only scenario A has (B reads a prediction's status, E only counts).
A_ONLY = frozenset(n for n, c in CONTENDERS.items() if c.reads != "four")

# Scenario C and D compare code paths, not whole clients: their own rows.
C_ROWS: dict[str, Contender] = {
    "json_loads": Contender("json.loads (baseline)", "-", ()),
    "orjson_loads": Contender("orjson.loads", "-", ("orjson",)),
    "wriftai_structure": Contender(
        "wriftai_async structure(page, Page[Model])", "-", ("wriftai_async",)
    ),
    "wriftai_structure_read_four": Contender(
        "wriftai_async structure + read name, owner.username, created_at, "
        "predictions_count",
        "-",
        ("wriftai_async",),
    ),
    "wriftai_structure_read": Contender(
        "wriftai_async structure + read every field of every model",
        "-",
        ("wriftai_async",),
    ),
    "wriftai_loads_structure": Contender(
        "wriftai_async decode + structure (client path)", "-", ("wriftai_async",)
    ),
}
D_ROWS: dict[str, Contender] = {
    "d_async_warm": Contender(
        "AsyncClient.predictions.get, warm loop", "-", ("wriftai_async",)
    ),
    "d_sync_client": Contender("Client.predictions.get", "-", ("wriftai_async",)),
    "d_asyncio_run": Contender(
        "asyncio.run(one_call()) per call", "-", ("wriftai_async",)
    ),
}
ALL_ROWS = {**CONTENDERS, **C_ROWS, **D_ROWS}


def availability(name: str) -> str | None:
    """``None`` if ``name`` can run here, else why not ("not installed" / "n/a").

    Imports for real (not just ``find_spec``): a package that is present but
    misses one of its own dependencies is just as unusable.
    """
    missing = []
    for module in ALL_ROWS[name].needs:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            missing.append(getattr(exc, "name", None) or module)
    if missing:
        return f"not installed ({', '.join(dict.fromkeys(missing))})"
    if name in ("wriftai_async_sync", "d_sync_client"):
        try:
            from wriftai_async import Client  # noqa: F401
        except ImportError:
            return "n/a (wriftai_async.Client not available)"
    return None


def owners(n: int) -> list[str]:
    return [f"{USER_PREFIX}{i:04d}" for i in range(n)]


def prediction_ids(n: int) -> list[str]:
    ns = uuid.UUID("1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed")
    return [str(uuid.uuid5(ns, f"prediction:{i}")) for i in range(n)]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def maxrss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


# --------------------------------------------------------------------------
# What each program reads of the models it listed (scenario A) or the
# prediction it polled (B: its status, to know whether to poll again).
# --------------------------------------------------------------------------


def read_four_keys(models: list[Any]) -> None:
    for m in models:
        _ = m["name"], m["owner"]["username"], m["created_at"], m["predictions_count"]


def read_four_attrs(models: list[Any]) -> None:
    for m in models:
        _ = m.name, m.owner.username, m.created_at, m.predictions_count


_READERS: dict[type, Any] = {}


def _reader_of(cls: type) -> Any:
    """(every field's getter, nested fields, fields holding lists of objects)."""
    import operator
    import types
    import typing

    import attrs

    hints = typing.get_type_hints(cls)
    nested, lists = [], []
    for index, field in enumerate(attrs.fields(cls)):
        hint = hints[field.name]
        if isinstance(hint, types.UnionType):  # X | None: X
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            hint = args[0] if len(args) == 1 else hint
        if typing.get_origin(hint) is list:
            if attrs.has(typing.get_args(hint)[0]):
                lists.append(index)
        elif isinstance(hint, type) and attrs.has(hint):
            nested.append(index)
    getter = operator.attrgetter(*(f.name for f in attrs.fields(cls)))
    return getter, nested, lists


def read_every_field(models: list[Any]) -> None:
    # Every field of every model, and of the objects in it (owner,
    # hardware, categories); what to descend into is worked out once per class.
    def every(obj: Any) -> None:
        reader = _READERS.get(type(obj))
        if reader is None:
            reader = _READERS[type(obj)] = _reader_of(type(obj))
        getter, nested, lists = reader
        values = getter(obj)
        for index in nested:
            if values[index] is not None:
                every(values[index])
        for index in lists:
            for item in values[index]:
                every(item)

    for m in models:
        every(m)


def read_every_key(models: list[Any]) -> None:
    # The dict contenders' "every field": every value, and those of the
    # objects in it (owner, hardware, categories).
    for m in models:
        for value in m.values():
            if type(value) is dict:
                for _ in value.values():
                    pass
            elif type(value) is list:
                for item in value:
                    if type(item) is dict:
                        for _ in item.values():
                            pass


def read_nothing(models: list[Any]) -> None:
    pass


def reader(name: str) -> Callable[[list[Any]], None]:
    reads = ALL_ROWS[name].reads if name in CONTENDERS else "nothing"
    if reads == "nothing":
        return read_nothing
    typed = (CONTENDERS[name].driver or name).startswith("wriftai_async")
    if reads == "everything":
        return read_every_field if typed else read_every_key
    return read_four_attrs if typed else read_four_keys


def status_of(prediction: Any) -> Any:
    return prediction["status"] if isinstance(prediction, dict) else prediction.status


# --------------------------------------------------------------------------
# Drivers: the same four operations for every contender.
#   list_user(owner) -> list of models (every page, decoded as users get them)
#   get(prediction_id) -> one prediction
#   count_all(owner) -> number of models seen while streaming (scenario E:
#                       nothing is kept, so only the client's own memory shows)
# --------------------------------------------------------------------------


class AiohttpDriver:
    """The floor: aiohttp and a JSON decoder, nothing else (dicts out)."""

    def __init__(self, base_url: str, concurrency: int, use_orjson: bool) -> None:
        import aiohttp

        if use_orjson:
            import orjson

            self.loads: Callable[[bytes], Any] = orjson.loads
        else:
            self.loads = json.loads
        self.base = base_url
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency),
            headers={"Authorization": f"Bearer {TOKEN}"},
        )

    async def _get_json(self, url: str, params: dict[str, str] | None = None) -> Any:
        async with self.session.get(url, params=params) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{url}: HTTP {resp.status}")
            return self.loads(body)

    async def _pages(self, owner: str) -> Any:
        url = f"{self.base}/models/{owner}"
        params = {"page_size": str(PAGE_SIZE)}
        while True:
            page = await self._get_json(url, params)
            yield page["items"]
            if not page["next_cursor"]:
                return
            params = {"page_size": str(PAGE_SIZE), "cursor": page["next_cursor"]}

    async def list_user(self, owner: str) -> list[Any]:
        models: list[Any] = []
        async for items in self._pages(owner):
            models.extend(items)
        return models

    async def count_all(self, owner: str) -> int:
        n = 0
        async for items in self._pages(owner):
            for _ in items:
                n += 1
        return n

    async def get(self, prediction_id: str) -> Any:
        return await self._get_json(f"{self.base}/predictions/{prediction_id}")

    async def close(self) -> None:
        await self.session.close()


class WriftaiAsyncDriver:
    """``wriftai_async.AsyncClient``: typed attrs objects out."""

    def __init__(self, base_url: str, concurrency: int) -> None:
        from wriftai_async import AsyncClient

        self.client = AsyncClient(TOKEN, base_url, connection_limit=concurrency)

    async def list_user(self, owner: str) -> list[Any]:
        models = self.client.models.list_for_user(owner, page_size=PAGE_SIZE)
        return [m async for m in models]

    async def count_all(self, owner: str) -> int:
        n = 0
        async for _ in self.client.models.list_for_user(owner, page_size=PAGE_SIZE):
            n += 1
        return n

    async def get(self, prediction_id: str) -> Any:
        return await self.client.predictions.get(prediction_id)

    async def close(self) -> None:
        await self.client.aclose()


class OfficialAsyncDriver:
    """The official ``wriftai`` client's ``async_*`` methods (TypedDict dicts).

    Default settings, as its users get them. Its httpx pool keeps at most 20
    idle connections, so at concurrency 32 some requests reconnect; a pool
    sized to 32 (or 64) was measured *more* expensive (A: 2.7 vs 1.9 ms of CPU
    per request; B: 1.4-1.5 vs 1.2), httpcore's pool bookkeeping growing with
    its connections. The default is the official client at its best here.
    """

    def __init__(self, base_url: str, concurrency: int) -> None:
        from wriftai import Client

        self.client = Client(TOKEN, api_base_url=base_url)
        self.http = self.client._api._async_http_client  # to close it

    async def _pages(self, owner: str) -> Any:
        options: dict[str, Any] = {"page_size": PAGE_SIZE}
        while True:
            page = await self.client.models.async_list(options, owner=owner)  # type: ignore[arg-type]
            yield page.items
            if not page.next_cursor:
                return
            options = {"page_size": PAGE_SIZE, "cursor": page.next_cursor}

    async def list_user(self, owner: str) -> list[Any]:
        models: list[Any] = []
        async for items in self._pages(owner):
            models.extend(items)
        return models

    async def count_all(self, owner: str) -> int:
        n = 0
        async for items in self._pages(owner):
            for _ in items:
                n += 1
        return n

    async def get(self, prediction_id: str) -> Any:
        return await self.client.predictions.async_get(prediction_id)

    async def close(self) -> None:
        await self.http.aclose()


class WriftaiSyncDriver:
    """``wriftai_async.Client``, the generated blocking facade."""

    def __init__(self, base_url: str, concurrency: int) -> None:
        from wriftai_async import Client

        self.client = Client(TOKEN, base_url, connection_limit=concurrency)

    def list_user(self, owner: str) -> list[Any]:
        return list(self.client.models.list_for_user(owner, page_size=PAGE_SIZE))

    def count_all(self, owner: str) -> int:
        n = 0
        for _ in self.client.models.list_for_user(owner, page_size=PAGE_SIZE):
            n += 1
        return n

    def get(self, prediction_id: str) -> Any:
        return self.client.predictions.get(prediction_id)

    def close(self) -> None:
        self.client.close()


class OfficialSyncDriver:
    """The official ``wriftai`` client's blocking methods, default settings."""

    def __init__(self, base_url: str, concurrency: int) -> None:
        from wriftai import Client

        self.client = Client(TOKEN, api_base_url=base_url)

    def _pages(self, owner: str) -> Any:
        options: dict[str, Any] = {"page_size": PAGE_SIZE}
        while True:
            page = self.client.models.list(options, owner=owner)  # type: ignore[arg-type]
            yield page.items
            if not page.next_cursor:
                return
            options = {"page_size": PAGE_SIZE, "cursor": page.next_cursor}

    def list_user(self, owner: str) -> list[Any]:
        return [m for items in self._pages(owner) for m in items]

    def count_all(self, owner: str) -> int:
        return sum(1 for items in self._pages(owner) for _ in items)

    def get(self, prediction_id: str) -> Any:
        return self.client.predictions.get(prediction_id)

    def close(self) -> None:
        self.client._api._http_client.close()


def make_driver(name: str, base_url: str, concurrency: int) -> Any:
    name = CONTENDERS[name].driver or name
    if name == "floor":
        return AiohttpDriver(base_url, concurrency, use_orjson=True)
    if name == "aiohttp_json":
        return AiohttpDriver(base_url, concurrency, use_orjson=False)
    factory = {
        "wriftai_async": WriftaiAsyncDriver,
        "official_async": OfficialAsyncDriver,
        "wriftai_async_sync": WriftaiSyncDriver,
        "official_sync": OfficialSyncDriver,
    }[name]
    return factory(base_url, concurrency)


# --------------------------------------------------------------------------
# Scenarios A, B, E: the same plan for every contender, async or sync.
# --------------------------------------------------------------------------


async def bounded_gather(
    jobs: list[Callable[[], Awaitable[Any]]], limit: int
) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with sem:
            return await job()

    return await asyncio.gather(*(one(job) for job in jobs))


def plan(args: argparse.Namespace) -> tuple[Callable[..., Any], Any, Any, int]:
    """(operation, warm-up items, measured items, requests per item)."""
    if args.scenario == "A":
        warm = owners(args.concurrency)  # opens the whole connection pool
        return (lambda d, o: d.list_user(o)), warm, owners(args.users), args.pages
    if args.scenario == "B":
        ids = prediction_ids(args.predictions)
        warm = prediction_ids(args.concurrency * 2)
        return (lambda d, p: d.get(p)), warm, ids, 1
    if args.scenario == "E":
        bulk_pages = args.bulk_models // PAGE_SIZE
        return (lambda d, o: d.count_all(o)), ["user0000"], [BULK_OWNER], bulk_pages
    raise ValueError(args.scenario)


def _count(result: Any, read: Callable[[list[Any]], None]) -> int:
    # A: a list of models, read as the contender's program would; E: a count.
    if isinstance(result, list):
        read(result)
        return len(result)
    return int(result)


async def run_async(args: argparse.Namespace, driver: Any, prof: Any) -> dict[str, Any]:
    op, warm, items, per_item = plan(args)
    polls = args.polls if args.scenario == "B" else 1
    read = reader(args.contender)

    async def job(x: Any) -> int:
        for _ in range(polls):  # B: one task per prediction, polled in a row
            result = await op(driver, x)
            if args.scenario == "B":
                status_of(result)
        # Read, count, then drop: keeping every model until the end would make
        # the garbage collector walk an ever larger heap, which is not the client.
        return 1 if args.scenario == "B" else _count(result, read)

    try:
        await bounded_gather([partial(job, x) for x in warm], args.concurrency)
        gc.collect()
        rss0, cpu0, t0 = maxrss_kb(), cpu_seconds(), time.perf_counter()
        if prof:
            prof.enable()
        counts = await bounded_gather(
            [partial(job, x) for x in items], args.concurrency
        )
        if prof:
            prof.disable()
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        rss = maxrss_kb() - rss0
    finally:
        await driver.close()
    return _result(args, cpu, wall, len(items) * per_item * polls, sum(counts), rss)


def run_sync(args: argparse.Namespace, driver: Any, prof: Any) -> dict[str, Any]:
    op, warm, items, per_item = plan(args)
    polls = args.polls if args.scenario == "B" else 1
    read = reader(args.contender)

    def job(x: Any) -> int:
        for _ in range(polls):
            result = op(driver, x)
            if args.scenario == "B":
                status_of(result)
        return 1 if args.scenario == "B" else _count(result, read)

    try:
        for x in warm:
            job(x)
        gc.collect()
        rss0, cpu0, t0 = maxrss_kb(), cpu_seconds(), time.perf_counter()
        if prof:
            prof.enable()
        counts = [job(x) for x in items]
        if prof:
            prof.disable()
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        rss = maxrss_kb() - rss0
    finally:
        driver.close()
    return _result(args, cpu, wall, len(items) * per_item * polls, sum(counts), rss)


def _result(
    args: argparse.Namespace,
    cpu: float,
    wall: float,
    requests: int,
    items: int,
    rss_kb: int,
) -> dict[str, Any]:
    # Items are models for A/E, predictions for B: run.py checks them.
    out = {"cpu_s": cpu, "wall_s": wall, "requests": requests, "items": items}
    if args.scenario == "E":
        out["rss_growth_kb"] = rss_kb
    return out


# --------------------------------------------------------------------------
# Scenario C: decoding/structuring cost per model, no network.
# --------------------------------------------------------------------------


def run_c(args: argparse.Namespace, prof: Any) -> dict[str, Any]:
    from fake_server import page_bytes

    n_pages = max(1, args.c_models // PAGE_SIZE)
    pages = [page_bytes(i, n_pages) for i in range(n_pages)]
    row = args.contender
    if row == "orjson_loads":
        import orjson

        def work() -> int:
            return sum(len(orjson.loads(b)["items"]) for b in pages)
    elif row == "json_loads":

        def work() -> int:
            return sum(len(json.loads(b)["items"]) for b in pages)
    else:
        from operator import attrgetter

        import attrs

        from wriftai_async import Model, Page, structure

        if row == "wriftai_structure":
            decoded = [json.loads(b) for b in pages]

            def work() -> int:
                return sum(len(structure(d, Page[Model]).items) for d in decoded)
        elif row == "wriftai_structure_read_four":
            decoded = [json.loads(b) for b in pages]

            def work() -> int:
                n = 0
                for d in decoded:
                    items = structure(d, Page[Model]).items
                    read_four_attrs(items)
                    n += len(items)
                return n
        elif row == "wriftai_structure_read":
            # Fields are built on first read: this is what reading them all
            # costs (each model's own fields, nested objects built).
            decoded = [json.loads(b) for b in pages]
            read = attrgetter(*(f.name for f in attrs.fields(Model)))

            def work() -> int:
                n = 0
                for d in decoded:
                    for model in structure(d, Page[Model]).items:
                        read(model)
                        n += 1
                return n
        else:  # wriftai_loads_structure: what the client does per page
            loads: Callable[[bytes], Any] = json.loads
            try:  # the library's own decoder (orjson since 0.1), else json
                from wriftai_async import _json

                loads = _json.loads
            except ImportError:
                pass

            def work() -> int:
                return sum(len(structure(loads(b), Page[Model]).items) for b in pages)

    work()  # warm-up: cattrs generates its structuring functions here
    gc.collect()
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    if prof:
        prof.enable()
    # Several rounds: 10,000 models take only tens of milliseconds.
    total = sum(work() for _ in range(args.c_rounds))
    if prof:
        prof.disable()
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    return {"cpu_s": cpu, "wall_s": wall, "requests": 0, "items": total}


# --------------------------------------------------------------------------
# Scenario D: per-call cost of the sync facade vs the alternatives.
# --------------------------------------------------------------------------


def run_d(args: argparse.Namespace) -> dict[str, Any]:
    from wriftai_async import AsyncClient

    pid = prediction_ids(1)[0]
    row = args.contender
    if row == "d_sync_client":
        from wriftai_async import Client

        with Client(TOKEN, args.base_url) as client:
            for _ in range(50):
                client.predictions.get(pid)
            gc.collect()
            cpu0, t0 = cpu_seconds(), time.perf_counter()
            for _ in range(args.d_calls):
                client.predictions.get(pid)
            wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        calls = args.d_calls
    elif row == "d_async_warm":

        async def main() -> tuple[float, float]:
            async with AsyncClient(TOKEN, args.base_url) as client:
                for _ in range(50):
                    await client.predictions.get(pid)
                gc.collect()
                cpu0, t0 = cpu_seconds(), time.perf_counter()
                for _ in range(args.d_calls):
                    await client.predictions.get(pid)
                return time.perf_counter() - t0, cpu_seconds() - cpu0

        wall, cpu = asyncio.run(main())
        calls = args.d_calls
    else:  # d_asyncio_run: what a sync user without the facade would write

        async def one_call() -> Any:
            # A client is bound to its event loop, so each asyncio.run needs
            # its own client (and connection).
            async with AsyncClient(TOKEN, args.base_url) as client:
                return await client.predictions.get(pid)

        for _ in range(10):
            asyncio.run(one_call())
        gc.collect()
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        for _ in range(args.d_run_calls):
            asyncio.run(one_call())
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        calls = args.d_run_calls
    return {"cpu_s": cpu, "wall_s": wall, "requests": calls, "items": calls}


# --------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="one benchmark measurement (child)")
    p.add_argument("--probe", action="store_true", help="print availability")
    p.add_argument("--scenario", choices="ABCDE")
    p.add_argument("--contender", choices=sorted(ALL_ROWS))
    p.add_argument("--base-url", default="")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--pages", type=int, default=5)
    p.add_argument("--predictions", type=int, default=500)
    p.add_argument("--polls", type=int, default=10)
    p.add_argument("--bulk-models", type=int, default=100_000)
    p.add_argument("--c-models", type=int, default=10_000)
    p.add_argument("--c-rounds", type=int, default=5)
    p.add_argument("--d-calls", type=int, default=2000)
    p.add_argument("--d-run-calls", type=int, default=200)
    p.add_argument("--profile", metavar="FILE", help="write cProfile stats here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.probe:
        print("RESULT " + json.dumps({name: availability(name) for name in ALL_ROWS}))
        return 0
    why = availability(args.contender)
    if why is not None:
        print("RESULT " + json.dumps({"unavailable": why}))
        return 0
    prof = None
    if args.profile:
        import cProfile

        prof = cProfile.Profile()
    if args.scenario == "C":
        result = run_c(args, prof)
    elif args.scenario == "D":
        result = run_d(args)
    else:
        driver_kind = CONTENDERS[args.contender].kind
        if driver_kind == "async":

            async def go() -> dict[str, Any]:
                driver = make_driver(args.contender, args.base_url, args.concurrency)
                return await run_async(args, driver, prof)

            result = asyncio.run(go())
        else:
            driver = make_driver(args.contender, args.base_url, args.concurrency)
            result = run_sync(args, driver, prof)
    if prof is not None:
        prof.dump_stats(args.profile)
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
