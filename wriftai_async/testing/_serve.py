"""The emulator as a standalone server, until Ctrl-C.

``python -m wriftai_async.testing`` and ``wriftai-async emulator`` both run
:func:`main`. It prints the base URL and the token to use (as the two
environment variables every WriftAI client reads), so any client can be
pointed at it: ours, the official ``wriftai``, one in another language, curl.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import ipaddress
import math
import signal
import ssl
import sys
from collections.abc import Sequence
from typing import NoReturn

from .._checks import has_control_character
from .._repr import one_line
from ._server import Emulator

__all__ = ["main"]

_PROG = "python -m wriftai_async.testing"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError("a port is 0..65535 (0: any free port)")
    return port


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value < math.inf:  # nan and inf too: Emulator() refuses them
        raise argparse.ArgumentTypeError(
            f"seconds must be a finite number >= 0, not {text!r}"
        )
    return value


def _host(text: str) -> str:
    # "" binds every interface (as 0.0.0.0 would), which nobody means by
    # leaving it empty (an unset variable in `--host "$HOST"`).
    if not text.strip() or has_control_character(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a host: name the address to listen on "
            "(default: 127.0.0.1; 0.0.0.0 for every interface)"
        )
    return text


def _username(text: str) -> str:
    # A blank or "/"-holding name is a user no path can address: every
    # call about "my" models would miss.
    if not text.strip() or has_control_character(text) or "/" in text:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a username: it is blank or holds '/' or a "
            "control character"
        )
    return text


class _Parser(argparse.ArgumentParser):
    """argparse, its usage errors one line (as the command line's others)."""

    def error(self, message: str) -> NoReturn:
        # No usage block: the line says what is wrong and where to look. What
        # the user typed is quoted in it, each unprintable character escaped.
        line = one_line(message.removeprefix("argument "), 1000)
        self.exit(2, f"{self.prog}: error: {line} (see `{self.prog} --help`)\n")


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog,
        description="Serve the in-memory WriftAI API emulator until Ctrl-C.",
        # "--user bob" must not quietly mean --username, nor --dial
        # --dialect: a typo of an option is an error.
        allow_abbrev=False,
    )
    parser.add_argument(
        "--host", type=_host, default="127.0.0.1", help="default: 127.0.0.1"
    )
    parser.add_argument(
        "--port", type=_port, default=8000, help="default: 8000; 0 picks a free port"
    )
    parser.add_argument(
        "--dialect",
        choices=("new", "old"),
        default="new",
        help="new: what the official wriftai 0.34 client speaks (default); "
        "old: the older servers' shapes",
    )
    parser.add_argument(
        "--seed",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="start with the demo data set (users alice, bob, carol; their "
        "models, predictions and a variable); --no-seed starts empty",
    )
    parser.add_argument(
        "--token",
        type=_token,
        default="test-token",
        help="the access token (default: test-token)",
    )
    parser.add_argument(
        "--username",
        type=_username,
        default="alice",
        help="whom the token belongs to (alice)",
    )
    parser.add_argument(
        "--prediction-duration",
        type=_seconds,
        default=2.0,
        help="seconds a new prediction runs (default: 2)",
    )
    parser.add_argument(
        "--cancel-delay",
        type=_seconds,
        default=0.5,
        help="seconds until a cancel takes effect (default: 0.5)",
    )
    parser.add_argument(
        "--budget",
        type=_budget,
        default=None,
        metavar="N",
        help="allow N requests per second per token, then answer 429 with "
        "x-ratelimit-reset (default: no limit); try a fleet of clients on it",
    )
    tls = parser.add_argument_group(
        "TLS", "serve https:// (both or neither; the key must not be encrypted)"
    )
    tls.add_argument(
        "--certfile",
        metavar="PEM",
        help="the server's certificate (for the --host it serves), then any "
        "intermediate ones",
    )
    tls.add_argument("--keyfile", metavar="PEM", help="the certificate's private key")
    return parser


class _CertificateError(Exception):
    """--certfile/--keyfile cannot be served with; the message says why."""


class _EncryptedKey(Exception):
    pass


def _no_password() -> bytes:
    # Without a callback, OpenSSL would prompt on the terminal for the
    # passphrase of an encrypted key (and hang a runner without one).
    raise _EncryptedKey


# Enough of a PEM file to find its first marker; a bigger file (or
# /dev/zero) is not read to its end before being refused.
_PEM_PEEK = 1 << 20


def _check_pem(option: str, path: str, marker: bytes, holds: str) -> None:
    try:
        with open(path, "rb") as file:
            head = file.read(_PEM_PEEK)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise _CertificateError(f"{option} {path}: {reason}") from None
    if marker not in head:
        raise _CertificateError(f"{option} {path}: not a PEM file holding {holds}")


def _tls_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    """A server context presenting ``certfile`` (modern defaults: TLS 1.2+)."""
    _check_pem("--certfile", certfile, b"-----BEGIN CERTIFICATE-----", "a certificate")
    _check_pem("--keyfile", keyfile, b"PRIVATE KEY-----", "a private key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile, password=_no_password)
    except _EncryptedKey:
        raise _CertificateError(
            f"--keyfile {keyfile}: the key is encrypted; give it unencrypted "
            "(openssl pkey -in KEY -out PLAIN)"
        ) from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            reason = "the key is not the certificate's"
        else:
            reason = f"not a usable certificate and key ({exc.reason or exc})"
        raise _CertificateError(
            f"--certfile {certfile} with --keyfile {keyfile}: {reason}"
        ) from None
    except OSError as exc:  # the file changed since it was read above
        reason = exc.strerror or type(exc).__name__
        raise _CertificateError(
            f"--certfile {certfile} with --keyfile {keyfile}: {reason}"
        ) from None
    return context


def _token(text: str) -> str:
    # A client given "" sends no token at all: every request would be a 401.
    if not text.strip() or has_control_character(text):
        raise argparse.ArgumentTypeError(
            "the token is empty or holds a control character: no client could send it"
        )
    return text


def _budget(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a whole number of requests: {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError("the budget is at least 1 request per second")
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _serve(emulator: Emulator, dialect: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Not on Windows: Ctrl-C then arrives as KeyboardInterrupt instead.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
    await emulator.start()
    budget = ""
    if emulator.budget is not None:
        budget = (
            f"Budget: {emulator.budget.per_second} requests per second per token "
            "(429 past it).\n"
        )
    try:
        _print_banner(
            f"WriftAI emulator ({dialect} dialect) serving at {emulator.base_url}\n"
            f"  export WRIFTAI_API_BASE_URL={emulator.base_url}\n"
            f"  export WRIFTAI_ACCESS_TOKEN={emulator.access_token}\n"
            f"{budget}"
            "Press Ctrl-C to stop."
        )
        await stop.wait()
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        await emulator.close()
    print("emulator stopped", file=sys.stderr, flush=True)


class _OutputError(Exception):
    """Standard output could not be written (a full disk, a closed pipe)."""


def _print_banner(text: str) -> None:
    # Told apart from the OSError of a taken port: "cannot serve on" would
    # send the user looking at the port when the disk is full.
    try:
        print(text, flush=True)
    except OSError as exc:
        raise _OutputError(exc) from exc


def main(argv: Sequence[str] | None = None, *, prog: str = _PROG) -> int:
    """Serve the emulator until SIGINT/SIGTERM; returns the exit status.

    Example (a shell)::

        $ python -m wriftai_async.testing --port 8000
        WriftAI emulator (new dialect) serving at http://127.0.0.1:8000/v1
          export WRIFTAI_API_BASE_URL=http://127.0.0.1:8000/v1
          export WRIFTAI_ACCESS_TOKEN=test-token
    """
    parser = _parser(prog)
    args = parser.parse_args(argv)
    ssl_context = None
    if (args.certfile is None) != (args.keyfile is None):
        parser.error(
            "--certfile and --keyfile go together: both to serve TLS, or neither"
        )
    if args.certfile is not None:
        try:
            ssl_context = _tls_context(args.certfile, args.keyfile)
        except _CertificateError as exc:
            parser.error(str(exc))
    if not _is_loopback(args.host):
        print(
            f"{prog}: warning: serving on {args.host}, not loopback: anyone who "
            "can reach it can use the emulator with its well-known token",
            file=sys.stderr,
        )
    try:
        emulator = _emulator(args, ssl_context)
    except (TypeError, ValueError) as exc:  # what the options' types let by
        parser.error(str(exc))
    try:
        asyncio.run(_serve(emulator, args.dialect))
    except _OutputError as exc:
        print(f"{prog}: error: cannot write to standard output: {exc}", file=sys.stderr)
        return 74  # EX_IOERR, as the command line's other commands
    except OSError as exc:  # the port is taken, the host is not ours, ...
        where = _address(args.host, args.port)
        if exc.errno == errno.EADDRINUSE:
            # A usage error: the command line named a port that is taken.
            print(
                f"{prog}: error: {where} is already in use (another server "
                "on it? --port 0 picks a free port)",
                file=sys.stderr,
            )
            return 2
        text = one_line(str(exc), 1000)
        print(f"{prog}: error: cannot serve on {where}: {text}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass  # Ctrl-C where no signal handler could be installed: a clean stop
    return 0


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _emulator(args: argparse.Namespace, ssl_context: ssl.SSLContext | None) -> Emulator:
    return Emulator(
        access_token=args.token,
        username=args.username,
        style=args.dialect,
        seed=args.seed,
        cancel_delay=args.cancel_delay,
        prediction_duration=args.prediction_duration,
        port=args.port,
        host=args.host,
        # A long-running server must not keep every request it ever got.
        record_requests=False,
        budget=args.budget,
        ssl_context=ssl_context,
    )
