"""The ``wriftai-async`` command (also ``python -m wriftai_async``).

Subcommands carry the library's names: ``models list|get|update``,
``predictions get|wait|cancel``, ``emulator`` and ``demo``. Results go to
stdout as JSON Lines (``--format table`` for a person); progress, failures
and summaries go to stderr. Exit codes: 0 all went well, 1 something failed
(some items of a bulk command, or the one call), 2 a usage error, 130
interrupted by Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .._errors import WriftAIError
from .._version import __version__
from . import _demo, _models, _predictions
from ._common import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_USAGE,
    UsageError,
    client_options,
    printable,
    run,
)

__all__ = ["main"]

_PROG = "wriftai-async"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="The WriftAI API from a shell: JSON Lines on stdout, "
        "progress and failures on stderr. Reads WRIFTAI_ACCESS_TOKEN and "
        "WRIFTAI_API_BASE_URL; WRIFTAI_LOG=info|debug logs each request.",
        epilog="exit codes: 0 ok, 1 some failed, 2 usage error, 130 interrupted",
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = client_options()
    _models.add_parsers(commands, common)
    _predictions.add_parsers(commands, common)
    commands.add_parser(
        "emulator",
        help="serve the emulator until Ctrl-C (see `wriftai-async emulator --help`)",
        add_help=False,
    )
    _demo.add_parser(commands)
    return parser


def _emulator(argv: list[str]) -> int:
    """Hand the arguments to the standalone emulator runner, unparsed."""
    from ..testing._serve import main as serve  # aiohttp.web only when asked

    return serve(argv, prog=f"{_PROG} emulator")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["emulator"]:
        return _emulator(args_list[1:])
    parser = _parser()
    args = parser.parse_args(args_list)
    try:
        return run(lambda: args.run(args))
    except WriftAIError as exc:  # the service or network said no: not usage
        print(f"{_PROG}: error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except (UsageError, ValueError) as exc:  # ValueError: the library's checks
        parser.exit(EXIT_USAGE, f"{_PROG}: error: {printable(str(exc))}\n")
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, and keep Python
        # from complaining again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
