"""``wriftai-async demo``: the library at work against the embedded emulator.

Many users' models listed concurrently, a model updated (before → after, an
untouched field shown unchanged), a prediction cancelled and polled until the
cancellation took effect. With ``--base-url`` (and a token from ``--token``
or ``WRIFTAI_ACCESS_TOKEN``) only the listing of ``--owners`` runs,
read-only, against a real service.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from .._client import AsyncClient
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    RequestCounter,
    UsageError,
    check_token_option,
    checked_base_url,
    report_failure,
    whole,
)
from ._console import Output, Progress, plural

__all__ = ["add_parser"]

_NEXT_STEP = (
    "next: run `wriftai-async emulator` in another shell and try the "
    "README's 'Command line' section against it"
)
_USERS = 200
_MODELS_PER_USER = 60


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = commands.add_parser(
        "demo",
        help="run the library against the embedded emulator",
        description="Without --base-url: an embedded emulator, many users' "
        "models listed, a model updated, a prediction cancelled. With "
        "--base-url: only the models of --owners listed, read-only.",
    )
    emulated = demo.add_argument_group("the embedded emulator (no --base-url)")
    emulated.add_argument(
        "--users", type=whole(0), metavar="N", help=f"users to list ({_USERS})"
    )
    emulated.add_argument(
        "--models-per-user",
        type=whole(0),
        metavar="N",
        help=f"models of each user ({_MODELS_PER_USER})",
    )
    remote = demo.add_argument_group("a real service")
    remote.add_argument(
        "--base-url", help="list models on this service instead (read-only)"
    )
    remote.add_argument(
        "--owners",
        metavar="A,B,...",
        help="with --base-url: comma-separated usernames whose models to list",
    )
    remote.add_argument(
        "--token",
        help="with --base-url: the API token (default: $WRIFTAI_ACCESS_TOKEN)",
    )
    demo.add_argument(
        "--concurrency", type=whole(1), default=32, metavar="N", help="(32)"
    )
    demo.add_argument("--quiet", "-q", action="store_true", help="no progress")
    demo.set_defaults(run=run_demo)


async def _list_many(
    client: AsyncClient,
    owners: Sequence[str],
    concurrency: int,
    counter: RequestCounter,
    quiet: bool,
    out: Output,
) -> int:
    """List every model of every owner; print the counts; return failures."""
    total = failures = 0

    def detail() -> str:
        return f"{plural(total, 'model')}, {plural(counter.sent, 'request')}"

    progress = Progress("listing", len(owners), quiet=quiet, detail=detail)
    done = 0
    async with progress:
        async for result in client.models.list_for_users(
            owners, concurrency=concurrency
        ):
            done += 1
            if result.value is not None:
                total += len(result.value)
            else:
                failures += 1
                report_failure(result.key, result.error)
            progress(done)
    out.line(
        f"listed {plural(total, 'model')} of {plural(len(owners), 'user')} in "
        f"{progress.elapsed():.2f}s: {plural(counter.sent, 'request')} for "
        f"{plural(counter.pages, 'page')}, concurrency {concurrency}, "
        f"{plural(failures, 'failure')}"
    )
    return failures


async def _demo_emulated(args: argparse.Namespace) -> int:
    from ..testing import Emulator

    out = Output()
    users = _USERS if args.users is None else args.users
    per_user = (
        _MODELS_PER_USER if args.models_per_user is None else args.models_per_user
    )
    counter = RequestCounter()
    async with Emulator(cancel_delay=0.3) as emu:
        owners = emu.add_many_users(users, models_per_user=per_user)
        # No URL shown: this emulator stops with the demo.
        out.line(
            f"an embedded emulator serves {plural(len(owners), 'user')} "
            "(it stops when the demo ends)"
        )
        # trust_env=False: the emulator is this process's own, on loopback;
        # an HTTP_PROXY of the machine could not reach it.
        async with AsyncClient(
            emu.access_token,
            emu.base_url,
            trace_configs=[counter.trace_config()],
            trust_env=False,
        ) as client:
            await _list_many(client, owners, args.concurrency, counter, args.quiet, out)

            me = emu.username
            first = await anext(aiter(client.models.list_for_user(me)))
            before = await client.models.get(first.full_name)
            after = await client.models.update(
                first.full_name, description="Updated by the wriftai-async demo"
            )
            out.line(f"updated {after.full_name} (a PATCH with the description only):")
            out.line(f"  description: {before.description!r} -> {after.description!r}")
            out.line(
                f"  visibility:  {str(before.visibility)!r} -> "
                f"{str(after.visibility)!r} (untouched, so unchanged)"
            )

            running = emu.add_prediction(after.full_name, status="started")
            pid = str(running["id"])
            await client.predictions.cancel(pid)
            right_after = await client.predictions.get(pid)
            out.line(
                f"cancel requested for {pid}; status right after: {right_after.status}"
            )
            sent = counter.sent
            final = await client.predictions.cancel_and_wait(pid, poll_interval=0.1)
            out.line(
                f"polled until terminal: status {final.status} "
                f"({plural(counter.sent - sent, 'request')})"
            )
    out.line(_NEXT_STEP)
    return EXIT_OK


async def _demo_remote(args: argparse.Namespace) -> int:
    owners = [o.strip() for o in (args.owners or "").split(",") if o.strip()]
    if not owners:
        raise UsageError("--base-url needs --owners A,B,... (whose models to list)")
    base_url = checked_base_url(args.base_url)
    token = check_token_option(args.token) or os.environ.get("WRIFTAI_ACCESS_TOKEN")
    if not token:
        raise UsageError(
            "--base-url needs a token: set WRIFTAI_ACCESS_TOKEN or give --token"
        )
    counter = RequestCounter()
    async with AsyncClient(
        token, base_url, trace_configs=[counter.trace_config()]
    ) as client:
        failed = await _list_many(
            client, owners, args.concurrency, counter, args.quiet, Output()
        )
    return EXIT_FAILED if failed else EXIT_OK


async def run_demo(args: argparse.Namespace) -> int:
    if args.base_url is not None:
        for option, value in (
            ("--users", args.users),
            ("--models-per-user", args.models_per_user),
        ):
            if value is not None:
                raise UsageError(
                    f"{option} applies only to the embedded emulator (no --base-url)"
                )
        return await _demo_remote(args)
    for option, value in (("--owners", args.owners), ("--token", args.token)):
        if value is not None:
            raise UsageError(
                f"{option} applies only with --base-url (the embedded emulator "
                "makes up its users and token)"
            )
    return await _demo_emulated(args)
