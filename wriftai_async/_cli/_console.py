"""What the command writes: results on stdout, the rest on stderr.

stdout carries results only, one whole line at a time, flushed; a write that
fails (a full disk, a reader that went away, a closed stdout) raises
:class:`OutputError`, which ends the command with one line on stderr and its
own exit code. stderr carries progress, per-item failures and summaries;
writing there is best effort: a full or closed stderr never stops a command
whose results still reach stdout.

Progress is driven by time, not by completions: a wait where nothing ends
for a minute still shows, once a second off a terminal (a line) and ten
times a second on one (a bar redrawn in place), how many requests went out
and what the server last said.
"""

from __future__ import annotations

import asyncio
import errno
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, TextIO

from .. import _json
from .._converter import unstructure

__all__ = [
    "PREFIX",
    "Output",
    "OutputError",
    "Progress",
    "flush_stdout",
    "plural",
    "printable",
    "say",
    "silence_stdout",
    "write_stdout",
]

#: Every line the command writes for a person about itself starts with this.
PREFIX = "wriftai-async"


class OutputError(Exception):
    """stdout could not be written: ``errno`` says why (``None``: closed)."""

    def __init__(self, errno_: int | None, reason: str) -> None:
        super().__init__(reason)
        self.errno = errno_

    @property
    def reader_gone(self) -> bool:
        """The reader of a pipe went away (``| head``): a normal way to stop."""
        return self.errno == errno.EPIPE


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


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 owner``, ``2 owners``; ``many`` for irregular words."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def _write_stderr(text: str) -> None:
    if sys.stderr is not None:  # None when started with 2>&-: nobody to tell
        _write_to(sys.stderr, text)


def say(text: str) -> None:
    """One line for a person on stderr (wiping a progress bar first)."""
    Progress.wipe_open_bar()
    _write_stderr(printable(text) + "\n")


def _stdout() -> TextIO:
    stream = sys.stdout
    if stream is None:
        raise OutputError(None, "stdout is closed")
    return stream


def _output_error(exc: OSError) -> OutputError:
    reason = exc.strerror or type(exc).__name__
    return OutputError(exc.errno, reason)


def flush_stdout() -> None:
    """Flush stdout, raising :class:`OutputError` if its data cannot land."""
    stream = sys.stdout
    if stream is None:
        return
    try:
        stream.flush()
    except OSError as exc:
        raise _output_error(exc) from None
    except ValueError:  # flushing a file closed under us
        raise OutputError(None, "stdout is closed") from None


def silence_stdout() -> None:
    """Point the process's stdout at /dev/null after a failed write.

    Python flushes ``sys.stdout`` once more at exit; with the failed data
    still buffered that flush fails again and prints ``Exception ignored``.
    Only the real stdout is redirected (never a test's capture).
    """
    stream = sys.stdout
    if stream is None or stream is not sys.__stdout__:
        return  # closed, or not the process's own (a test's capture)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def write_stdout(text: str, stream: TextIO | None = None) -> None:
    """Write and flush ``text`` to stdout (or ``stream``), or raise OutputError."""
    stream = stream or _stdout()
    Progress.wipe_open_bar(stream)
    try:
        stream.write(text)
        stream.flush()
    except OSError as exc:
        raise _output_error(exc) from None


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
    ) -> None:
        self.format = fmt
        self.columns = columns
        self._stream = stream
        self._header_done = False

    def write(self, item: Any) -> None:
        """One result, as one whole line, flushed."""
        if self.format == "table":
            if not self._header_done:
                self._header_done = True
                header = "  ".join(_cell(n, w) for n, w, _ in self.columns)
                self.line(header.rstrip())
            row = "  ".join(_cell(get(item), w) for _, w, get in self.columns)
            self.line(row.rstrip())
        else:
            # _json: an integer beyond 64 bits is written exactly (orjson
            # alone refuses it; the client decodes it exactly).
            self.line(_json.dumps(unstructure(item)).decode())

    def line(self, text: str) -> None:
        """``text`` and a newline on stdout, flushed (a bar is wiped first)."""
        write_stdout(text + "\n", self._stream)


class Progress:
    """Progress on stderr, driven by time: use as ``async with``.

    On a terminal a bar redrawn at most ten times a second; elsewhere (CI, a
    pipe, a cron mail) a plain line at most once a second, stamped with the
    time elapsed. A ticker redraws while nothing completes, so a long wait
    shows that requests still go out. ``detail()`` gives the text after the
    counts (models, states seen, requests). Nothing when ``quiet``.
    """

    _BAR_WIDTH = 30
    _PLAIN_EVERY = 1.0  # seconds between two plain lines, at least
    _BAR_EVERY = 0.1  # a terminal is redrawn ten times a second at most

    # The bar now on the screen, if any: whatever writes a line wipes it first.
    _open: Progress | None = None

    def __init__(
        self,
        label: str,
        total: int | None,
        *,
        quiet: bool = False,
        detail: Callable[[], str] = lambda: "",
        stream: TextIO | None = None,
    ) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.quiet = quiet or self.stream is None
        self.terminal = not self.quiet and _isatty(self.stream)
        self.detail = detail
        self.every = self._BAR_EVERY if self.terminal else self._PLAIN_EVERY
        self.started = time.monotonic()
        self._last = -math.inf
        self._ticker: asyncio.Task[None] | None = None
        self._drawn = ""  # the bar's text now on the screen

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    async def __aenter__(self) -> Progress:
        if not self.quiet:
            self._ticker = asyncio.get_running_loop().create_task(self._tick())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            # wait() does not re-raise the ticker's cancellation; a
            # cancellation of this task (Ctrl-C) still reaches it.
            await asyncio.wait([ticker])
        if exc is not None:
            self.wipe_open_bar()  # no half-drawn bar above the error line
        elif self.terminal and Progress._open is self:
            # The last state stays on the screen, ended by a newline.
            if self._drawn == printable(self._text()):
                Progress._open = None
                _write_to(self.stream, "\n")
            else:
                self._draw(final=True)

    async def _tick(self) -> None:
        while True:
            # The first tick comes one interval after the start, not at once.
            due = max(self._last, self.started) + self.every - time.monotonic()
            await asyncio.sleep(max(due, self.every / 10))
            if time.monotonic() - self._last >= self.every:
                self._draw()

    def __call__(self, done: int) -> None:
        """``done`` items are complete: redrawn now if one is due."""
        self.done = done
        if not self.quiet and time.monotonic() - self._last >= self.every:
            self._draw()

    def _text(self) -> str:
        total = self.total
        counts = f"{self.done}/{total}" if total is not None else str(self.done)
        extra = self.detail()
        extra = f", {extra}" if extra else ""
        if not self.terminal:
            return f"{self.label}: {counts}{extra}"
        filled = self._BAR_WIDTH * self.done // total if total else 0
        bar = "#" * filled + "." * (self._BAR_WIDTH - filled)
        return f"{self.label} [{bar}] {counts}{extra}"

    def _draw(self, final: bool = False) -> None:
        self._last = time.monotonic()
        text = printable(self._text())
        if self.terminal:
            self._drawn = text
            end = "\n" if final else ""
            _write_to(self.stream, f"\r{text}\x1b[K{end}")
            Progress._open = None if final else self
        else:
            # The elapsed time leads the line: a log reader sees the pace.
            stamp = f"{math.floor(self.elapsed() * 10) / 10:.1f}s"
            _write_to(self.stream, f"[{stamp}] {text}\n")

    @classmethod
    def wipe_open_bar(cls, output: TextIO | None = None) -> None:
        """Wipe the bar on the screen before a line is written.

        ``output``: the stream the line goes to; a bar on stderr is wiped
        only when that stream is a terminal too (a result going to a file
        leaves the terminal's bar alone).
        """
        bar = cls._open
        if bar is None or (output is not None and not _isatty(output)):
            return
        cls._open = None
        _write_to(bar.stream, "\r\x1b[K")
        bar._last = -math.inf  # drawn again at the next tick


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (OSError, ValueError, AttributeError):
        return False


def _write_to(stream: TextIO, text: str) -> None:
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):
        pass  # best effort: a full or closed stderr must not stop the results
