"""``wriftai-async predictions get|wait|cancel``."""

from __future__ import annotations

import argparse
from collections import Counter

from .._client import AsyncClient
from .._errors import BadRequestError, ConflictError
from .._objects import PredictionDetails
from .._repr import shorten
from .._resources.predictions import AsyncPredictions
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    RequestCounter,
    UsageError,
    format_option,
    key_options,
    make_client,
    read_keys,
    report_failure,
    seconds,
    wait_limit,
)
from ._console import Output, Progress, plural, say

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
DEFAULT_POLL_INTERVAL = 1.0


def _model_name(prediction: object) -> str | None:
    model = getattr(prediction, "model", None)
    if model is None or model.name is None:
        return None
    version = f":{model.version_number}" if model.version_number else ""
    return f"{model.owner}/{model.name}{version}"


def _wait_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--max-wait",
        "--timeout",  # its first name, in the README of 0.x: still accepted
        dest="max_wait",
        type=wait_limit,
        metavar="S",
        help=f"give up {what} after S seconds in all; an id still running then "
        "fails (default: no limit; --timeout is the same option)",
    )
    parser.add_argument(
        "--poll-interval",
        type=seconds,
        metavar="S",
        help=f"seconds between two polls of an id ({DEFAULT_POLL_INTERVAL})",
    )


def add_parsers(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    common: argparse.ArgumentParser,
) -> None:
    predictions = commands.add_parser(
        "predictions",
        help="get, wait for and cancel predictions",
        description="Get, wait for and cancel predictions "
        "(`wriftai-async predictions ACTION --help` for each).",
    )
    sub = predictions.add_subparsers(dest="action", required=True, metavar="ACTION")

    get = sub.add_parser(
        "get",
        parents=[common],
        help="one prediction",
        description="Get one prediction as it is now (its status, input, "
        "output and logs).",
    )
    get.add_argument("id", metavar="ID")
    format_option(get)
    get.set_defaults(run=get_prediction)

    wait = sub.add_parser(
        "wait",
        parents=[common],
        help="poll predictions until each has ended; print each as it ends",
        description="Poll each prediction until it has ended (succeeded, "
        "failed or cancelled) and print it then, many at once; one that "
        "fails or is still running at --max-wait makes the exit code 1.",
    )
    key_options(wait, "ids", "prediction ids", "requests")
    _wait_options(wait, "waiting")
    format_option(wait)
    wait.set_defaults(run=wait_predictions, prepare=_check_many, wait=True)

    cancel = sub.add_parser(
        "cancel",
        parents=[common],
        help="ask for many predictions to be cancelled (--wait: until they end)",
        description="Ask for each prediction to be cancelled. Without --wait, "
        'prints {"id": ..., "cancel": "requested"} per accepted request; one '
        "that had already ended is a failure. With --wait, prints each "
        "prediction once it has really ended (one that had already ended is "
        "printed as it is); --max-wait and --poll-interval need --wait.",
    )
    key_options(cancel, "ids", "prediction ids", "requests")
    cancel.add_argument(
        "--wait", action="store_true", help="then poll each until it has ended"
    )
    _wait_options(cancel, "waiting")
    format_option(cancel)
    cancel.set_defaults(run=cancel_predictions, prepare=_check_many)


def _check_many(args: argparse.Namespace) -> None:
    args.ids = read_keys(args.ids, args.from_file, "prediction ids")
    if not args.wait:
        for option, value in (
            ("--max-wait", args.max_wait),
            ("--poll-interval", args.poll_interval),
        ):
            if value is not None:
                raise UsageError(f"{option} applies only with --wait")


async def get_prediction(args: argparse.Namespace) -> int:
    async with make_client(args, RequestCounter()) as client:
        prediction = await client.predictions.get(args.id)
    Output(args.format, PREDICTION_COLUMNS).write(prediction)
    return EXIT_OK


class _Watched(AsyncPredictions):
    """The client's predictions, noting the status each poll saw.

    ``wait_many`` polls through ``get``; the progress line shows what the
    server last said of each prediction still running (``2 started``).
    """

    __slots__ = ("seen",)

    def __init__(self, client: AsyncClient) -> None:
        super().__init__(client.session)
        self.seen: dict[str, str] = {}

    async def get(self, prediction_id: str) -> PredictionDetails:
        prediction = await super().get(prediction_id)
        if prediction.is_terminal:
            self.seen.pop(prediction_id, None)  # ended: no longer "running"
        else:
            # The server's text: bounded, whatever it sends.
            self.seen[prediction_id] = shorten(str(prediction.status), 20)
        return prediction

    def states(self) -> str:
        counts = Counter(self.seen.values())
        return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


async def _wait_all(
    client: AsyncClient,
    ids: list[str],
    args: argparse.Namespace,
    counter: RequestCounter,
) -> int:
    """Print each prediction as it ends; return how many could not be waited."""
    failed = 0
    before = counter.sent  # the cancel requests are not this phase's
    watched = _Watched(client)

    def detail() -> str:
        states = watched.states()
        return (
            f"{states + ', ' if states else ''}{failed} failed, "
            f"{plural(counter.sent - before, 'request')}"
        )

    output = Output(args.format, PREDICTION_COLUMNS)
    progress = Progress("waiting", len(ids), quiet=args.quiet, detail=detail)
    done = 0
    async with progress:
        async for result in watched.wait_many(
            ids,
            timeout=args.max_wait,
            poll_interval=args.poll_interval or DEFAULT_POLL_INTERVAL,
            concurrency=args.concurrency,
        ):
            done += 1
            watched.seen.pop(result.key, None)  # ended: no longer "running"
            if result.value is None:
                failed += 1
                report_failure(result.key, result.error)
            else:
                output.write(result.value)
            progress(done)
    if not args.quiet:
        say(
            f"{len(ids) - failed} of {plural(len(ids), 'prediction')} ended "
            f"({failed} failed) with {plural(counter.sent - before, 'request')} "
            f"in {progress.elapsed():.2f}s"
        )
    return failed


async def wait_predictions(args: argparse.Namespace) -> int:
    ids = args.ids
    counter = RequestCounter()
    async with make_client(args, counter) as client:
        failed = await _wait_all(client, ids, args, counter)
    return EXIT_FAILED if failed else EXIT_OK


async def cancel_predictions(args: argparse.Namespace) -> int:
    ids = args.ids
    counter = RequestCounter()
    failed = ended_before = 0
    to_wait: list[str] = []

    def detail() -> str:
        return f"{failed} failed, {plural(counter.sent, 'request')}"

    output = Output(args.format, CANCEL_COLUMNS)
    progress = Progress("cancelling", len(ids), quiet=args.quiet, detail=detail)
    async with make_client(args, counter) as client:
        async with progress:
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
                    report_failure(result.key, error)
                progress(done)
        if not args.quiet:
            requested = len(ids) - failed - ended_before
            before = f", {ended_before} had already ended" if ended_before else ""
            say(
                f"cancel requested for {requested} of "
                f"{plural(len(ids), 'prediction')} ({failed} failed{before}) "
                f"in {progress.elapsed():.2f}s"
            )
        if args.wait and to_wait:
            failed += await _wait_all(client, to_wait, args, counter)
    return EXIT_FAILED if failed else EXIT_OK
