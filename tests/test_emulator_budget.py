"""The emulator's budget mode: N requests per second per token, then 429s."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request

import aiohttp
import pytest

from tests._emulator_process import STOP_TIMEOUT, served
from wriftai_async import AsyncClient, RateLimitError
from wriftai_async.testing import Budget, Emulator


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_budget_counts_per_token_per_unix_second() -> None:
    clock = FakeClock(1000.25)
    budget = Budget(2, clock=clock)
    assert [budget.take("a"), budget.take("a"), budget.take("a")] == [None, None, 1001]
    assert budget.take("b") is None  # each token has its own budget
    clock.now = 1000.99
    assert budget.take("a") == 1001  # a refusal does not count, nor reset
    clock.now = 1001.0  # the next window
    assert budget.take("a") is None
    assert (budget.accepted, budget.refused, budget.busiest) == (4, 2, 2)
    budget.reset_counts()
    assert (budget.accepted, budget.refused, budget.busiest) == (0, 0, 0)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_budget_must_be_a_whole_number_of_requests(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        Emulator(budget=bad)  # type: ignore[arg-type]


async def test_past_the_budget_a_429_with_the_window_reset() -> None:
    budget = Budget(3, clock=FakeClock(1000.5))  # every request in one window
    async with Emulator(budget=budget, seed=False) as emu, aiohttp.ClientSession() as h:
        headers = {"Authorization": f"Bearer {emu.access_token}"}
        answers = []
        for _ in range(5):
            async with h.get(f"{emu.base_url}/user", headers=headers) as r:
                answers.append((r.status, r.headers.get("x-ratelimit-reset")))
                body = await r.json()
    assert emu.budget is budget
    assert answers == [(200, None)] * 3 + [(429, "1001")] * 2
    assert "3 requests per second" in body["detail"]
    assert (budget.accepted, budget.refused) == (3, 2)
    assert len(emu.requests) == 5  # refused requests are recorded too


async def test_without_retries_the_429_is_a_rate_limit_error() -> None:
    async with Emulator(budget=Budget(1, clock=FakeClock(7.0))) as emu:
        client = AsyncClient(emu.access_token, emu.base_url, max_retries=0)
        async with client:
            await client.user.get()
            with pytest.raises(RateLimitError):
                await client.user.get()


def test_the_command_line_serves_a_budget() -> None:
    command = (sys.executable, "-m", "wriftai_async", "emulator")
    with served("--budget", "2", command=command) as server:
        assert server.process.stdout is not None
        assert "Budget: 2 requests per second per token" in (
            server.process.stdout.readline()
        )
        request = urllib.request.Request(
            server.base_url + "/user",
            headers={"Authorization": f"Bearer {server.token}"},
        )
        statuses: list[int] = []
        while 429 not in statuses and len(statuses) < 50:  # 2 a second: soon
            try:
                with urllib.request.urlopen(request, timeout=STOP_TIMEOUT) as answer:
                    statuses.append(answer.status)
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)
                assert exc.headers["x-ratelimit-reset"].isdigit()
                exc.close()
        assert 429 in statuses
        assert server.stop() == 0


@pytest.mark.parametrize("value", ["0", "-3", "2.5", "many"])
def test_the_command_line_refuses_a_bad_budget(value: str) -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "wriftai_async", "emulator", "--budget", value],
        capture_output=True,
        text=True,
        timeout=STOP_TIMEOUT,
    )
    assert bad.returncode == 2
    assert "--budget" in bad.stderr and "Traceback" not in bad.stderr
