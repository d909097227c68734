"""A throwaway ``redis-server`` for tests, benchmarks and trying a fleet.

::

    from wriftai_async.testing import RedisServer

    with RedisServer() as redis:
        client = AsyncClient(rate_limit_store=redis.url, rate_limit=100)

It runs the ``redis-server`` found on ``PATH`` (Debian: ``apt-get install
redis-server``) on a free loopback port, with nothing written to disk
(``--save ''``, ``--appendonly no``, a temporary directory), and stops it on
leaving the block. :meth:`RedisServer.kill` and :meth:`RedisServer.start`
(again, on the same port) let a test take the store away mid-run and bring
it back. Only the standard library is used.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from types import TracebackType

__all__ = ["RedisServer"]

_START_TIMEOUT = 15.0  # a loaded machine may take a while to start a process


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(host: str, port: int) -> bool:
    """Whether a Redis answers there (``+PONG``, or ``-NOAUTH`` if it wants a
    password)."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


class RedisServer:
    """A ``redis-server`` process on ``127.0.0.1`` for as long as it is needed.

    ``args`` are more options for the server (``["--requirepass", "pw"]``).

    ``url`` (``redis://127.0.0.1:<port>/0``) is known once started. Raises
    ``FileNotFoundError`` saying how to install it when there is no
    ``redis-server`` on ``PATH``.
    """

    def __init__(
        self, *, executable: str = "redis-server", args: Sequence[str] = ()
    ) -> None:
        self.executable = executable
        self.args: tuple[str, ...] = tuple(args)
        self.host = "127.0.0.1"
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: str | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the redis server was never started")
        return f"redis://{self.host}:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> RedisServer:
        """Start (or restart, on the same port); return once it answers PING."""
        if self.running:
            raise RuntimeError("the redis server is already running")
        found = shutil.which(self.executable)
        if found is None:
            raise FileNotFoundError(
                f"{self.executable} not found on PATH; install it (Debian: "
                "apt-get install redis-server)"
            )
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="wriftai-redis-")
        restart = self.port is not None
        for _ in range(5):  # a free port can be taken before the server binds it
            port = self.port if restart else _free_port(self.host)
            assert port is not None
            process = subprocess.Popen(
                [
                    *(found, "--port", str(port), "--bind", self.host),
                    *("--save", "", "--appendonly", "no", "--dir", self._dir),
                    *("--daemonize", "no", "--loglevel", "warning"),
                    *self.args,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                up = self._wait_until_up(process, port)
            except BaseException:  # a timeout, Ctrl-C: leave no server behind
                with contextlib.suppress(OSError):
                    process.kill()
                process.wait()
                raise
            if up:
                self._process, self.port = process, port
                return self
            # It exited: the port was taken (a restart's may be free soon).
            time.sleep(0.2 if restart else 0)
        raise RuntimeError(f"{self.executable} could not bind a port on {self.host}")

    def _wait_until_up(self, process: subprocess.Popen[bytes], port: int) -> bool:
        """True once it answers, False if it exited; raises if it hangs."""
        deadline = time.monotonic() + _START_TIMEOUT
        while process.poll() is None:
            if _answers(self.host, port):
                return True
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.executable} does not answer on {port}")
            time.sleep(0.02)
        return False

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(OSError):
                process.kill()
            process.wait()

    def stop(self) -> None:
        """Stop the server and remove its directory. Safe to call twice."""
        self.kill()
        directory, self._dir = self._dir, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
