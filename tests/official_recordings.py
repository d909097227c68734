"""The service's own recordings: the official ``wriftai`` 0.34.0 sdist's tests.

The source distribution of the official client on PyPI ships
``tests/integration/*.py``: for each operation, the route the client must
call, the status and JSON the service answers, and assertions on the request
the client sends. They are read here as data (never copied into the project):

- :func:`integration_dir` downloads the sdist once with ``pip download
  --no-binary :all: --no-deps wriftai==0.34.0`` into a cache directory keyed by
  its version, checks its SHA-256 (the contract is this exact file), and
  unpacks ``tests/integration``. ``WRIFTAI_SDIST_CACHE`` overrides where.
- :func:`load_cases` imports each test module under a private name and lists
  every case: a test function with one combination of its parametrizations
  (58 functions, 270 cases), named the way pytest names them.

Their modules import ``tests.integration.conftest``, a name that collides
with this suite's own ``tests`` package: the import is served from the
sdist's file for as long as the modules load, then the name is removed.
"""

from __future__ import annotations

import enum
import importlib.util
import itertools
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

VERSION = "0.34.0"
SDIST = f"wriftai-{VERSION}.tar.gz"
# sha256 of wriftai-0.34.0.tar.gz as published on PyPI.
SDIST_SHA256 = "662424603099b2a18c4f31a7dafdaca9eb58b5465907b0f19b407ce7df02efbc"
_PACKAGE = "wriftai_recorded"


class RecordingsUnavailable(RuntimeError):
    """The sdist could not be fetched or is not the expected file."""


def cache_root() -> Path:
    configured = os.environ.get("WRIFTAI_SDIST_CACHE")
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / "wriftai-async-test-cache"


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def integration_dir() -> Path:
    """``tests/integration`` of the official sdist, fetched and unpacked once."""
    root = cache_root() / f"wriftai-{VERSION}"
    target = root / "tests" / "integration"
    if (target / "conftest.py").is_file():
        return target
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root.parent) as scratch:
        download = Path(scratch) / "download"
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-binary",
            ":all:",
            "--no-deps",
            "--disable-pip-version-check",
            "-d",
            str(download),
            f"wriftai=={VERSION}",
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=300, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RecordingsUnavailable(f"{' '.join(command)}: {exc}") from exc
        archive = download / SDIST
        if done.returncode != 0 or not archive.is_file():
            raise RecordingsUnavailable(
                f"could not fetch the official sdist with {' '.join(command)} "
                f"(exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
        digest = _sha256(archive)
        if digest != SDIST_SHA256:
            raise RecordingsUnavailable(
                f"{SDIST} has sha256 {digest}, not the recorded {SDIST_SHA256}"
            )
        unpacked = Path(scratch) / "unpacked"
        prefix = f"wriftai-{VERSION}/tests/"
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
            for member in members:
                if not (member.isfile() or member.isdir()) or ".." in member.name:
                    raise RecordingsUnavailable(f"unexpected member {member.name!r}")
            if hasattr(tarfile, "data_filter"):  # 3.12+, and 3.10.12+/3.11.4+
                tar.extractall(unpacked, members=members, filter="data")
            else:  # older patch releases: the members were checked above
                tar.extractall(unpacked, members=members)
        staged = unpacked / f"wriftai-{VERSION}"
        try:
            staged.rename(root)
        except OSError:
            if not (target / "conftest.py").is_file():  # not another process's
                raise
    return target


# -- loading the test modules ----------------------------------------------------


def _load_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_modules(directory: Path) -> tuple[ModuleType, dict[str, ModuleType]]:
    """The sdist's conftest and its test modules, by file name."""
    if _PACKAGE not in sys.modules:
        package = ModuleType(_PACKAGE)
        package.__path__ = []
        sys.modules[_PACKAGE] = package
    conftest = sys.modules.get(f"{_PACKAGE}.conftest")
    if conftest is None:
        conftest = _load_module(f"{_PACKAGE}.conftest", directory / "conftest.py")
    borrowed = {
        "tests.integration": ModuleType("tests.integration"),
        "tests.integration.conftest": conftest,
    }
    saved = {name: sys.modules.get(name) for name in borrowed}
    sys.modules.update(borrowed)
    modules: dict[str, ModuleType] = {}
    try:
        for path in sorted(directory.glob("test_*.py")):
            name = f"{_PACKAGE}.{path.stem}"
            modules[path.name] = sys.modules.get(name) or _load_module(name, path)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return conftest, modules


def fixture_function(fixture: Any) -> Callable[..., Any]:
    """The plain function behind a ``@pytest.fixture`` (pytest 8 and 9)."""
    unwrap = getattr(fixture, "_get_wrapped_function", None)
    if unwrap is not None:
        return unwrap()  # type: ignore[no-any-return]
    wrapped = getattr(fixture, "__pytest_wrapped__", None)
    return wrapped.obj if wrapped is not None else fixture  # type: ignore[no-any-return]


# -- cases ---------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One official test function with one combination of its parameters."""

    file: str
    function: Callable[..., Any]
    params: dict[str, Any] = field(hash=False)
    param_id: str

    @property
    def name(self) -> str:
        return (
            f"{self.function.__name__}[{self.param_id}]"
            if self.param_id
            else (self.function.__name__)
        )

    @property
    def id(self) -> str:
        return f"{self.file}::{self.name}"

    @property
    def is_async(self) -> bool:
        """Whether it drives the official client's async methods."""
        for key in ("async_flag", "is_async"):
            if key in self.params:
                return bool(self.params[key])
        return _is_coroutine(self.function)


def _is_coroutine(function: Callable[..., Any]) -> bool:
    import inspect

    return inspect.iscoroutinefunction(function)


def _value_id(value: Any, argname: str, index: int) -> str:
    # pytest's own rule for the common kinds; anything else is argname+index.
    if isinstance(value, bytes):
        return value.decode("ascii", "backslashreplace")
    if isinstance(value, str):
        return value.encode("unicode_escape").decode("ascii")
    if value is None or isinstance(value, (bool, int, float)):
        return str(value)
    if isinstance(value, enum.Enum):
        return str(value)
    return f"{argname}{index}"


def _parametrizations(
    function: Callable[..., Any],
) -> Iterator[tuple[dict[str, Any], str]]:
    """Every combination of ``function``'s ``parametrize`` marks, with its id."""
    axes: list[list[tuple[dict[str, Any], str]]] = []
    for mark in getattr(function, "pytestmark", []):
        if mark.name != "parametrize":
            continue
        argnames, argvalues = mark.args[0], mark.args[1]
        names = (
            [n.strip() for n in argnames.split(",")]
            if isinstance(argnames, str)
            else list(argnames)
        )
        ids = mark.kwargs.get("ids")
        axis = []
        for index, raw in enumerate(argvalues):
            given_id = None
            if type(raw).__name__ == "ParameterSet":
                values, given_id = raw.values, raw.id
            else:
                values = (raw,) if len(names) == 1 else tuple(raw)
            if given_id is None and ids is not None:
                given_id = ids[index]
            if given_id is None:
                given_id = "-".join(
                    _value_id(v, n, index) for v, n in zip(values, names, strict=True)
                )
            axis.append((dict(zip(names, values, strict=True)), given_id))
        axes.append(axis)
    for combination in itertools.product(*axes):
        params: dict[str, Any] = {}
        for part, _ in combination:
            params.update(part)
        yield params, "-".join(part_id for _, part_id in combination)


def load_cases(directory: Path) -> list[Case]:
    """Every case of the sdist's integration tests, in file and source order."""
    _, modules = load_modules(directory)
    cases = []
    for file, module in modules.items():
        functions = [
            value
            for name, value in vars(module).items()
            if name.startswith("test_")
            and callable(value)
            and getattr(value, "__module__", None) == module.__name__
        ]
        functions.sort(key=lambda f: f.__code__.co_firstlineno)
        for function in functions:
            for params, param_id in _parametrizations(function):
                cases.append(Case(file, function, params, param_id))
    return cases
