"""The README's Python examples and the demo command run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def _run(args, env_extra=None, timeout=60):
    env = {**os.environ, **(env_extra or {})}
    env.pop("PYTHONWARNINGS", None)
    return subprocess.run(
        [sys.executable, "-W", "error", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def test_the_readme_has_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs_against_the_emulator(index, emulator):
    result = _run(
        ["-c", BLOCKS[index]],
        {
            "WRIFTAI_ACCESS_TOKEN": emulator.access_token,
            "WRIFTAI_API_BASE_URL": emulator.base_url,
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip(), "an example should show what it did"
    assert "Traceback" not in result.stderr


def test_demo_command_lists_updates_and_cancels():
    result = _run(
        ["-m", "wriftai_async", "demo", "--users", "20", "--models-per-user", "7"]
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"listed 140 models of 20 users", out), out
    assert "updated alice/" in out
    assert "status right after: started" in out
    assert "polled until terminal: status cancelled" in out


def test_demo_against_a_service_needs_a_token():
    env = {k: v for k, v in os.environ.items() if k != "WRIFTAI_ACCESS_TOKEN"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "wriftai_async",
            "demo",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--owners",
            "alice",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 2 and "WRIFTAI_ACCESS_TOKEN" in result.stderr
