"""The ``wriftai-async`` command (also ``python -m wriftai_async``).

``wriftai-async demo`` starts the embedded emulator and shows the library at
work: many users' models listed concurrently, a model updated, a prediction
cancelled and polled until the cancellation took effect. With
``--base-url`` (and ``WRIFTAI_ACCESS_TOKEN``) the listing runs against a real
service instead, read-only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence

from ._client import AsyncClient
from ._errors import WriftAIError
from ._version import __version__

__all__ = ["main"]


class _ProgressBar:
    """A one-line progress bar on stderr, drawn only for a terminal."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty()
        self._drawn = -1

    def __call__(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        if total:
            percent = 100 * done // total
            if percent == self._drawn:
                return  # redraw once per percent, not once per item
            self._drawn = percent
            filled = int(30 * done / total)
            bar = "#" * filled + "." * (30 - filled)
            sys.stderr.write(f"\r{self.label} [{bar}] {done}/{total}")
        else:
            sys.stderr.write(f"\r{self.label} {done}")
        if total is not None and done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


async def _list_many(
    client: AsyncClient, owners: Sequence[str], concurrency: int
) -> tuple[int, int, list[str]]:
    """List every model of every owner with ``list_for_users``."""
    total = 0
    failures: list[str] = []
    async for result in client.models.list_for_users(
        owners, concurrency=concurrency, on_progress=_ProgressBar("listing")
    ):
        if result.value is not None:
            total += len(result.value)
        else:
            failures.append(f"{result.key}: {result.error}")
    return total, len(owners), failures


async def _demo_emulated(users: int, models_per_user: int, concurrency: int) -> int:
    from .testing import Emulator

    async with Emulator(cancel_delay=0.3) as emu:
        owners = emu.add_many_users(users, models_per_user=models_per_user)
        print(f"emulator listening on {emu.base_url}")
        async with AsyncClient(emu.access_token, emu.base_url) as client:
            started = time.perf_counter()
            total, n, failures = await _list_many(client, owners, concurrency)
            elapsed = time.perf_counter() - started
            print(
                f"listed {total} models of {n} users in {elapsed:.2f}s "
                f"(concurrency {concurrency}, {len(failures)} failures)"
            )

            me = emu.username
            first = await anext(aiter(client.models.list_for_user(me)))
            updated = await client.models.update(
                first.full_name, description="Updated by the wriftai-async demo"
            )
            print(f"updated {updated.full_name}: description={updated.description!r}")

            running = emu.add_prediction(updated.full_name, status="started")
            pid = str(running["id"])
            await client.predictions.cancel(pid)
            right_after = await client.predictions.get(pid)
            print(
                f"cancel requested for {pid}; status right after: {right_after.status}"
            )
            final = await client.predictions.cancel_and_wait(pid, poll_interval=0.1)
            print(f"polled until terminal: status {final.status}")
    return 0


async def _demo_remote(base_url: str, owners: Sequence[str], concurrency: int) -> int:
    if not os.environ.get("WRIFTAI_ACCESS_TOKEN"):
        print("set WRIFTAI_ACCESS_TOKEN to use --base-url", file=sys.stderr)
        return 2
    async with AsyncClient(base_url=base_url) as client:
        started = time.perf_counter()
        total, n, failures = await _list_many(client, owners, concurrency)
        elapsed = time.perf_counter() - started
        print(f"listed {total} models of {n} users in {elapsed:.2f}s")
        for failure in failures:
            print(f"  failed: {failure}")
    return 1 if failures and len(failures) == len(owners) else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wriftai-async", description="The wriftai_async command line."
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    # Parsed by wriftai_async.testing._serve (see main): listed here for --help.
    sub.add_parser(
        "emulator",
        help="serve the API emulator until Ctrl-C (emulator --help for options)",
        add_help=False,
    )
    demo = sub.add_parser("demo", help="run the library against the embedded emulator")
    demo.add_argument("--users", type=int, default=200, help="users to list")
    demo.add_argument(
        "--models-per-user", type=int, default=60, help="models of each user"
    )
    demo.add_argument("--concurrency", type=int, default=32)
    demo.add_argument(
        "--base-url",
        help="list models on this service instead (needs WRIFTAI_ACCESS_TOKEN)",
    )
    demo.add_argument(
        "--owners",
        default="",
        help="with --base-url: comma-separated usernames whose models to list",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["emulator"]:
        from .testing._serve import main as serve  # aiohttp.web only when asked

        return serve(argv[1:], prog="wriftai-async emulator")
    args = _parser().parse_args(argv)
    if args.concurrency < 1 or args.users < 0 or args.models_per_user < 0:
        print("--concurrency must be >= 1 and counts >= 0", file=sys.stderr)
        return 2
    try:
        if args.base_url:
            owners = [o for o in args.owners.split(",") if o]
            if not owners:
                print("--base-url needs --owners", file=sys.stderr)
                return 2
            return asyncio.run(_demo_remote(args.base_url, owners, args.concurrency))
        return asyncio.run(
            _demo_emulated(args.users, args.models_per_user, args.concurrency)
        )
    except WriftAIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
