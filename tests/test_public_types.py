"""The public API type-checks as README.md uses it, with mypy and basedpyright.

``tests/typing/`` holds user programs (checked, never run): every resource's
calls on ``AsyncClient`` and ``Client``, ``assert_type`` on what the
documentation promises (each ``create`` overload, what a listing yields,
``BulkResult.unwrap()``, errors' attributes), and uses that must be refused,
each marked ``# type: ignore[code]``: both checkers fail on an ignore that no
longer ignores an error (mypy's ``--warn-unused-ignores``, pyright's
``reportUnnecessaryTypeIgnoreComment``), so a refusal that goes is noticed.

Each checker takes about 1.5 s here (mypy with a cold cache in ``tmp_path``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "tests" / "typing"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,  # pyproject.toml's [tool.mypy]: strict, Python 3.10
        timeout=120,
        check=False,
    )


def test_user_programs_pass_mypy_strict(tmp_path: Path) -> None:
    done = _run(
        "mypy",
        "--strict",
        "--warn-unused-ignores",
        "--no-incremental",
        "--cache-dir",
        str(tmp_path / "mypy_cache"),
        str(PROGRAMS),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues found in 3 source files" in done.stdout, done.stdout


def test_user_programs_pass_basedpyright() -> None:
    done = _run(
        "basedpyright",
        "--pythonpath",
        sys.executable,
        "-p",
        str(PROGRAMS / "pyrightconfig.json"),
        str(PROGRAMS),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 errors, 0 warnings" in done.stdout, done.stdout
