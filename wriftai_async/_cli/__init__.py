"""The ``wriftai-async`` command (also ``python -m wriftai_async``).

Subcommands carry the library's names: ``models list|get|update``,
``predictions get|wait|cancel``, ``emulator`` and ``demo``. Results go to
stdout as JSON Lines (``--format table`` for a person); progress, failures
and summaries go to stderr, each message a line starting ``wriftai-async:``.
No input or environment ends in a traceback.

Exit codes: 0 all went well; 1 something failed (some items of a bulk
command, or the one call); 2 a usage error (an option, a base URL); 74 the
results could not be written (a full disk, a closed stdout); 130
interrupted by Ctrl-C; 141 the reader of stdout went away (``| head``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._errors import WriftAIError
from .._version import __version__
from . import _demo, _models, _predictions
from ._common import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OUTPUT,
    EXIT_USAGE,
    Parser,
    UsageError,
    client_options,
    describe,
    run,
)
from ._console import PREFIX, OutputError, flush_stdout, say, silence_stdout

__all__ = ["main"]

_EPILOG = (
    "exit codes: 0 ok, 1 some failed, 2 usage error, 74 stdout could not be "
    "written, 130 interrupted (Ctrl-C), 141 the reader of stdout went away"
)


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PREFIX,
        description="The WriftAI API from a shell: JSON Lines on stdout, "
        "progress and failures on stderr. Reads WRIFTAI_ACCESS_TOKEN and "
        "WRIFTAI_API_BASE_URL; WRIFTAI_LOG=info|debug logs each request.",
        epilog=_EPILOG,
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = client_options()
    _models.add_parsers(commands, common)
    _predictions.add_parsers(commands, common)
    commands.add_parser(
        "emulator",
        help="serve the emulator until Ctrl-C (see `wriftai-async emulator --help`)",
        # What the emulator's own --help says (its parser is not loaded
        # here: it would import aiohttp.web).
        description="Serve the in-memory WriftAI API emulator until Ctrl-C.",
        add_help=False,
    )
    _demo.add_parser(commands)
    return parser


def _emulator(argv: list[str]) -> int:
    """Hand the arguments to the standalone emulator runner, unparsed."""
    from ..testing._serve import main as serve  # aiohttp.web only when asked

    return serve(argv, prog=f"{PREFIX} emulator")


def _dispatch(argv: list[str]) -> int:
    if argv[:1] == ["emulator"]:
        return _emulator(argv[1:])
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version: already printed
        return exc.code if isinstance(exc.code, int) else 0
    if sys.stdout is None:
        # Started with >&-: refuse before a request (an update would happen
        # and its result be lost).
        raise OutputError(None, "stdout is closed")
    prepare = getattr(args, "prepare", None)
    if prepare is not None:
        # Items from a file or stdin are read (and options checked) before
        # the event loop starts, on a thread the main thread waits for in
        # short slices: one Ctrl-C ends a blocked open or read at once.
        prepare(args)
    return run(lambda: args.run(args))


def _error(text: str) -> None:
    say(f"{PREFIX}: error: {text}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        code = _dispatch(list(sys.argv[1:] if argv is None else argv))
        flush_stdout()  # buffered results land now, or their failure shows
    except WriftAIError as exc:  # the service or network said no: not usage
        _error(describe(exc))
        return EXIT_FAILED
    except (UsageError, ValueError) as exc:  # ValueError: the library's checks
        _error(str(exc))
        return EXIT_USAGE
    except OutputError as exc:
        silence_stdout()
        if exc.reader_gone:
            say(f"{PREFIX}: stopped: the reader of stdout went away")
            return EXIT_BROKEN_PIPE
        if exc.errno is None:
            _error("stdout is closed (>&-): redirect it to a file or to /dev/null")
        else:
            _error(f"cannot write the results to stdout: {exc}")
        return EXIT_OUTPUT
    except KeyboardInterrupt:  # before the event loop ran, or a second Ctrl-C
        code = EXIT_INTERRUPTED
    except Exception as exc:  # a bug: one line, not a traceback
        _error(
            f"unexpected {type(exc).__name__}: {describe(exc)} "
            "(a bug in wriftai-async: please report it)"
        )
        return EXIT_FAILED
    if code == EXIT_INTERRUPTED:
        say(f"{PREFIX}: interrupted")
    return code
