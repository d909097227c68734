"""``--from-file``: one Ctrl-C ends a blocked read; what a file may hold.

The file (or stdin) is opened and read on a daemon thread while the main
thread waits in short slices, so one Ctrl-C ends the command at once even
while ``open()`` or ``read()`` blocks (a FIFO nobody opens or writes to, a
terminal): exit 130, one line, no traceback. What is read is capped at
16 MiB. Ctrl-C needs a real process (subprocesses); the rest runs
``main()`` in process.
"""

from __future__ import annotations

import errno
import glob
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wriftai_async._cli import main
from wriftai_async._cli._common import FROM_FILE_CAP

#: The most seconds a process pressed once may take to end: far more than
#: it needs (the main thread looks every 50 ms), so a loaded machine passes,
#: and a missed Ctrl-C fails instead of hanging the suite.
_EXIT_WITHIN = 20.0


_COMMAND = (sys.executable, "-W", "error", "-m", "wriftai_async")


def _env(emu):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WRIFTAI_")}
    env.pop("PYTHONWARNINGS", None)
    env["WRIFTAI_ACCESS_TOKEN"] = emu.access_token
    env["WRIFTAI_API_BASE_URL"] = emu.base_url
    return env


def _start(emu, source, **popen):
    return subprocess.Popen(
        [*_COMMAND, "models", "list", "--from-file", source],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(emu),
        **popen,
    )


def _wait_until_blocked(process, words):
    """Until a thread of ``process`` sleeps in a kernel function whose name
    holds one of ``words`` (Linux's /proc/PID/task/*/wchan): the command is
    past its imports and waiting for the file, where a person would press
    Ctrl-C. A kernel that hides the names skips the test."""
    seen = set()
    for _ in range(3000):  # 30 s at most, far more than a start-up takes
        assert process.poll() is None, process.communicate()
        for path in glob.glob(f"/proc/{process.pid}/task/*/wchan"):
            try:
                seen.add(Path(path).read_text())
            except OSError:
                continue
        if any(word in name for name in seen for word in words):
            return
        seen.clear()
        time.sleep(0.01)
    if not seen or seen <= {"0", ""}:
        pytest.skip("this kernel does not show where a thread sleeps (wchan)")
    raise AssertionError(f"never blocked in {words}: {seen}")


def _press_ctrl_c_once(process):
    """One SIGINT, then a bounded wait for the exit; (code, stdout, stderr)."""
    process.send_signal(signal.SIGINT)
    try:
        # Not communicate(): it would close a piped stdin, ending the read
        # with end of file instead of by Ctrl-C. The output is one line.
        process.wait(timeout=_EXIT_WITHIN)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"one Ctrl-C did not end it: {err!r}") from None
    out, err = process.communicate()
    return process.returncode, out, err


def _assert_interrupted(code, out, err, emulator):
    assert "Traceback" not in err, err
    assert code == 130, err
    assert out == "" and err == "wriftai-async: interrupted\n"
    assert emulator.requests == []


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "owners"
    os.mkfifo(path)
    return path


def test_one_ctrl_c_ends_the_open_of_a_fifo_nobody_writes_to(emulator, fifo):
    # Nobody opens the other end: open() itself blocks.
    process = _start(emulator, str(fifo))
    try:
        _wait_until_blocked(process, ("wait_for_partner", "fifo"))
        _assert_interrupted(*_press_ctrl_c_once(process), emulator)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_one_ctrl_c_ends_the_read_of_a_fifo_just_opened(emulator, fifo):
    # The writer opens its end, then Ctrl-C at once: it lands about when the
    # command's open() returns and its read() is about to block. Read on the
    # main thread, a Ctrl-C in that window was seen only once read()
    # returned (4 runs in 60 needed a second Ctrl-C, commit 8a27704).
    process = _start(emulator, str(fifo))
    writer = None
    try:
        for _ in range(3000):  # until the command has opened it for reading
            try:
                writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as exc:
                assert exc.errno == errno.ENXIO
                assert process.poll() is None, process.communicate()
                time.sleep(0.01)
        assert writer is not None
        _assert_interrupted(*_press_ctrl_c_once(process), emulator)
    finally:
        if writer is not None:
            os.close(writer)
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_one_ctrl_c_ends_a_read_of_stdin_nobody_writes_to(emulator):
    process = _start(emulator, "-", stdin=subprocess.PIPE)
    try:
        _wait_until_blocked(process, ("pipe", "fifo"))
        _assert_interrupted(*_press_ctrl_c_once(process), emulator)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


# -- what the file holds: in process ---------------------------------------------


@pytest.fixture
def run(emulator, monkeypatch, capsys):
    """``run(*args)`` -> (exit code, stdout, stderr), ``main()`` in process."""

    def invoke(*args):
        for name in list(os.environ):
            if name.startswith("WRIFTAI_"):
                monkeypatch.delenv(name)
        monkeypatch.setenv("WRIFTAI_ACCESS_TOKEN", emulator.access_token)
        monkeypatch.setenv("WRIFTAI_API_BASE_URL", emulator.base_url)
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    return invoke


def _usage_error(result, emulator):
    code, out, err = result
    assert code == 2 and out == "", err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert emulator.requests == []
    return lines[0]


def _sized(path, size):
    """A file of ``size`` bytes: comment lines only, so no owners in it."""
    line = b"#" * 1023 + b"\n"
    with open(path, "wb") as file:
        file.write(line * (size // len(line)))
        file.write(b"#" * (size % len(line)))
    return path


def test_a_file_over_the_cap_is_refused_naming_it_and_the_cap(run, emulator, tmp_path):
    assert FROM_FILE_CAP == 16 * 1024 * 1024
    big = _sized(tmp_path / "owners.txt", FROM_FILE_CAP + 1)
    line = _usage_error(run("models", "list", "--from-file", big), emulator)
    assert line == (
        f"wriftai-async: error: cannot read {big}: more than 16 MiB, the most "
        "--from-file reads (split the list)"
    )


def test_a_file_of_exactly_the_cap_is_read(run, emulator, tmp_path):
    full = _sized(tmp_path / "owners.txt", FROM_FILE_CAP)
    line = _usage_error(run("models", "list", "--from-file", full), emulator)
    # Read whole: only comments in it, so no owners.
    assert line == (
        "wriftai-async: error: no owners given (as arguments or with --from-file)"
    )


def test_an_endless_file_stops_at_the_cap(run, emulator):
    line = _usage_error(
        run("predictions", "wait", "--from-file", "/dev/zero"), emulator
    )
    assert line.startswith("wriftai-async: error: cannot read /dev/zero: more than")


def test_stdin_over_the_cap_is_refused(run, emulator, tmp_path, monkeypatch):
    big = _sized(tmp_path / "owners.txt", FROM_FILE_CAP + 1)
    with open(big) as stdin:  # a real descriptor, read through it
        monkeypatch.setattr(sys, "stdin", stdin)
        line = _usage_error(run("models", "list", "--from-file", "-"), emulator)
    assert line == (
        "wriftai-async: error: cannot read stdin: more than 16 MiB, the most "
        "--from-file reads (split the list)"
    )


def test_stdin_is_read_line_by_line(run, emulator, tmp_path, monkeypatch):
    owners = tmp_path / "owners.txt"
    owners.write_bytes(b"alice\n# a comment\n\nbob  # b\nalice\n")
    with open(owners) as stdin:
        monkeypatch.setattr(sys, "stdin", stdin)
        code, _, err = run("models", "list", "--from-file", "-", "-q")
    assert code == 0, err
    assert [r.path for r in emulator.requests] == ["/models/alice", "/models/bob"]


def test_a_directory_is_refused_in_one_line(run, emulator, tmp_path):
    line = _usage_error(run("models", "list", "--from-file", tmp_path), emulator)
    assert line == f"wriftai-async: error: cannot read {tmp_path}: Is a directory"


def test_a_missing_file_is_refused_in_one_line(run, emulator, tmp_path):
    missing = tmp_path / "nope.txt"
    line = _usage_error(run("models", "list", "--from-file", missing), emulator)
    assert line == (
        f"wriftai-async: error: cannot read {missing}: No such file or directory"
    )


def test_text_that_is_not_utf_8_is_refused_in_one_line(run, emulator, tmp_path):
    latin = tmp_path / "owners.txt"
    latin.write_bytes("alice\nj\u00fcrgen\n".encode("latin-1"))
    line = _usage_error(run("models", "list", "--from-file", latin), emulator)
    assert line == f"wriftai-async: error: cannot read {latin}: not UTF-8 text"


def test_stdin_that_is_not_utf_8_is_refused_in_one_line(
    run, emulator, tmp_path, monkeypatch
):
    latin = tmp_path / "owners.txt"
    latin.write_bytes(b"j\xfcrgen\n")
    # Read through its descriptor, not as the text stream decodes it.
    with open(latin, encoding="latin-1") as stdin:
        monkeypatch.setattr(sys, "stdin", stdin)
        line = _usage_error(run("models", "list", "--from-file", "-"), emulator)
    assert line == "wriftai-async: error: cannot read stdin: not UTF-8 text"
