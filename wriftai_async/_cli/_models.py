"""``wriftai-async models list|get|update``."""

from __future__ import annotations

import argparse
from typing import Any

from .._objects import SortBy, SortDirection
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    Output,
    Progress,
    RequestCounter,
    UsageError,
    make_client,
    read_keys,
)

__all__ = ["add_parsers"]

MODEL_COLUMNS = (
    ("MODEL", 36, lambda m: m.full_name),
    ("VISIBILITY", 10, lambda m: m.visibility),
    ("PREDICTIONS", 11, lambda m: m.predictions_count),
    ("UPDATED", 32, lambda m: m.updated_at.isoformat() if m.updated_at else None),
    ("DESCRIPTION", 40, lambda m: m.description),
)

# What ``--clear`` may send as null: the nullable fields of a model's PATCH.
CLEARABLE = ("description", "overview", "source_url", "license_url", "paper_url")
# Option name -> PATCH field, for the fields ``update`` can set.
SETTABLE = {
    "name": "name",
    "visibility": "visibility",
    "description": "description",
    "overview": "overview",
    "hardware": "hardware_identifier",
    "source_url": "source_url",
    "license_url": "license_url",
    "paper_url": "paper_url",
    "category": "category_slugs",
}


def _format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=("json", "table"),
        default="json",
        help="json: one JSON object per line (default); table: for a person",
    )


def add_parsers(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: argparse.ArgumentParser,
) -> None:
    models = commands.add_parser("models", help="list, get and update models")
    sub = models.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = sub.add_parser(
        "list",
        parents=[common],
        help="every public model of many users, as JSON Lines",
        description="List every public model of each OWNER, many owners at once. "
        "One JSON object per model on stdout, in the order they arrive; an "
        "owner that fails is reported on stderr and makes the exit code 1.",
    )
    listing.add_argument("owners", nargs="*", metavar="OWNER", help="usernames")
    listing.add_argument(
        "--from-file",
        metavar="F",
        help="read more owners from F, one per line ('-' for stdin)",
    )
    listing.add_argument(
        "--sort-by", choices=[s.value for s in SortBy], help="order of each listing"
    )
    listing.add_argument("--sort-direction", choices=[d.value for d in SortDirection])
    listing.add_argument(
        "--concurrency", type=int, default=32, help="owners listed at once (32)"
    )
    listing.add_argument("--page-size", type=int, help="models per page request")
    _format_option(listing)
    listing.set_defaults(run=list_models)

    get = sub.add_parser("get", parents=[common], help="one model in full")
    get.add_argument("model", metavar="OWNER/NAME")
    _format_option(get)
    get.set_defaults(run=get_model)

    update = sub.add_parser(
        "update",
        parents=[common],
        help="change some fields of a model (only those given are sent)",
        description="PATCH a model: only the options given are sent, the other "
        "fields stay as they are; --clear FIELD sends null for that field.",
    )
    update.add_argument("model", metavar="OWNER/NAME")
    update.add_argument("--name")
    update.add_argument("--visibility")
    update.add_argument("--description")
    update.add_argument("--overview")
    update.add_argument("--hardware", metavar="IDENTIFIER")
    update.add_argument("--source-url")
    update.add_argument("--license-url")
    update.add_argument("--paper-url")
    update.add_argument(
        "--category",
        action="append",
        metavar="SLUG",
        help="a category slug (repeat for several; replaces the list)",
    )
    update.add_argument(
        "--clear",
        action="append",
        default=[],
        choices=CLEARABLE,
        metavar="FIELD",
        help=f"send null for FIELD, one of: {', '.join(CLEARABLE)} (repeatable)",
    )
    _format_option(update)
    update.set_defaults(run=update_model)


async def list_models(args: argparse.Namespace) -> int:
    owners = read_keys(args.owners, args.from_file, "owners")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be >= 1")
    if args.page_size is not None and args.page_size < 1:
        raise UsageError("--page-size must be >= 1")
    counter = RequestCounter()
    models = failed = 0
    progress = Progress(
        "listing",
        quiet=args.quiet,
        detail=lambda: f"{models} models, {failed} failed, {counter.sent} requests",
    )
    output = Output(args.format, MODEL_COLUMNS, progress=progress)
    async with make_client(args, counter) as client:
        results = client.models.list_for_users(
            owners,
            concurrency=args.concurrency,
            page_size=args.page_size,
            sort_by=args.sort_by,
            sort_direction=args.sort_direction,
        )
        done = 0
        async for result in results:
            done += 1
            if result.value is None:
                failed += 1
                progress.message(f"error: {result.key}: {result.error}", always=True)
            else:
                for model in result.value:
                    output.write(model)
                models += len(result.value)
            progress(done, len(owners))
    progress.message(
        f"listed {models} models of {len(owners)} owners ({failed} failed) "
        f"with {counter.sent} requests for {counter.pages} pages "
        f"in {progress.elapsed():.2f}s"
    )
    return EXIT_FAILED if failed else EXIT_OK


async def get_model(args: argparse.Namespace) -> int:
    async with make_client(args, RequestCounter()) as client:
        details = await client.models.get(args.model)
    Output(args.format, MODEL_COLUMNS).write(details)
    return EXIT_OK


def _patch(args: argparse.Namespace) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for option, field in SETTABLE.items():
        value = getattr(args, option)
        if value is not None:
            fields[field] = value
    for field in args.clear:
        if field in fields:
            raise UsageError(f"--{field.replace('_', '-')} and --clear {field}")
        fields[field] = None
    if not fields:
        raise UsageError("nothing to change: give a field option or --clear FIELD")
    return fields


async def update_model(args: argparse.Namespace) -> int:
    fields = _patch(args)
    async with make_client(args, RequestCounter()) as client:
        details = await client.models.update(args.model, **fields)
    Output(args.format, MODEL_COLUMNS).write(details)
    return EXIT_OK
