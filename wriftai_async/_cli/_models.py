"""``wriftai-async models list|get|update``."""

from __future__ import annotations

import argparse
from typing import Any

from .._objects import SortBy, SortDirection, Visibility
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    RequestCounter,
    UsageError,
    choice,
    format_option,
    key_options,
    make_client,
    read_keys,
    report_failure,
    whole,
)
from ._console import Output, Progress, plural, say

__all__ = ["add_parsers"]

MODEL_COLUMNS = (
    ("MODEL", 36, lambda m: m.full_name),
    ("VISIBILITY", 10, lambda m: m.visibility),
    ("PREDICTIONS", 11, lambda m: m.predictions_count),
    ("UPDATED", 32, lambda m: m.updated_at.isoformat() if m.updated_at else None),
    ("DESCRIPTION", 40, lambda m: m.description),
)

# ``--clear FIELD``: what may be cleared, and what clearing sends. The nullable
# fields get null; the categories an empty list (the API's list has no null).
CLEARABLE: dict[str, tuple[str, Any]] = {
    "description": ("description", None),
    "overview": ("overview", None),
    "source-url": ("source_url", None),
    "license-url": ("license_url", None),
    "paper-url": ("paper_url", None),
    "categories": ("category_slugs", []),
}
# A model's hardware is a string the API requires: no null to send.
_NOT_CLEARABLE = "hardware"
_CLEAR_ALIASES = {
    "category": "categories",
    "category-slugs": "categories",
    "hardware-identifier": _NOT_CLEARABLE,
}
# The PATCH field of each option ``update`` can set, and its option name.
SETTABLE = {
    "name": "name",
    "visibility": "visibility",
    "description": "description",
    "overview": "overview",
    "hardware_identifier": "hardware",
    "source_url": "source-url",
    "license_url": "license-url",
    "paper_url": "paper-url",
    "category_slugs": "category",
}


def add_parsers(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: argparse.ArgumentParser,
) -> None:
    models = commands.add_parser(
        "models",
        help="list, get and update models",
        description="List, get and update models "
        "(`wriftai-async models ACTION --help` for each).",
    )
    sub = models.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = sub.add_parser(
        "list",
        parents=[common],
        help="every public model of many users, as JSON Lines",
        description="List every public model of each OWNER, many owners at once. "
        "One JSON object per model on stdout, in the order they arrive; an "
        "owner that fails is reported on stderr and makes the exit code 1.",
    )
    key_options(listing, "owners", "usernames", "owners listed")
    sort_by = [s.value for s in SortBy]
    listing.add_argument(
        "--sort-by",
        type=choice(sort_by),
        metavar="{" + ",".join(sort_by) + "}",
        help="order of each listing ('-' or '_' alike)",
    )
    directions = [d.value for d in SortDirection]
    listing.add_argument(
        "--sort-direction",
        type=choice(directions),
        metavar="{" + ",".join(directions) + "}",
    )
    listing.add_argument(
        "--page-size", type=whole(1), metavar="N", help="models per page request"
    )
    format_option(listing)
    listing.set_defaults(run=list_models, prepare=_read_owners)

    get = sub.add_parser(
        "get",
        parents=[common],
        help="one model in full",
        description="Get one model in full (its overview and latest version).",
    )
    get.add_argument("model", metavar="OWNER/NAME")
    format_option(get)
    get.set_defaults(run=get_model)

    _add_update(sub, common)


def _add_update(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: argparse.ArgumentParser,
) -> None:
    clearable = ", ".join(CLEARABLE)
    update = sub.add_parser(
        "update",
        parents=[common],
        help="change some fields of a model (only those given are sent)",
        description="PATCH a model: only the options given are sent, the other "
        "fields stay as they are; --clear FIELD clears that field (null, or no "
        "categories). Options and FIELD names take '-' or '_' alike.",
    )
    update.add_argument("model", metavar="OWNER/NAME")
    update.add_argument("--name", help="rename the model")
    visibilities = [v.value for v in Visibility]
    update.add_argument(
        "--visibility",
        type=choice(visibilities),
        metavar="{" + ",".join(visibilities) + "}",
    )
    update.add_argument("--description")
    update.add_argument("--overview")
    update.add_argument(
        "--hardware",
        "--hardware-identifier",
        dest="hardware_identifier",
        metavar="IDENTIFIER",
        help="the hardware's identifier (see GET /hardware)",
    )
    update.add_argument("--source-url", "--source_url", dest="source_url")
    update.add_argument("--license-url", "--license_url", dest="license_url")
    update.add_argument("--paper-url", "--paper_url", dest="paper_url")
    update.add_argument(
        "--category",
        "--category-slug",
        dest="category_slugs",
        action="append",
        metavar="SLUG",
        help="a category slug (repeat for several; replaces the list)",
    )
    update.add_argument(
        "--clear",
        action="append",
        default=[],
        type=choice([*CLEARABLE, _NOT_CLEARABLE], _CLEAR_ALIASES),
        metavar="FIELD",
        help=f"clear FIELD, one of: {clearable} (repeatable)",
    )
    format_option(update)
    update.set_defaults(run=update_model)


def _read_owners(args: argparse.Namespace) -> None:
    args.owners = read_keys(args.owners, args.from_file, "owners")


async def list_models(args: argparse.Namespace) -> int:
    owners = args.owners
    counter = RequestCounter()
    models = failed = 0
    output = Output(args.format, MODEL_COLUMNS)

    def detail() -> str:
        return (
            f"{plural(models, 'model')}, {failed} failed, "
            f"{plural(counter.sent, 'request')}"
        )

    progress = Progress("listing", len(owners), quiet=args.quiet, detail=detail)
    async with make_client(args, counter) as client, progress:
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
                report_failure(result.key, result.error)
            else:
                for model in result.value:
                    output.write(model)
                models += len(result.value)
            progress(done)
    if not args.quiet:
        say(
            f"listed {plural(models, 'model')} of {plural(len(owners), 'owner')} "
            f"({failed} failed) with {plural(counter.sent, 'request')} for "
            f"{plural(counter.pages, 'page')} in {progress.elapsed():.2f}s"
        )
    return EXIT_FAILED if failed else EXIT_OK


async def get_model(args: argparse.Namespace) -> int:
    async with make_client(args, RequestCounter()) as client:
        details = await client.models.get(args.model)
    Output(args.format, MODEL_COLUMNS).write(details)
    return EXIT_OK


def _patch(args: argparse.Namespace) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for field in SETTABLE:
        value = getattr(args, field)
        if value is not None:
            fields[field] = value
    for name in dict.fromkeys(args.clear):
        if name == _NOT_CLEARABLE:
            raise UsageError(
                "--clear hardware: a model's hardware cannot be cleared (the API "
                "requires one); set another with --hardware IDENTIFIER"
            )
        field, cleared = CLEARABLE[name]
        if field in fields:
            raise UsageError(
                f"--{SETTABLE[field]} and --clear {name}: give one or the other"
            )
        fields[field] = cleared
    if not fields:
        raise UsageError("nothing to change: give a field option or --clear FIELD")
    return fields


async def update_model(args: argparse.Namespace) -> int:
    fields = _patch(args)
    async with make_client(args, RequestCounter()) as client:
        details = await client.models.update(args.model, **fields)
    Output(args.format, MODEL_COLUMNS).write(details)
    return EXIT_OK
