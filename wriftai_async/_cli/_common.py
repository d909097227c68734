"""What every subcommand shares: the client, output, progress, Ctrl-C, exit codes.

Output contract: stdout carries results only, one JSON object per line (JSON
Lines) or table rows with ``--format table``; everything for a person
(progress, per-item failures, the closing summary) goes to stderr. Each line
is written whole and flushed, so a reader of the pipe (or a Ctrl-C) never
sees half a line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from types import SimpleNamespace
from typing import Any, TextIO

import aiohttp
import orjson

from .._client import AsyncClient
from .._converter import unstructure

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Output",
    "Progress",
    "RequestCounter",
    "UsageError",
    "client_options",
    "make_client",
    "printable",
    "read_keys",
    "run",
]

EXIT_OK = 0
EXIT_FAILED = 1  # some items (or the one call) failed
EXIT_USAGE = 2  # argparse's own code for a bad command line
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader went away (``| head``)


class UsageError(Exception):
    """A command line that parsed but makes no sense (exit code 2)."""


def client_options() -> argparse.ArgumentParser:
    """The options every API subcommand takes (a parent parser)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection")
    group.add_argument(
        "--token",
        help="API token (default: $WRIFTAI_ACCESS_TOKEN; the variable keeps it "
        "out of the process list)",
    )
    group.add_argument(
        "--base-url",
        help="API base URL (default: $WRIFTAI_API_BASE_URL, then "
        "https://api.wrift.ai/v1)",
    )
    group.add_argument(
        "--max-retries", type=int, default=2, help="re-sends of a failed request"
    )
    group.add_argument(
        "--rate-limit",
        type=float,
        metavar="N",
        help="send at most N requests per second (with --rate-limit-store: "
        "across every process sharing the store and the token)",
    )
    group.add_argument(
        "--rate-limit-store",
        metavar="URL",
        help="a redis://host:port/db URL: 429 resets and --rate-limit are "
        "shared through it (default: $WRIFTAI_RATE_LIMIT_STORE; needs "
        "wriftai-async[redis])",
    )
    group.add_argument(
        "--quiet", "-q", action="store_true", help="no progress or summary on stderr"
    )
    return parent


class RequestCounter:
    """Counts the HTTP requests a client sends, through aiohttp's tracing.

    Every attempt counts, retries included (the retry middleware reports each
    attempt to the session's trace configs).
    """

    def __init__(self) -> None:
        self.sent = 0
        self.pages = 0

    def trace_config(self) -> aiohttp.TraceConfig:
        config = aiohttp.TraceConfig()

        async def on_start(
            session: aiohttp.ClientSession,
            ctx: SimpleNamespace,
            params: aiohttp.TraceRequestStartParams,
        ) -> None:
            self.sent += 1

        async def on_end(
            session: aiohttp.ClientSession,
            ctx: SimpleNamespace,
            params: aiohttp.TraceRequestEndParams,
        ) -> None:
            if params.method == "GET" and params.response.status == 200:
                self.pages += 1

        config.on_request_start.append(on_start)
        config.on_request_end.append(on_end)
        return config


def make_client(args: argparse.Namespace, counter: RequestCounter) -> AsyncClient:
    if args.max_retries < 0:
        raise UsageError("--max-retries must be >= 0")
    try:
        return AsyncClient(
            args.token,
            args.base_url,
            max_retries=args.max_retries,
            trace_configs=[counter.trace_config()],
            rate_limit=args.rate_limit,
            rate_limit_store=args.rate_limit_store,
        )
    except (ValueError, ImportError) as exc:  # a bad URL or rate; no redis
        raise UsageError(str(exc)) from None


def read_keys(given: Sequence[str], from_file: str | None, what: str) -> list[str]:
    """The command line's items, then the file's (``-`` is stdin).

    In a file, blank lines and ``#`` comments are skipped; each item is
    counted once, in the order first seen.
    """
    keys = list(given)
    if from_file is not None:
        try:
            if from_file == "-":
                lines = sys.stdin.read().splitlines()
            else:
                with open(from_file, encoding="utf-8") as handle:
                    lines = handle.read().splitlines()
        except OSError as exc:
            raise UsageError(f"cannot read {from_file}: {exc.strerror}") from None
        for line in lines:
            item = line.split("#", 1)[0].strip()
            if item:
                keys.append(item)
    if not keys:
        raise UsageError(f"no {what} given (as arguments or with --from-file)")
    return list(dict.fromkeys(keys))


def printable(text: str) -> str:
    """``text`` on one line, without control characters.

    Table cells and error messages hold text from the network; an escape
    sequence in a model's description must not drive the user's terminal.
    """
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else " " if c in "\t\n\r" else "?" for c in text
    )


def _cell(value: Any, width: int) -> str:
    text = "" if value is None else printable(str(value))
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text.ljust(width)


class Output:
    """Writes results to stdout: JSON Lines, or a table for a person."""

    def __init__(
        self,
        fmt: str = "json",
        columns: Sequence[tuple[str, int, Callable[[Any], Any]]] = (),
        stream: TextIO | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.format = fmt
        self.columns = columns
        self.stream = stream or sys.stdout
        self.progress = progress
        self._header_done = False

    def write(self, item: Any) -> None:
        """One result, as one whole line, flushed."""
        if self.progress is not None:
            self.progress.clear(self.stream)
        if self.format == "table":
            if not self._header_done:
                self._header_done = True
                header = "  ".join(_cell(n, w) for n, w, _ in self.columns)
                self._line(header.rstrip())
            row = "  ".join(_cell(get(item), w) for _, w, get in self.columns)
            self._line(row.rstrip())
        else:
            self._line(orjson.dumps(unstructure(item)).decode())

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


class Progress:
    """Progress on stderr: a bar on a terminal, else a plain line at most once a
    second, nothing when quiet.

    ``detail()`` is called for the text after the counts (models, requests).
    """

    _BAR_WIDTH = 30
    _PLAIN_EVERY = 1.0  # seconds between two plain lines, at least
    _BAR_EVERY = 0.1  # a terminal is redrawn ten times a second at most

    def __init__(
        self,
        label: str,
        *,
        quiet: bool = False,
        detail: Callable[[], str] = lambda: "",
        stream: TextIO | None = None,
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.terminal = self.stream.isatty()
        self.detail = detail
        self.started = time.monotonic()
        self._last = float("-inf")
        self._bar_open = False

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def __call__(self, done: int, total: int | None) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        finished = total is not None and done >= total
        every = self._BAR_EVERY if self.terminal else self._PLAIN_EVERY
        if now - self._last < every and not (self.terminal and finished):
            return
        self._last = now
        counts = f"{done}/{total}" if total is not None else str(done)
        extra = self.detail()
        extra = f", {extra}" if extra else ""
        if self.terminal:
            filled = self._BAR_WIDTH * done // total if total else 0
            bar = "#" * filled + "." * (self._BAR_WIDTH - filled)
            self.stream.write(f"\r{self.label} [{bar}] {counts}{extra}\x1b[K")
            self._bar_open = not finished
            if finished:
                self.stream.write("\n")
        else:
            # The elapsed time leads the line: a log reader sees the pace.
            stamp = f"{int(self.elapsed() * 10) / 10:.1f}s"
            self.stream.write(f"[{stamp}] {self.label}: {counts}{extra}\n")
        self.stream.flush()

    def clear(self, output: TextIO) -> None:
        """Wipe an open bar before a result is printed on the same terminal."""
        if self._bar_open and output.isatty():
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._bar_open = False
            self._last = float("-inf")  # drawn again at the next count

    def message(self, text: str, *, always: bool = False) -> None:
        """A line of its own on stderr (ends an open bar first)."""
        if self.quiet and not always:
            return
        if self._bar_open:
            self.stream.write("\n")
            self._bar_open = False
        self.stream.write(printable(text) + "\n")
        self.stream.flush()


def run(command: Callable[[], Awaitable[int]]) -> int:
    """Run ``command()`` in a new event loop; Ctrl-C cancels it cleanly.

    The first SIGINT cancels the command's task: requests in flight are
    cancelled and connections closed by the normal ``async with`` exits, and
    the exit code is 130. A second Ctrl-C during that clean-up interrupts
    as Python always does.
    """

    async def main() -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        interrupted = False

        def on_sigint() -> None:
            nonlocal interrupted
            interrupted = True
            loop.remove_signal_handler(signal.SIGINT)
            task.cancel()

        # Not on Windows or off the main thread: KeyboardInterrupt (below) then.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGINT, on_sigint)
        try:
            return await command()
        except asyncio.CancelledError:
            if not interrupted:
                raise
        finally:
            if not interrupted:
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(signal.SIGINT)
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED
