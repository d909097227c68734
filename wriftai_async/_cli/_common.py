"""What every subcommand shares: options, their checks, the client, Ctrl-C.

Every number and choice on the command line is checked while it is parsed,
with one message style (``--OPTION: must be ..., not 'VALUE'``) and the exit
code 2; nothing reaches the library that it would refuse with a Python
word in its message.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any, NoReturn

import aiohttp

from .._checks import check_int, check_number
from .._client import AsyncClient
from .._errors import ValidationError
from .._repr import bounded_repr, shorten
from .._urls import check_base_url
from ._console import PREFIX, say, write_stdout

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_OUTPUT",
    "EXIT_USAGE",
    "FROM_FILE_CAP",
    "Parser",
    "RequestCounter",
    "UsageError",
    "check_token_option",
    "checked_base_url",
    "choice",
    "client_options",
    "describe",
    "format_option",
    "key_options",
    "make_client",
    "read_from_file",
    "read_keys",
    "report_failure",
    "run",
    "seconds",
    "wait_limit",
    "whole",
]

EXIT_OK = 0
EXIT_FAILED = 1  # some items (or the one call) failed
EXIT_USAGE = 2  # argparse's own code for a bad command line
EXIT_OUTPUT = 74  # EX_IOERR: stdout could not be written (full disk, closed)
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader went away (``| head``)


class UsageError(Exception):
    """A command line that makes no sense (exit code 2)."""


class Parser(argparse.ArgumentParser):
    """argparse, with its errors raised as :class:`UsageError`.

    ``main`` then prints them in the style of every other message, one line,
    instead of argparse's usage block. Long options are never abbreviated
    (``allow_abbrev=False``, for every subcommand too, which argparse makes
    of this class): ``--desc`` is refused, not taken as ``--description``,
    and a script keeps its meaning when an option is added.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        # The innermost parser's defaults win: which --help to point at.
        self.set_defaults(_help_prog=self.prog)

    def error(self, message: str) -> NoReturn:
        message = message.removeprefix("argument ")
        raise UsageError(f"{message} (see `{self.prog} --help`)")

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: None = None
    ) -> argparse.Namespace:
        # argparse reports an unknown option from the top parser, so the
        # message pointed at `wriftai-async --help`; the subcommand's is
        # the one that lists the options that were meant.
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            prog = getattr(parsed, "_help_prog", self.prog)
            raise UsageError(
                f"unrecognized arguments: {' '.join(extras)} (see `{prog} --help`)"
            )
        return parsed

    def _print_message(self, message: str, file: Any = None) -> None:
        # argparse drops a failed write of --help or --version silently (exit
        # 0 with nothing shown on a full disk): it fails like any output here.
        if message and file is not None and file is sys.stdout:
            write_stdout(message)
        else:
            super()._print_message(message, file)


# -- option types: checked while parsing ----------------------------------------


def _option(
    convert: Callable[[str], Any], check: Callable[[Any], Any], wording: str
) -> Callable[[str], Any]:
    """An option's type: ``text`` converted, then the library's own check."""

    def parse(text: str) -> Any:
        try:
            return check(convert(text))
        except (TypeError, ValueError):
            message = f"must be {wording}, not {text!r}"
            raise argparse.ArgumentTypeError(message) from None

    return parse


def whole(minimum: int) -> Callable[[str], int]:
    """An option's type: a whole number >= ``minimum``."""
    wording = f"a whole number >= {minimum}"
    return _option(int, lambda value: check_int(value, "", minimum), wording)


def _positive(value: float) -> float:
    return check_number(value, "")


seconds = _option(float, _positive, "a number of seconds > 0")
per_second = _option(float, _positive, "a number of requests per second > 0")
#: ``--max-wait``: leaving the option out means no limit.
wait_limit = _option(
    float, _positive, "a number of seconds > 0 (leave it out to wait without limit)"
)


def _key(text: str) -> str:
    return text.strip().lower().replace("_", "-")


def choice(
    values: Iterable[str], aliases: Mapping[str, str] | None = None
) -> Callable[[str], str]:
    """An option's type: one of ``values``, spelled with ``-`` or ``_``.

    Returns the value as listed (``predictions-count`` gives
    ``predictions_count`` when that is how it is listed); ``aliases`` maps
    other names to listed values.
    """
    listed = list(values)
    known = {_key(v): v for v in listed}
    known.update({_key(a): v for a, v in (aliases or {}).items()})

    def parse(text: str) -> str:
        try:
            return known[_key(text)]
        except KeyError:
            raise argparse.ArgumentTypeError(
                f"must be one of {', '.join(listed)}; not {text!r}"
            ) from None

    return parse


# -- the client --------------------------------------------------------------------


def client_options() -> argparse.ArgumentParser:
    """The options every API subcommand takes (a parent parser)."""
    parent = Parser(add_help=False)
    group = parent.add_argument_group("connection")
    group.add_argument(
        "--token",
        help="API token (default: $WRIFTAI_ACCESS_TOKEN; the variable keeps it "
        "out of the process list)",
    )
    group.add_argument(
        "--base-url",
        help="API base URL (default: $WRIFTAI_API_BASE_URL if set, else "
        "https://api.wrift.ai/v1; an empty one is an error)",
    )
    group.add_argument(
        "--max-retries",
        type=whole(0),
        default=2,
        metavar="N",
        help="re-sends of a failed request (2)",
    )
    group.add_argument(
        "--rate-limit",
        type=per_second,
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
        "--proxy",
        metavar="URL",
        help="send every request through this http://[user:password@]host:port "
        "proxy (default: $HTTPS_PROXY, $HTTP_PROXY or $ALL_PROXY unless "
        "$NO_PROXY lists the host)",
    )
    group.add_argument(
        "--quiet", "-q", action="store_true", help="no progress or summary on stderr"
    )
    return parent


def check_token_option(token: str | None) -> str | None:
    if token is not None and not token.strip():
        raise UsageError(
            "--token is empty (an unset variable in a script?): give the token, "
            "or leave the option out to read $WRIFTAI_ACCESS_TOKEN"
        )
    return token


def checked_base_url(value: str | None) -> str | None:
    """``--base-url``, checked under that name (``None``: not given)."""
    if value is None:
        return None
    try:
        return check_base_url(value, "--base-url")
    except ValueError as exc:
        raise UsageError(str(exc)) from None


class RequestCounter:
    """Counts the HTTP requests a client sends, through aiohttp's tracing.

    Every attempt counts, retries included: ``on_request_start`` comes once
    per call (the retries happen inside it, in the retry middleware), the
    request's headers are sent once per attempt.
    """

    def __init__(self) -> None:
        self.sent = 0
        self.pages = 0

    def trace_config(self) -> aiohttp.TraceConfig:
        config = aiohttp.TraceConfig()

        async def on_sent(
            session: aiohttp.ClientSession,
            ctx: SimpleNamespace,
            params: aiohttp.TraceRequestHeadersSentParams,
        ) -> None:
            self.sent += 1

        async def on_end(
            session: aiohttp.ClientSession,
            ctx: SimpleNamespace,
            params: aiohttp.TraceRequestEndParams,
        ) -> None:
            if params.method == "GET" and params.response.status == 200:
                self.pages += 1

        config.on_request_headers_sent.append(on_sent)
        config.on_request_end.append(on_end)
        return config


def make_client(args: argparse.Namespace, counter: RequestCounter) -> AsyncClient:
    token = check_token_option(args.token)
    base_url = checked_base_url(args.base_url)
    try:
        return AsyncClient(
            token,
            base_url,
            max_retries=args.max_retries,
            trace_configs=[counter.trace_config()],
            rate_limit=args.rate_limit,
            rate_limit_store=args.rate_limit_store,
            proxy=args.proxy,
        )
    # $WRIFTAI_API_BASE_URL or $HTTPS_PROXY... (named in the message), a
    # rate, a store or a proxy; or a store without the redis extra
    # (ImportError).
    except (ValueError, ImportError) as exc:
        message = str(exc)
        # The library names its own arguments; here they are options.
        for argument, option in _OPTION_NAMES:
            if message.startswith(argument):
                message = option + message[len(argument) :]
        raise UsageError(message) from None


#: Library argument -> option, for a message about a value given as one.
_OPTION_NAMES = (
    ("access_token ", "--token "),
    ("rate_limit_store ", "--rate-limit-store "),
    ("proxy ", "--proxy "),
)


def format_option(parser: argparse.ArgumentParser) -> None:
    """``--format json|table`` of the subcommands that print API objects."""
    parser.add_argument(
        "--format",
        type=choice(("json", "table")),
        default="json",
        metavar="{json,table}",
        help="json: one JSON object per line (default); table: for a person",
    )


def key_options(
    parser: argparse.ArgumentParser, name: str, help: str, concurrency_help: str
) -> None:
    """The items of a bulk subcommand (``name`` as arguments or ``--from-file``)
    and ``--concurrency``; :func:`read_keys` reads them."""
    parser.add_argument(name, nargs="*", metavar=name[:-1].upper(), help=help)
    parser.add_argument(
        "--from-file",
        metavar="F",
        help=f"read more {name} from F, one per line ('-' for stdin)",
    )
    parser.add_argument(
        "--concurrency",
        type=whole(1),
        default=32,
        metavar="N",
        help=f"{concurrency_help} at once (32)",
    )


#: The most ``--from-file`` reads: 16 MiB. A list of owners or ids is far
#: smaller; a wrong file (a disk image, ``/dev/zero``) ends with a message
#: instead of filling memory.
FROM_FILE_CAP = 16 * 1024 * 1024
#: How long the main thread waits on the reader at a time: between two waits
#: it handles a Ctrl-C, even one that the reading thread received.
_WAIT_SLICE = 0.05


def _read_fd(fd: int, cap: int) -> bytes:
    """At most ``cap + 1`` bytes from ``fd``: one more than ``cap`` says "too large"."""
    chunks = []
    size = 0
    while size <= cap:
        chunk = os.read(fd, min(1 << 16, cap + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _read_path(path: str, cap: int) -> bytes:
    """The file, read through its descriptor alone (no file object to warn
    "unclosed file" if the command ends while the thread waits)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return _read_fd(fd, cap)
    finally:
        os.close(fd)


def _read_stdin(cap: int) -> bytes:
    stdin = sys.stdin
    if stdin is None:
        raise UsageError("--from-file -: stdin is closed")
    try:
        fd = stdin.fileno()
    except (AttributeError, OSError, ValueError):
        # A sys.stdin replaced by one without a descriptor (an embedding
        # application, a test): its bytes, or its text, capped alike.
        source = getattr(stdin, "buffer", stdin)
        data = source.read(cap + 1)
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return _read_fd(fd, cap)


def _in_a_thread(work: Callable[[], bytes]) -> bytes:
    """``work()`` run on a daemon thread, the main thread waiting in slices.

    On the main thread, a Ctrl-C landing between ``open()`` returning and
    ``read()`` blocking (a FIFO, a terminal) was seen only once the read
    returned (CPython checks for signals between bytecodes): 3 runs in 60
    needed a second Ctrl-C. Here the main thread only waits, in slices of
    :data:`_WAIT_SLICE`, and handles a Ctrl-C between two of them even when
    the reading thread received the signal; that thread, left blocked, ends
    with the process.
    """
    outcome: list[bytes | BaseException] = []
    done = threading.Event()

    def target() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # handed to the main thread, raised there
            outcome.append(exc)
        finally:
            done.set()

    threading.Thread(
        target=target, name="wriftai-async --from-file", daemon=True
    ).start()
    while not done.wait(_WAIT_SLICE):
        pass
    (result,) = outcome
    if isinstance(result, BaseException):
        raise result
    return result


def read_from_file(from_file: str, cap: int = FROM_FILE_CAP) -> list[str]:
    """The lines of ``--from-file`` (``-`` is stdin), read as
    :func:`_in_a_thread` does, at most ``cap`` bytes of UTF-8 text."""
    name = "stdin" if from_file == "-" else from_file
    try:
        if from_file == "-":
            data = _in_a_thread(lambda: _read_stdin(cap))
        else:
            data = _in_a_thread(lambda: _read_path(from_file, cap))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"cannot read {name}: {reason}") from None
    if len(data) > cap:
        raise UsageError(
            f"cannot read {name}: more than {cap / 2**20:g} MiB, the most --from-file "
            "reads (split the list)"
        )
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise UsageError(f"cannot read {name}: not UTF-8 text") from None


def read_keys(given: Sequence[str], from_file: str | None, what: str) -> list[str]:
    """The command line's items, then the file's (``-`` is stdin).

    In a file, blank lines and ``#`` comments are skipped; each item is
    counted once, in the order first seen.
    """
    keys = list(given)
    if from_file is not None:
        for line in read_from_file(from_file):
            item = line.split("#", 1)[0].strip()
            if item:
                keys.append(item)
    if not keys:
        raise UsageError(f"no {what} given (as arguments or with --from-file)")
    return list(dict.fromkeys(keys))


# -- messages ---------------------------------------------------------------------


def report_failure(key: str, error: BaseException | None) -> None:
    """The line on stderr for one failed item of a bulk subcommand."""
    say(f"{PREFIX}: error: {key}: {describe(error)}")


_MAX_FIELDS = 10


def _field_name(loc: Any) -> str:
    if not isinstance(loc, list):
        return "request"
    # "body"/"query"/"path" say where the field was, not which it was.
    parts = [p for p in loc if p not in ("body", "query", "path")]
    text = ".".join(
        shorten(p, 40) if isinstance(p, str) else bounded_repr(p, 40, 1)
        for p in parts[:6]
    )
    return text or "request"


def describe(error: BaseException | None) -> str:
    """An error as one readable line; validation errors as ``field: message``."""
    if error is None:
        return "failed"
    if isinstance(error, ValidationError) and error.errors:
        fields = [
            f"{_field_name(item.get('loc'))}: "
            f"{shorten(str(item.get('msg') or 'invalid'), 200)}"
            for item in error.errors[:_MAX_FIELDS]
        ]
        if len(error.errors) > _MAX_FIELDS:
            fields.append(f"and {len(error.errors) - _MAX_FIELDS} more")
        where = f" ({error.method} {shorten(error.url, 300)})" if error.method else ""
        return f"{error.status}{where}: {'; '.join(fields)}"
    return str(error)


# -- running ------------------------------------------------------------------------


def run(command: Callable[[], Awaitable[int]]) -> int:
    """Run ``command()`` in a new event loop; Ctrl-C cancels it cleanly.

    The first SIGINT cancels the command's task: requests in flight are
    cancelled and connections closed by the normal ``async with`` exits, and
    the exit code is 130 (the caller prints the one line). A second Ctrl-C
    during that clean-up raises ``KeyboardInterrupt``, which the caller
    reports the same way.
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

        # Not on Windows or off the main thread: KeyboardInterrupt then.
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
        return EXIT_INTERRUPTED

    return asyncio.run(main())
