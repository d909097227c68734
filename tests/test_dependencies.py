"""The run-time dependencies pyproject.toml declares are the ones the package imports.

Chosen, not collected: a dependency nothing imports (anyio once) is a cost
every user pays for nothing, and an import nothing declares (async_timeout
once, arriving through aiohttp on 3.10) breaks the day the dependency that
brought it drops it.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "wriftai_async"
# yarl's URL and multidict's mappings are types of aiohttp's own API (a
# response's url and headers): aiohttp guarantees them.
AIOHTTP_API = {"yarl", "multidict"}


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _third_party_imports(files: list[Path]) -> set[str]:
    found = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top != "wriftai_async":
                    found.add(_name(top))
    return found


def test_the_package_imports_exactly_what_it_declares() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(Requirement(r).name) for r in project["dependencies"]}
    optional = {
        _name(Requirement(r).name)
        for extra in ("redis", "otel")
        for r in project["optional-dependencies"][extra]
    }
    # The emulator and its pytest plugin are for tests (pytest, multidict).
    runtime = [p for p in PACKAGE.rglob("*.py") if "testing" not in p.parts]
    imported = _third_party_imports(runtime) - AIOHTTP_API
    assert imported - optional == declared


# Pinned above the declared floor, with the reason (.ci/lowest-constraints.txt).
PINNED_ABOVE_FLOOR = {
    "async-timeout": "redis 5.0.1 (the [redis] extra) needs 4.0.2 below 3.11.3",
    "opentelemetry-sdk": "1.45.0 does not install beside the instrumentation's floor",
}


def test_the_lowest_versions_run_pins_every_declared_floor() -> None:
    # .ci/run's lowest-versions run proves the floors only while it installs
    # them: a floor raised in pyproject.toml and not there would go untested.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [Requirement(r) for r in project["dependencies"]]
    for extra in ("redis", "otel"):
        declared += [Requirement(r) for r in project["optional-dependencies"][extra]]
    lines = (ROOT / ".ci" / "lowest-constraints.txt").read_text().splitlines()
    pins = {}
    for line in lines:
        if line.strip() and not line.startswith("#"):
            pin = Requirement(line)
            (spec,) = pin.specifier
            assert spec.operator == "==", line
            pins[_name(pin.name)] = spec.version
    for requirement in declared:
        name = _name(requirement.name)
        (spec,) = requirement.specifier
        assert spec.operator == ">=", requirement
        assert name in pins, f"{name} has no pin in .ci/lowest-constraints.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), name
        if name not in PINNED_ABOVE_FLOOR:
            assert Version(pins[name]) == Version(spec.version), name
