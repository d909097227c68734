"""The generated sync facade matches the async code it is generated from.

Resources and methods are discovered by introspection of ``AsyncClient``, so a
method or resource added on the async side is covered here with no edit.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import inspect
import operator
import os
import re
import shutil
import subprocess
import sys
import textwrap
import types
import typing
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
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


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_sync", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "generate_sync", module)  # for dataclasses
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sync_doc() -> Callable[[str | None], str]:
    """The generator's docstring rules: what a sync docstring must read."""
    generator = _load_generator()
    generator.twins.update(generator.find_twins())

    def transform(doc: str | None) -> str:
        assert doc is not None
        return typing.cast(str, generator.sync_docstring(doc))

    return transform


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
    if typing.get_origin(annotation) is AsyncGenerator:
        # The bulk helpers: a generator, closable (contextlib.closing).
        item, sent = typing.get_args(annotation)
        assert sent in (None, type(None)), annotation
        return typing.cast(Any, Generator)[item, None, None]
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


def test_every_resource_is_mirrored(sync_doc: Callable[[str | None], str]) -> None:
    for attr, async_cls, sync_cls in _resources():
        assert sync_cls is not None, f"Client.{attr} is missing"
        assert sync_cls.__name__ == async_cls.__name__.removeprefix("Async")
        assert sync_cls.__doc__ == sync_doc(async_cls.__doc__)
        assert set(_public_methods(sync_cls)) == set(_public_methods(async_cls))


@pytest.mark.parametrize(("attr", "name"), _method_cases())
def test_method_parity(
    attr: str, name: str, sync_doc: Callable[[str | None], str]
) -> None:
    async_cls = typing.get_type_hints(AsyncClient)[attr]
    sync_cls = typing.get_type_hints(Client)[attr]
    async_fn = getattr(async_cls, name)
    sync_fn = getattr(sync_cls, name)
    assert not inspect.iscoroutinefunction(sync_fn)
    _assert_same_signature(sync_fn, async_fn, transform=True)
    assert sync_fn.__doc__ == sync_doc(async_fn.__doc__)


def test_client_parity(sync_doc: Callable[[str | None], str]) -> None:
    _assert_same_signature(Client.__init__, AsyncClient.__init__, transform=False)
    _assert_same_signature(Client.request, AsyncSession.request, transform=False)
    expected = set(_public_methods(AsyncClient)) - {"aclose"} | {"close", "request"}
    assert set(_public_methods(Client)) == expected
    assert Client.close.__doc__ == sync_doc(AsyncClient.aclose.__doc__)
    # Client's own summary and paragraphs, then AsyncClient's docstring from
    # its Args: on (the checks, the example), as sync text.
    assert AsyncClient.__doc__ is not None and Client.__doc__ is not None
    after_summary = AsyncClient.__doc__.split("\n\n", 1)[1].rstrip()
    assert sync_doc(after_summary) in Client.__doc__
    assert callable(Client.__enter__) and callable(Client.__exit__)


def test_unset_default_is_preserved() -> None:
    from wriftai_async import UNSET

    models = typing.get_type_hints(Client)["models"]
    params = inspect.signature(models.update).parameters
    assert params["description"].default is UNSET


# -- sync docstrings read as sync --------------------------------------------

SYNC_DIR = ROOT / "wriftai_async" / "_sync"
# Async code or names in a sync docstring: each is a rule missing from the
# generator's DOC_RULES (or a docstring it was not applied to).
ASYNC_TEXT = re.compile(
    r"\bawait\b|\basync (?:for|with|def|iterator|generator)\b"
    r"|\baclos(?:e|ing)\b|\bAsync[A-Z]\w*"
)
# Where a sync docstring names an async class on purpose: Client says what it
# runs, and its request() is AsyncSession.request (no sync session exists).
DELIBERATE = {
    ("client.py", "Client", "AsyncClient"),
    ("client.py", "Client.request", "AsyncSession"),
}


def _generated_docstrings() -> list[tuple[str, str, str]]:
    """(file, owner, text) for every docstring and attribute doc in _sync/."""
    found = []
    for path in sorted(SYNC_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        owners: list[tuple[str, list[ast.stmt]]] = [("<module>", tree.body)]
        for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
            owners.append((cls.name, cls.body))
            owners += [
                (f"{cls.name}.{fn.name}", fn.body)
                for fn in cls.body
                if isinstance(fn, ast.FunctionDef)
            ]
        for owner, body in owners:
            for i, stmt in enumerate(body):
                if not (
                    isinstance(stmt, ast.Expr)
                    and isinstance(stmt.value, ast.Constant)
                    and isinstance(stmt.value.value, str)
                ):
                    continue
                before = body[i - 1] if i else None
                if isinstance(before, ast.AnnAssign):  # an attribute's doc
                    name = f"{owner}.{ast.unparse(before.target)}"
                    found.append((path.name, name, stmt.value.value))
                elif i == 0:
                    found.append((path.name, owner, stmt.value.value))
    return found


def test_generated_docstrings_read_as_sync() -> None:
    docs = _generated_docstrings()
    assert len(docs) > 60  # every method, class and attribute of Client
    hits = {
        (file, owner, match[0])
        for file, owner, text in docs
        for match in ASYNC_TEXT.finditer(text)
    }
    assert hits - DELIBERATE == set()

    text = {(file, owner): doc for file, owner, doc in docs}
    stream = text["predictions.py", "Predictions.stream"]
    assert "with client.predictions.stream(pid) as events:" in stream
    assert "Leave it with ``with`` (or ``events.close()``)" in stream
    assert "Returns an :class:`EventStream` of" in stream
    assert ":meth:`Versions.update_configuration`" in text["variables.py", "Variables"]
    client = text["client.py", "Client"]
    assert "with Client() as client:\n            for model in" in client
    assert "Each number is checked" in client  # AsyncClient's, whole


def _examples(doc: str) -> list[str]:
    """The code blocks after each ``Example::`` of a docstring, dedented."""
    blocks = []
    lines = doc.split("\n")
    for i, line in enumerate(lines):
        if line.strip() != "Example::":
            continue
        indent = len(line) - len(line.lstrip())
        block = []
        for following in lines[i + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            block.append(following)
        blocks.append(textwrap.dedent("\n".join(block)).strip() + "\n")
    return blocks


def test_generated_examples_are_sync_code() -> None:
    # compile(), unlike ast.parse, rejects `await`, `async for` and `async
    # with` outside an async function: the examples must run as sync code.
    examples = [
        (f"{file}:{owner}", code)
        for file, owner, doc in _generated_docstrings()
        for code in _examples(doc)
    ]
    assert len(examples) > 20
    for where, code in examples:
        compile(code, where, "exec", dont_inherit=True)


# -- the generator checks itself -----------------------------------------------


@pytest.fixture
def generator() -> ModuleType:
    return _load_generator()


def test_fails_on_an_unused_rule(
    generator: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(generator.RULES, "stale-rule", "matches nothing any more")
    with pytest.raises(generator.GenerationError, match="stale-rule"):
        generator.generate()


def test_fails_on_an_unused_docstring_rule(
    generator: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = {**generator.DOC_RULES, "doc-stale": (r"\basync lambda\b", "lambda")}
    monkeypatch.setattr(generator, "DOC_RULES", rules)
    with pytest.raises(generator.GenerationError, match="doc-stale"):
        generator.generate()


def test_docstring_rules_are_applied_in_order(generator: ModuleType) -> None:
    generator.twins.update({"Client", "Models", "Iterator"})
    doc = """Example::

            from contextlib import aclosing

            async with AsyncClient() as client:
                details = await client.models.get("a/b")
                async with aclosing(AsyncModels.it()) as it:
                    async for x in it:
                        await client.aclose()

        Returns an ``AsyncIterator``; see AsyncSession.
        """
    assert (
        generator.sync_docstring(doc)
        == """Example::

            from contextlib import closing

            with Client() as client:
                details = client.models.get("a/b")
                with closing(Models.it()) as it:
                    for x in it:
                        client.close()

        Returns an ``Iterator``; see AsyncSession.
        """
    )
    assert generator.used_rules.keys() == generator.DOC_RULES.keys()


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


def _run_without_ruff(path: str) -> subprocess.CompletedProcess[str]:
    """The script with no ruff module (-S: no site-packages) and PATH=path."""
    return subprocess.run(
        [sys.executable, "-S", str(SCRIPT), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PATH": path},
        timeout=60,
        check=False,
    )


def test_without_ruff_says_what_to_run(tmp_path: Path) -> None:
    done = _run_without_ruff(str(tmp_path))
    assert done.returncode == 1
    assert "generate_sync: ruff not found: run it inside the project's" in done.stderr
    assert "pip install -e '.[test]'\n" in done.stderr
    assert "/bin/python scripts/generate_sync.py --check\n" in done.stderr


def test_another_ruff_version_is_refused(tmp_path: Path) -> None:
    # Another version may lay the output out differently: a false "drift".
    fake = tmp_path / "ruff"
    fake.write_text("#!/bin/sh\necho 'ruff 0.0.1'\n")
    fake.chmod(0o755)
    done = _run_without_ruff(str(tmp_path))
    assert done.returncode == 1
    assert "ruff 0.0.1 found but the project pins ruff==" in done.stderr
    assert "pip install -e '.[test]'" in done.stderr
