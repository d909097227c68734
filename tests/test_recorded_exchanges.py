"""The service's own recordings, replayed against our two clients.

The official ``wriftai`` 0.34.0 sdist's integration tests (270 cases, fetched
from PyPI once: see ``official_recordings``) are run as written, each against
our ``AsyncClient`` (the official async methods) or our ``Client`` (the sync
ones) over a real loopback server that serves the recording: every request
our client sends must pass the recorded assertions, and every result must
carry the recorded values (``recorded_replay``). The spelling differences are
in ``recorded_replay.SPELLINGS``; the deliberate differences in
``recorded_replay.DELIBERATE``, each checked for what ours does instead.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from . import recorded_replay as replay
from .official_recordings import (
    Case,
    RecordingsUnavailable,
    integration_dir,
    load_cases,
)

try:
    _FOUND = integration_dir()
    _DIRECTORY: Path | None = _FOUND
    CASES: list[Case] = load_cases(_FOUND)
    _UNAVAILABLE: str | None = None
except RecordingsUnavailable as exc:  # fails the test below, never skips
    _DIRECTORY, CASES, _UNAVAILABLE = None, [], str(exc)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def harness() -> AsyncIterator[replay.Harness]:
    assert _DIRECTORY is not None
    async with replay.running_harness(_DIRECTORY) as harness:
        yield harness


def test_the_recordings_were_fetched() -> None:
    assert _UNAVAILABLE is None, _UNAVAILABLE
    assert len(CASES) == 270
    assert len({case.function for case in CASES}) == 58


@pytest.mark.asyncio(loop_scope="module")
# Without the recordings, one case that fails with the reason (never a skip).
@pytest.mark.parametrize(
    "case", CASES or [None], ids=[c.id for c in CASES] or ["recordings-unavailable"]
)
async def test_our_client_passes_the_recorded_case(
    case: Case, harness: replay.Harness, tmp_path: Path
) -> None:
    assert case is not None, _UNAVAILABLE
    outcome = await replay.run_case(case, harness, tmp_path)
    deliberate = replay.deliberate_for(case)
    if deliberate is not None:
        name, entry = deliberate
        if entry.passes:
            entry.check(outcome)
            return
        assert outcome.error is not None or outcome.failures, (
            f"{case.id} passes as recorded: remove {name!r} from DELIBERATE"
        )
        entry.check(outcome)
        return
    if outcome.failures:
        raise outcome.failures[0]
    if outcome.error is not None:
        raise outcome.error


def test_every_table_entry_is_used() -> None:
    # A deliberate difference names cases that exist; a spelling entry is
    # applied somewhere in the replay code.
    for name, entry in replay.DELIBERATE.items():
        matched = [c for c in CASES if replay.deliberate_for(c) == (name, entry)]
        assert matched, f"DELIBERATE[{name!r}] matches no case"
    source = inspect.getsource(replay)
    called = {
        node.args[0].value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "spelling"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    assert set(replay.SPELLINGS) == called
