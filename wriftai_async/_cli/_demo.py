"""``wriftai-async demo``: the library at work against the embedded emulator.

Many users' models listed concurrently, a model updated (before → after, an
untouched field shown unchanged), a prediction cancelled and polled until the
cancellation took effect. With ``--base-url`` (and ``WRIFTAI_ACCESS_TOKEN``)
only the listing runs, read-only, against a real service.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from .._client import AsyncClient
from ._common import EXIT_FAILED, EXIT_OK, Progress, RequestCounter, UsageError

__all__ = ["add_parser"]

_NEXT_STEP = (
    "next: run `wriftai-async emulator` in another shell and try the "
    "README's 'Command line' section against it"
)


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = commands.add_parser(
        "demo", help="run the library against the embedded emulator"
    )
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
    demo.add_argument("--quiet", "-q", action="store_true", help="no progress")
    demo.set_defaults(run=run_demo)


async def _list_many(
    client: AsyncClient,
    owners: Sequence[str],
    concurrency: int,
    counter: RequestCounter,
    quiet: bool,
) -> int:
    """List every model of every owner; print the counts; return failures."""
    total = 0
    failures: list[str] = []
    progress = Progress(
        "listing",
        quiet=quiet,
        detail=lambda: f"{total} models, {counter.sent} requests",
    )
    done = 0
    async for result in client.models.list_for_users(owners, concurrency=concurrency):
        done += 1
        if result.value is not None:
            total += len(result.value)
        else:
            failures.append(f"{result.key}: {result.error}")
        progress(done, len(owners))
    print(
        f"listed {total} models of {len(owners)} users in {progress.elapsed():.2f}s: "
        f"{counter.sent} requests for {counter.pages} pages, "
        f"concurrency {concurrency}, {len(failures)} failures"
    )
    for failure in failures:
        print(f"  failed: {failure}")
    return len(failures)


async def _demo_emulated(args: argparse.Namespace) -> int:
    from ..testing import Emulator

    counter = RequestCounter()
    async with Emulator(cancel_delay=0.3) as emu:
        owners = emu.add_many_users(args.users, models_per_user=args.models_per_user)
        # No URL shown: this emulator stops with the demo.
        print(
            f"an embedded emulator serves {len(owners)} users "
            "(it stops when the demo ends)"
        )
        async with AsyncClient(
            emu.access_token, emu.base_url, trace_configs=[counter.trace_config()]
        ) as client:
            await _list_many(client, owners, args.concurrency, counter, args.quiet)

            me = emu.username
            first = await anext(aiter(client.models.list_for_user(me)))
            before = await client.models.get(first.full_name)
            after = await client.models.update(
                first.full_name, description="Updated by the wriftai-async demo"
            )
            print(f"updated {after.full_name} (a PATCH with the description only):")
            print(f"  description: {before.description!r} -> {after.description!r}")
            print(
                f"  visibility:  {str(before.visibility)!r} -> "
                f"{str(after.visibility)!r} (untouched, so unchanged)"
            )

            running = emu.add_prediction(after.full_name, status="started")
            pid = str(running["id"])
            await client.predictions.cancel(pid)
            right_after = await client.predictions.get(pid)
            print(
                f"cancel requested for {pid}; status right after: {right_after.status}"
            )
            sent = counter.sent
            final = await client.predictions.cancel_and_wait(pid, poll_interval=0.1)
            print(
                f"polled until terminal: status {final.status} "
                f"({counter.sent - sent} requests)"
            )
    print(_NEXT_STEP)
    return EXIT_OK


async def _demo_remote(args: argparse.Namespace) -> int:
    owners = [o for o in args.owners.split(",") if o]
    if not owners:
        raise UsageError("--base-url needs --owners")
    if not os.environ.get("WRIFTAI_ACCESS_TOKEN"):
        raise UsageError("set WRIFTAI_ACCESS_TOKEN to use --base-url")
    counter = RequestCounter()
    async with AsyncClient(
        base_url=args.base_url, trace_configs=[counter.trace_config()]
    ) as client:
        failed = await _list_many(client, owners, args.concurrency, counter, args.quiet)
    return EXIT_FAILED if failed else EXIT_OK


async def run_demo(args: argparse.Namespace) -> int:
    if args.concurrency < 1 or args.users < 0 or args.models_per_user < 0:
        raise UsageError("--concurrency must be >= 1 and counts >= 0")
    if args.base_url:
        return await _demo_remote(args)
    return await _demo_emulated(args)
