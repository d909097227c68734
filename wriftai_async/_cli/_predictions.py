"""``wriftai-async predictions get|wait|cancel``."""

from __future__ import annotations

import argparse

from .._client import AsyncClient
from .._errors import BadRequestError, ConflictError
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

PREDICTION_COLUMNS = (
    ("ID", 36, lambda p: p.id),
    ("STATUS", 10, lambda p: p.status),
    ("MODEL", 36, lambda p: _model_name(p)),
    ("CREATED", 32, lambda p: p.created_at.isoformat() if p.created_at else None),
)
CANCEL_COLUMNS = (
    ("ID", 36, lambda r: r["id"]),
    ("CANCEL", 10, lambda r: "requested"),
)


def _model_name(prediction: object) -> str | None:
    model = getattr(prediction, "model", None)
    if model is None or model.name is None:
        return None
    version = f":{model.version_number}" if model.version_number else ""
    return f"{model.owner}/{model.name}{version}"


def _many_ids(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="*", metavar="ID", help="prediction ids")
    parser.add_argument(
        "--from-file", metavar="F", help="read more ids from F ('-' for stdin)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=32, help="requests at once (32)"
    )


def _wait_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help=f"give up {what} after S seconds (an id still running then fails)",
    )
    parser.add_argument(
        "--poll-interval", type=float, default=1.0, metavar="S", help="(1.0)"
    )


def _format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("json", "table"), default="json")


def add_parsers(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: argparse.ArgumentParser,
) -> None:
    predictions = commands.add_parser(
        "predictions", help="get, wait for and cancel predictions"
    )
    sub = predictions.add_subparsers(dest="action", required=True, metavar="ACTION")

    get = sub.add_parser("get", parents=[common], help="one prediction")
    get.add_argument("id", metavar="ID")
    _format_option(get)
    get.set_defaults(run=get_prediction)

    wait = sub.add_parser(
        "wait",
        parents=[common],
        help="poll predictions until each has ended; print each as it ends",
    )
    _many_ids(wait)
    _wait_options(wait, "waiting")
    _format_option(wait)
    wait.set_defaults(run=wait_predictions)

    cancel = sub.add_parser(
        "cancel",
        parents=[common],
        help="ask for many predictions to be cancelled (--wait: until they end)",
        description="Ask for each prediction to be cancelled. Without --wait, "
        'prints {"id": ..., "cancel": "requested"} per accepted request; one '
        "that had already ended is a failure. With --wait, prints each "
        "prediction once it has really ended (one that had already ended is "
        "printed as it is).",
    )
    _many_ids(cancel)
    cancel.add_argument(
        "--wait", action="store_true", help="then poll each until it has ended"
    )
    _wait_options(cancel, "waiting (with --wait)")
    _format_option(cancel)
    cancel.set_defaults(run=cancel_predictions)


def _check_many(args: argparse.Namespace) -> list[str]:
    ids = read_keys(args.ids, args.from_file, "prediction ids")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be >= 1")
    if not args.poll_interval > 0:
        raise UsageError("--poll-interval must be > 0")
    if args.timeout is not None and not args.timeout >= 0:
        raise UsageError("--timeout must be >= 0")
    return ids


async def get_prediction(args: argparse.Namespace) -> int:
    async with make_client(args, RequestCounter()) as client:
        prediction = await client.predictions.get(args.id)
    Output(args.format, PREDICTION_COLUMNS).write(prediction)
    return EXIT_OK


async def _wait_all(
    client: AsyncClient,
    ids: list[str],
    args: argparse.Namespace,
    counter: RequestCounter,
) -> int:
    """Print each prediction as it ends; return how many could not be waited."""
    failed = 0
    before = counter.sent  # the cancel requests are not this phase's
    progress = Progress(
        "waiting",
        quiet=args.quiet,
        detail=lambda: f"{failed} failed, {counter.sent - before} requests",
    )
    output = Output(args.format, PREDICTION_COLUMNS, progress=progress)
    done = 0
    async for result in client.predictions.wait_many(
        ids,
        timeout=args.timeout,
        poll_interval=args.poll_interval,
        concurrency=args.concurrency,
    ):
        done += 1
        if result.value is None:
            failed += 1
            progress.message(f"error: {result.key}: {result.error}", always=True)
        else:
            output.write(result.value)
        progress(done, len(ids))
    progress.message(
        f"{len(ids) - failed} of {len(ids)} predictions ended ({failed} failed) "
        f"with {counter.sent - before} requests in {progress.elapsed():.2f}s"
    )
    return failed


async def wait_predictions(args: argparse.Namespace) -> int:
    ids = _check_many(args)
    counter = RequestCounter()
    async with make_client(args, counter) as client:
        failed = await _wait_all(client, ids, args, counter)
    return EXIT_FAILED if failed else EXIT_OK


async def cancel_predictions(args: argparse.Namespace) -> int:
    ids = _check_many(args)
    counter = RequestCounter()
    failed = ended_before = 0
    to_wait: list[str] = []
    progress = Progress(
        "cancelling",
        quiet=args.quiet,
        detail=lambda: f"{failed} failed, {counter.sent} requests",
    )
    output = Output(args.format, CANCEL_COLUMNS, progress=progress)
    async with make_client(args, counter) as client:
        done = 0
        async for result in client.predictions.cancel_many(
            ids, concurrency=args.concurrency
        ):
            done += 1
            error = result.error
            if error is None:
                to_wait.append(result.key)
                if not args.wait:
                    output.write({"id": result.key, "cancel": "requested"})
            elif args.wait and isinstance(error, (BadRequestError, ConflictError)):
                # Already ended: waiting returns it as it is, like
                # ``cancel_and_wait`` does for one prediction.
                to_wait.append(result.key)
                ended_before += 1
            else:
                failed += 1
                progress.message(f"error: {result.key}: {error}", always=True)
            progress(done, len(ids))
        requested = len(ids) - failed - ended_before
        before = f", {ended_before} had already ended" if ended_before else ""
        progress.message(
            f"cancel requested for {requested} of {len(ids)} predictions "
            f"({failed} failed{before}) in {progress.elapsed():.2f}s"
        )
        if args.wait and to_wait:
            failed += await _wait_all(client, to_wait, args, counter)
    return EXIT_FAILED if failed else EXIT_OK
