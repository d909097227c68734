"""The standalone emulator (``python -m wriftai_async.testing``) as a child process.

Used where the emulator must not share the test's process: to test the
runner itself, and to measure a client's memory with ``tracemalloc`` without
counting the server's copy of the uploaded bytes.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

_URL = re.compile(r"serving at (https?://\S+/v1)")
# Generous: a loaded CI machine may take seconds to import and start.
STOP_TIMEOUT = 30.0


@dataclass
class Served:
    process: subprocess.Popen[str]
    base_url: str
    token: str

    def stop(self) -> int:
        """Ctrl-C, then the exit status (bounded wait)."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=STOP_TIMEOUT)


@contextlib.contextmanager
def served(*args: str, command: tuple[str, ...] | None = None) -> Iterator[Served]:
    """Start the runner on a free port; yield once it printed its base URL."""
    argv = [*(command or (sys.executable, "-m", "wriftai_async.testing"))]
    process = subprocess.Popen(
        [*argv, "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = _banner(process)
        found = _URL.search(lines[0])
        assert found, f"unexpected output {lines!r}; stderr: {_stderr(process)}"
        token = lines[2].strip().rpartition("=")[2]
        yield Served(process, found.group(1), token)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=STOP_TIMEOUT)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _banner(process: subprocess.Popen[str]) -> list[str]:
    """The banner's first three lines, printed once it listens (bounded wait).

    A runner that hangs before printing them is killed, which ends the read
    with EOF: the test then fails on the output instead of hanging.
    """
    stdout = process.stdout
    assert stdout is not None
    with concurrent.futures.ThreadPoolExecutor(1) as reader:
        lines = reader.submit(lambda: [stdout.readline() for _ in range(3)])
        try:
            return lines.result(timeout=STOP_TIMEOUT)
        except concurrent.futures.TimeoutError:
            process.kill()
            return lines.result(timeout=STOP_TIMEOUT)


def _stderr(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        return "(still running)"
    return process.stderr.read() if process.stderr else ""
