"""Pytest plugin: the ``wriftai_emulator`` fixture.

Enable it with ``pytest_plugins = ["wriftai_async.testing.pytest_plugin"]``
(deliberately no ``pytest11`` entry point: installing the package must not
change anyone's test session). The emulator runs in its own thread, so the
fixture works in sync and async tests alike without an async fixture plugin.

Options are keyword arguments for ``Emulator(...)``. Give them for a module
or a directory by overriding the ``wriftai_emulator_options`` fixture, and
for one test with a marker (marker values win)::

    @pytest.fixture
    def wriftai_emulator_options():
        return {"cancel_delay": 0.01}

    @pytest.mark.wriftai_emulator(style="old")
    def test_something(wriftai_emulator): ...
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import pytest

from ._server import Emulator

_MARKER = "wriftai_emulator"


class _Config(Protocol):
    """What the hook uses of ``pytest.Config`` (which type checkers see as
    partly unknown: the module's public names stay fully typed)."""

    def addinivalue_line(self, name: str, line: str) -> None:
        """Add a line to an ini-file option (here: a marker)."""


def pytest_configure(config: _Config) -> None:
    """Register the ``wriftai_emulator`` marker."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(**kwargs): keyword arguments for the wriftai_emulator fixture's "
        "Emulator(...)",
    )


# The fixtures are found by their ``name``; private functions keep
# pytest's partly typed fixture objects out of the module's public names.
@pytest.fixture(name="wriftai_emulator_options")
def _emulator_options() -> dict[str, Any]:
    """Keyword arguments for the fixture's ``Emulator``; override to change."""
    return {}


@pytest.fixture(name="wriftai_emulator")
def _emulator(
    request: pytest.FixtureRequest, wriftai_emulator_options: dict[str, Any]
) -> Iterator[Emulator]:
    """A started ``Emulator`` (threaded, seeded by default); closed afterwards."""
    marker = request.node.get_closest_marker(_MARKER)
    options = dict(wriftai_emulator_options)
    if marker is not None:
        options.update(marker.kwargs)
    with Emulator(**options).run_in_thread() as emulator:
        yield emulator


def __getattr__(name: str) -> object:
    """The fixtures by their names too, for a conftest that imports them."""
    fixtures = {
        "wriftai_emulator": _emulator,
        "wriftai_emulator_options": _emulator_options,
    }
    if name in fixtures:
        return fixtures[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
