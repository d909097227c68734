"""The generated sync facade matches the async code it is generated from.

Resources and methods are discovered by introspection of ``AsyncClient``, so a
method or resource added on the async side is covered here with no edit.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import operator
import shutil
import subprocess
import sys
import types
import typing
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from wriftai_async import AsyncClient, AsyncEventStream, Client, EventStream
from wriftai_async._session import AsyncSession

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "generate_sync.py"


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(cwd / "scripts" / "generate_sync.py"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_checked_in_output_is_current() -> None:
    done = _run("--check")
    assert done.returncode == 0, done.stdout + done.stderr


# -- parity, by introspection --------------------------------------------------


def _resources() -> list[tuple[str, type, type]]:
    """(attribute, async class, sync class) for every resource of AsyncClient."""
    async_hints = typing.get_type_hints(AsyncClient)
    sync_hints = typing.get_type_hints(Client)
    found = [(n, c, sync_hints.get(n)) for n, c in async_hints.items()]
    assert found, "AsyncClient declares no resources"
    return found  # type: ignore[return-value]


def _public_methods(cls: type) -> dict[str, Callable[..., Any]]:
    return {
        name: member
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def _sync_return(annotation: Any, is_async: bool) -> Any:
    if is_async:
        # ``T | AsyncIterator[X]`` becomes ``T | Iterator[X]``, and ``T |
        # AsyncEventStream`` (an overloaded ``create(stream=...)``) ``T |
        # EventStream``; any other annotation stays.
        if isinstance(annotation, types.UnionType):
            parts = [
                typing.cast(Any, Iterator)[typing.get_args(part)[0]]
                if typing.get_origin(part) is AsyncIterator
                else EventStream
                if part is AsyncEventStream
                else part
                for part in typing.get_args(annotation)
            ]
            return functools.reduce(operator.or_, parts)
        return annotation
    if annotation is AsyncEventStream:
        return EventStream
    assert typing.get_origin(annotation) is AsyncIterator, annotation
    (item,) = typing.get_args(annotation)
    return typing.cast(Any, Iterator)[item]


def _assert_same_signature(
    sync_fn: Callable[..., Any], async_fn: Callable[..., Any], *, transform: bool
) -> None:
    expected = inspect.signature(async_fn, eval_str=True)
    actual = inspect.signature(sync_fn, eval_str=True)
    assert list(actual.parameters.values()) == list(expected.parameters.values())
    if transform:
        is_async = inspect.iscoroutinefunction(async_fn)
        returns = _sync_return(expected.return_annotation, is_async)
    else:
        returns = expected.return_annotation
    assert actual.return_annotation == returns


def _method_cases() -> list[Any]:
    cases = []
    for attr, async_cls, _ in _resources():
        for name in _public_methods(async_cls):
            cases.append(pytest.param(attr, name, id=f"{attr}.{name}"))
    return cases


def test_every_resource_is_mirrored() -> None:
    for attr, async_cls, sync_cls in _resources():
        assert sync_cls is not None, f"Client.{attr} is missing"
        assert sync_cls.__name__ == async_cls.__name__.removeprefix("Async")
        assert sync_cls.__doc__ == async_cls.__doc__
        assert set(_public_methods(sync_cls)) == set(_public_methods(async_cls))


@pytest.mark.parametrize(("attr", "name"), _method_cases())
def test_method_parity(attr: str, name: str) -> None:
    async_cls = typing.get_type_hints(AsyncClient)[attr]
    sync_cls = typing.get_type_hints(Client)[attr]
    async_fn = getattr(async_cls, name)
    sync_fn = getattr(sync_cls, name)
    assert not inspect.iscoroutinefunction(sync_fn)
    _assert_same_signature(sync_fn, async_fn, transform=True)
    assert sync_fn.__doc__ == async_fn.__doc__


def test_client_parity() -> None:
    _assert_same_signature(Client.__init__, AsyncClient.__init__, transform=False)
    _assert_same_signature(Client.request, AsyncSession.request, transform=False)
    expected = set(_public_methods(AsyncClient)) - {"aclose"} | {"close", "request"}
    assert set(_public_methods(Client)) == expected
    assert Client.close.__doc__ == AsyncClient.aclose.__doc__
    assert callable(Client.__enter__) and callable(Client.__exit__)


def test_unset_default_is_preserved() -> None:
    from wriftai_async import UNSET

    models = typing.get_type_hints(Client)["models"]
    params = inspect.signature(models.update).parameters
    assert params["description"].default is UNSET


# -- the generator checks itself -----------------------------------------------


@pytest.fixture
def generator(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_sync", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "generate_sync", module)  # for dataclasses
    spec.loader.exec_module(module)
    return module


def test_fails_on_an_unused_rule(
    generator: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(generator.RULES, "stale-rule", "matches nothing any more")
    with pytest.raises(generator.GenerationError, match="stale-rule"):
        generator.generate()


def test_fails_on_an_unlisted_resource_module(
    generator: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(generator, "RESOURCE_MODULES", generator.RESOURCE_MODULES[1:])
    with pytest.raises(generator.GenerationError, match="add it to RESOURCE_MODULES"):
        generator.generate()


def test_fails_on_an_input_with_nothing_to_mirror(
    generator: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = (*generator.RESOURCE_MODULES, "wriftai_async._resources._base")
    monkeypatch.setattr(generator, "RESOURCE_MODULES", inputs)
    with pytest.raises(generator.GenerationError, match="defines no AsyncResource"):
        generator.generate()


NEW_METHOD = '''
    async def ping(self, times: int = 1, *, loud: bool = False) -> str:
        """Added on the async side only."""
        return "pong" * times

    def pings(self, *, upto: int | None = None) -> AsyncIterator[str]:
        """Also added on the async side only."""
        raise NotImplementedError

    async def _private(self) -> None:
        """Not mirrored."""
'''

UNSUPPORTED = '''
    def helper(self) -> int:
        """A plain method: the generator cannot know how to mirror it."""
        return 1
'''


def _copy_project(tmp_path: Path) -> Path:
    for name in ("pyproject.toml", "scripts", "wriftai_async"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(
                src, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy(src, tmp_path / name)
    return tmp_path


def test_check_detects_drift_and_new_methods_need_no_hand_edit(tmp_path: Path) -> None:
    root = _copy_project(tmp_path)
    models = root / "wriftai_async" / "_resources" / "models.py"
    models.write_text(models.read_text() + NEW_METHOD)

    done = _run("--check", cwd=root)
    assert done.returncode == 1
    assert (
        "+    def ping(self, times: int = 1, *, loud: bool = False) -> str:"
        in done.stdout
    )
    assert (
        "def pings(self, *, upto: int | None = None) -> Iterator[str]:" in done.stdout
    )
    assert "_private" not in done.stdout

    assert _run(cwd=root).returncode == 0  # regenerate
    assert _run("--check", cwd=root).returncode == 0
    generated = (root / "wriftai_async" / "_sync" / "models.py").read_text()
    assert "return self._portal.call(self._async.ping, times, loud=loud)" in generated
    assert "return self._portal.iterate(self._async.pings(upto=upto))" in generated

    # A hand edit of the output, or a stale output file, is drift too.
    sync_models = root / "wriftai_async" / "_sync" / "models.py"
    sync_models.write_text(generated.replace("Sync twin", "Hand-edited twin"))
    (root / "wriftai_async" / "_sync" / "old.py").write_text("")
    done = _run("--check", cwd=root)
    assert done.returncode == 1
    assert '-"""Hand-edited twin' in done.stdout
    assert "stale generated file: wriftai_async/_sync/old.py" in done.stdout

    models.write_text(models.read_text() + UNSUPPORTED)
    done = _run("--check", cwd=root)
    assert done.returncode == 1
    assert "helper is neither `async def`" in done.stderr
