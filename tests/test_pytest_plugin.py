"""The emulator's pytest plugin, used the way a user's own test suite would."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CONFTEST = 'pytest_plugins = ["wriftai_async.testing.pytest_plugin"]\n'

USER_TESTS = textwrap.dedent(
    """
    import pytest

    from wriftai_async import Client, NotFoundError


    def test_sync_client_against_the_fixture(wriftai_emulator):
        with Client(wriftai_emulator.access_token, wriftai_emulator.base_url) as c:
            assert c.models.get("alice/text-echo").name == "text-echo"
            with pytest.raises(NotFoundError):
                c.models.get("alice/missing")
        assert [r.path for r in wriftai_emulator.requests] == [
            "/models/alice/text-echo",
            "/models/alice/missing",
        ]


    @pytest.mark.wriftai_emulator(style="new", seed=False)
    def test_marker_configures_the_emulator(wriftai_emulator):
        assert wriftai_emulator.style == "new"
        with Client(wriftai_emulator.access_token, wriftai_emulator.base_url) as c:
            assert list(c.models.list_all()) == []
    """
)

# The options fixture overridden by name, for a module.
OVERRIDING_TESTS = textwrap.dedent(
    """
    import pytest


    @pytest.fixture
    def wriftai_emulator_options():
        return {"style": "old"}


    def test_overridden_options_configure_the_emulator(wriftai_emulator):
        assert wriftai_emulator.style == "old"
    """
)


def test_a_users_suite_gets_the_fixture(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    (tmp_path / "test_override.py").write_text(OVERRIDING_TESTS)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "--strict-markers",
            str(tmp_path),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
