"""The README's "Moving from `wriftai`" keeps up with the official client.

The guide's tables have the official name in their first column and ours in
the second (a third, where there is one, says what differs). Read from the
installed ``wriftai`` (0.34.0, the test extra), by introspection and by
reading its source's syntax tree:

- every public method of every resource of a ``wriftai.Client``, each named
  as ``client.<resource>.<method>`` in a first column; each of its
  parameters named in its row, and each key of a dict or dataclass it takes
  either a parameter of our method in that row or named in the row;
- every constructor parameter, every public name of its public modules
  (types, constants, resource classes), every exception its code raises or
  lets through from httpx and json, and every environment variable it reads.

And every name of ours the tables give exists: ``client.<...>`` chains on
both ``AsyncClient`` and ``Client`` (with the keywords shown in a call),
``AsyncClient(...)``/``Client(...)`` keywords, ``wriftai_async.<...>`` paths
and our type and exception names.

The three before/after examples run against the emulator: the "before" with
the official client, the "after" with ours (which ``test_readme.py`` also
runs), each pair printing the same.

No client here sends a request at construction; those that could are
pointed at a closed port on loopback.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import importlib
import inspect
import json
import os
import pkgutil
import re
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import wriftai

import wriftai_async
from wriftai_async import AsyncClient, Client

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
RUNNER = Path(__file__).resolve().parent / "_readme_runner.py"
OFFICIAL = Path(wriftai.__file__).resolve().parent
NOWHERE = "http://127.0.0.1:9/v1"  # nothing listens on port 9 (discard)


def _section() -> str:
    start = README.index("\n## Moving from `wriftai`\n")
    end = README.index("\n## ", start + 1)
    return README[start:end]


GUIDE = _section()


# -- reading the tables ----------------------------------------------------------------


def _cells(line: str) -> list[str]:
    # A pipe inside a code span is not a column break (none are used now).
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _rows() -> list[list[str]]:
    rows = []
    for line in GUIDE.splitlines():
        if not line.startswith("|") or re.match(r"^\|[-| ]+\|$", line):
            continue
        cells = _cells(line)
        if cells[0].startswith("`wriftai` 0.34.0"):
            continue  # a header
        rows.append(cells)
    return rows


ROWS = _rows()


def _spans(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def _official_column() -> str:
    return "\n".join(row[0] for row in ROWS)


def _chains(span: str, roots: tuple[str, ...]) -> Iterator[tuple[str, str | None]]:
    """Each dotted name in ``span`` rooted at one of ``roots``, with the text
    inside the parentheses of its call (``None`` when it is not called)."""
    alternatives = "|".join(re.escape(root) for root in roots)
    pattern = re.compile(rf"(?<![\w.])((?:{alternatives})(?:\.\w+)*)")
    for found in pattern.finditer(span):
        end = found.end()
        args = None
        if end < len(span) and span[end] == "(":
            depth, i = 0, end
            for i in range(end, len(span)):
                depth += {"(": 1, ")": -1}.get(span[i], 0)
                if depth == 0:
                    break
            args = span[end + 1 : i]
        if "." in found.group(1) or found.group(1)[0].isupper():
            yield found.group(1), args  # not a bare module or ``client``


def _keywords(args: str | None) -> list[str]:
    return re.findall(r"(?<![\w=])(\w+)=(?!=)", args or "")


def _resolve(root: Any, dotted: str) -> Any:
    target = root
    for part in dotted.split("."):
        target = getattr(target, part)
    return target


def _parameters(function: Any) -> set[str]:
    return set(inspect.signature(function).parameters)


# -- clients built without a request ---------------------------------------------------


@pytest.fixture(scope="module")
def official() -> Iterator[wriftai.Client]:
    # Our own httpx clients, to close them: the official client cannot.
    sync_http, async_http = httpx.Client(), httpx.AsyncClient()
    try:
        yield wriftai.Client(
            access_token="t",
            api_base_url=NOWHERE,
            http_client=sync_http,
            async_http_client=async_http,
        )
    finally:
        sync_http.close()
        # Nothing was sent, so nothing is open: closing needs no event loop.
        assert not async_http._transport._pool.connections  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def ours() -> Iterator[tuple[AsyncClient, Client]]:
    async_client, sync_client = AsyncClient("t", NOWHERE), Client("t", NOWHERE)
    try:
        yield async_client, sync_client
    finally:
        sync_client.close()
        # An AsyncClient never used opened no session: nothing to close.
        assert async_client.session._session is None


def _resources(client: Any) -> dict[str, Any]:
    return {
        name: value
        for name, value in vars(client).items()
        if not name.startswith("_") and not callable(value)
    }


def _public_methods(resource: Any) -> dict[str, Any]:
    return {
        name: getattr(resource, name)
        for name in dir(resource)
        if not name.startswith("_") and callable(getattr(resource, name))
    }


# -- the official side: everything is named -------------------------------------------


def test_the_guide_is_there_with_its_tables():
    assert len(ROWS) >= 60, len(ROWS)
    assert all(len(row) >= 2 for row in ROWS)


def test_every_official_resource_method_is_in_the_table(official):
    column = _official_column()
    named = {chain for chain, _ in _chains(column, ("client",))}
    missing = []
    resources = _resources(official)
    assert set(resources) >= {"predictions", "models", "uploads", "files"}
    for resource_name, resource in resources.items():
        methods = _public_methods(resource)
        assert methods, resource_name
        for method in methods:
            if f"client.{resource_name}.{method}" not in named:
                missing.append(f"client.{resource_name}.{method}")
    assert not missing, f"official methods the guide does not map: {missing}"


def test_every_official_name_in_the_table_exists(official):
    for chain, args in _chains(_official_column(), ("client", "wriftai")):
        if chain.startswith("client."):
            target = _resolve(official, chain.removeprefix("client."))
        else:
            target = _resolve(wriftai, chain.removeprefix("wriftai."))
        for keyword in _keywords(args):
            assert keyword in _parameters(target), (chain, keyword)


def _rows_naming(official_name: str) -> list[list[str]]:
    return [
        row
        for row in ROWS
        if any(
            chain == official_name
            for span in _spans(row[0])
            for chain, _ in _chains(span, ("client", "wriftai"))
        )
    ]


def _our_callables(rows: list[list[str]], ours: tuple[AsyncClient, Client]) -> list:
    found = []
    for row in rows:
        for span in _spans(" ".join(row[1:])):
            for chain, _ in _chains(span, ("client",)):
                for client in ours:
                    target = _resolve(client, chain.removeprefix("client."))
                    if callable(target):
                        found.append(target)
    return found


def _structured_keys(annotation: Any) -> set[str]:
    """The keys of a TypedDict or the fields of a dataclass ``annotation``
    takes (through ``Optional`` and ``Unpack``), else nothing."""
    keys: set[str] = set()
    for candidate in (annotation, *typing.get_args(annotation)):
        if typing.is_typeddict(candidate):
            keys |= set(typing.get_type_hints(candidate))
        elif dataclasses.is_dataclass(candidate) and isinstance(candidate, type):
            keys |= {field.name for field in dataclasses.fields(candidate)}
        elif candidate is not annotation and typing.get_args(candidate):
            keys |= _structured_keys(candidate)
    return keys


def test_every_official_argument_is_accounted_for(official, ours):
    problems = []
    for resource_name, resource in _resources(official).items():
        for method_name, method in _public_methods(resource).items():
            name = f"client.{resource_name}.{method_name}"
            rows = _rows_naming(name)
            text = " ".join(" ".join(_spans(" ".join(row))) for row in rows)
            words = set(re.findall(r"\w+", text))
            targets = _our_callables(rows, ours)
            assert targets, f"{name}: its row names no method of ours"
            our_parameters = set().union(*(_parameters(t) for t in targets))
            hints = typing.get_type_hints(method)
            for parameter in inspect.signature(method).parameters.values():
                named = parameter.name in words
                if parameter.kind is not parameter.VAR_KEYWORD and not named:
                    problems.append(f"{name}: parameter {parameter.name}")
                for key in _structured_keys(hints.get(parameter.name)):
                    if key not in our_parameters and key not in words:
                        problems.append(f"{name}: {parameter.name}[{key!r}]")
    assert not problems, problems


def test_every_constructor_option_is_in_the_table():
    given = {
        keyword
        for chain, args in _chains(_official_column(), ("wriftai",))
        if chain == "wriftai.Client"
        for keyword in _keywords(args)
    }
    wanted = _parameters(wriftai.Client.__init__) - {"self"}
    assert wanted <= given, f"not in the guide: {sorted(wanted - given)}"


def _official_modules() -> Iterator[tuple[str, Path]]:
    for info in pkgutil.iter_modules([str(OFFICIAL)]):
        yield info.name, OFFICIAL / f"{info.name}.py"


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_every_public_official_name_is_in_the_table():
    column_words = set(re.findall(r"\w+", " ".join(_spans(_official_column()))))
    wanted = set(wriftai.__all__)
    for name, path in _official_modules():
        if name.startswith("_"):
            continue
        module = importlib.import_module(f"wriftai.{name}")
        names = _top_level_names(ast.parse(path.read_text("utf-8")))
        names |= set(getattr(module, "__all__", ()))
        for public in names:
            if public.startswith("_"):
                continue
            if isinstance(getattr(module, public, None), typing.TypeVar):
                continue  # a generic's T
            wanted.add(public)
    assert len(wanted) >= 60, sorted(wanted)
    missing = sorted(wanted - column_words)
    assert not missing, f"official names the guide does not map: {missing}"


def _raised_by_official() -> set[str]:
    """What the official code raises or lets through: its ``raise X`` names,
    and httpx's and json's errors where it calls them."""
    raised: set[str] = set()
    for _, path in _official_modules():
        source = path.read_text("utf-8")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Raise) and node.exc is not None:
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(exc, ast.Name):
                    raised.add(exc.id)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr == "raise_for_status":
                    raised.add("httpx.HTTPStatusError")
                elif node.func.attr == "json":
                    raised.add("json.JSONDecodeError")
                elif node.func.attr == "send":  # an httpx client's request
                    raised |= {"httpx.TimeoutException", "httpx.TransportError"}
    return raised


def test_every_exception_the_official_client_raises_is_mapped():
    section = GUIDE[GUIDE.index("\n### Exceptions") :]
    table = [line for line in section.splitlines() if line.startswith("|")]
    official_column = " ".join(_spans(" ".join(_cells(line)[0] for line in table)))
    raised = _raised_by_official()
    assert {"ValueError", "RuntimeError", "httpx.HTTPStatusError"} <= raised
    assert "WebhookSignatureMismatchError" in raised
    missing = [
        name
        for name in sorted(raised)
        if not re.search(rf"\b{re.escape(name)}\b", official_column)
    ]
    assert not missing, f"exceptions the guide does not map: {missing}"
    # Every exception class the official package defines, too.
    modules = [importlib.import_module(f"wriftai.{m}") for m, _ in _official_modules()]
    defined = {
        name
        for module in modules
        for name, value in vars(module).items()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__module__.startswith("wriftai")
    }
    assert len(defined) >= 5, defined
    missing = [name for name in sorted(defined) if name not in official_column]
    assert not missing, f"official exceptions the guide does not map: {missing}"


def test_every_environment_variable_the_official_client_reads_is_named():
    read: set[str] = set()
    for _, path in _official_modules():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (
                isinstance(node, ast.Call)
                and ast.unparse(node.func) in {"os.environ.get", "os.getenv"}
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                read.add(node.args[0].value)
            elif (
                isinstance(node, ast.Subscript)
                and ast.unparse(node.value) == "os.environ"
                and isinstance(node.slice, ast.Constant)
            ):
                read.add(node.slice.value)
    assert read >= {"WRIFTAI_ACCESS_TOKEN", "WRIFTAI_API_BASE_URL"}
    missing = [name for name in sorted(read) if f"`{name}`" not in GUIDE]
    assert not missing, missing


# -- our side: every name the guide gives exists ---------------------------------------


OUR_ROOTS = ("client", "AsyncClient", "Client", "wriftai_async", "attrs")


def test_every_name_of_ours_in_the_table_exists(ours):
    checked = 0
    for row in ROWS:
        for span in _spans(" ".join(row[1:])):
            for chain, args in _chains(span, OUR_ROOTS):
                root, _, rest = chain.partition(".")
                if root == "client":
                    targets = [_resolve(client, rest) for client in ours]
                elif root in {"AsyncClient", "Client"}:
                    cls = AsyncClient if root == "AsyncClient" else Client
                    if rest:  # a method or attribute of an instance
                        instance = ours[0] if cls is AsyncClient else ours[1]
                        targets = [_resolve(instance, rest)]
                    else:
                        targets = [cls.__init__]
                else:
                    module = importlib.import_module(root)
                    targets = [_resolve(module, rest) if rest else module]
                for keyword in _keywords(args):
                    for target in targets:
                        assert keyword in _parameters(target), (chain, keyword)
                checked += 1
    assert checked >= 60, checked


def test_every_type_and_exception_of_ours_in_the_table_exists():
    """A capitalised name in our column is ours (or Python's)."""
    checked = 0
    for row in ROWS:
        for span in _spans(row[1]):
            found = re.fullmatch(r"([A-Z]\w*)((?:\.\w+)*)(?:\(.*\))?", span)
            if not found or found.group(1) in {"AsyncClient", "Client"}:
                continue
            if found.group(1).startswith("WRIFTAI_"):
                continue  # an environment variable
            name, rest = found.group(1), found.group(2).lstrip(".")
            home = wriftai_async if hasattr(wriftai_async, name) else builtins
            target = getattr(home, name)  # AttributeError: not ours
            if rest:
                _resolve(target, rest)
            checked += 1
    assert checked >= 40, checked


def test_dicts_come_back_as_the_guide_says():
    """``unstructure`` and ``attrs.asdict`` exist and give our field names."""
    import attrs

    user = wriftai_async.structure(
        {"account_id": "u1", "name": "alice", "avatar_url": None}, wriftai_async.User
    )
    assert wriftai_async.unstructure(user)["username"] == "alice"
    assert attrs.asdict(user)["id"] == "u1"


# -- the before/after examples ---------------------------------------------------------


def _examples() -> list[tuple[str, str]]:
    """(before, after) of each flow: a ``python before`` block, then the
    next ``python`` block."""
    pairs = re.findall(r"```python before\n(.*?)```.*?```python\n(.*?)```", GUIDE, re.S)
    assert len(pairs) == 3, pairs
    return pairs


def _run_all(sources: list[str], emulator, *warning_options: str) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WRIFTAI_")}
    env.pop("PYTHONWARNINGS", None)
    env.update(
        WRIFTAI_ACCESS_TOKEN=emulator.access_token,
        WRIFTAI_API_BASE_URL=emulator.base_url,
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", *warning_options, str(RUNNER)],
        input=json.dumps(sources),
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _only_unclosed_sockets(stderr: str) -> bool:
    """Whether every complaint in ``stderr`` is an unclosed socket's."""
    complaints = stderr.count("Exception ignored in:")
    return complaints == stderr.count("ResourceWarning: unclosed <socket")


def test_each_after_prints_what_its_before_printed(emulator):
    pairs = _examples()
    befores = _run_all([before for before, _ in pairs], emulator)
    afters = _run_all([after for _, after in pairs], emulator)
    for (before, after), old, new in zip(pairs, befores, afters, strict=True):
        assert old["code"] == 0, (before, old["stderr"])
        # The official client never closes its connections: under -W error
        # the collector's ResourceWarning is all it may print (the guide says so).
        assert _only_unclosed_sockets(old["stderr"]), old["stderr"]
        assert new["code"] == 0 and not new["stderr"], (after, new["stderr"])
        assert old["stdout"].strip(), before
        assert new["stdout"] == old["stdout"], (after, new["stdout"], old["stdout"])
    assert any("unclosed <socket" in old["stderr"] for old in befores)


# -- what the guide promises of ours ---------------------------------------------------


async def _official_style_progress(delta: int, total: int) -> None:
    """The official ``async_upload``'s callback: a coroutine function."""


class _AsyncCallable:
    async def __call__(self, done: int, total: int | None) -> None:
        """A callable object whose call is a coroutine."""


@pytest.mark.parametrize("callback", [_official_style_progress, _AsyncCallable()])
async def test_an_async_on_progress_is_refused_before_anything_is_sent(callback):
    # Accepted, it made a coroutine that was never awaited: the callback
    # silently never ran. NOWHERE: a TypeError, not an APIConnectionError,
    # shows nothing was sent.
    async with AsyncClient("t", NOWHERE) as client:
        with pytest.raises(TypeError, match="coroutine function"):
            await client.files.upload(b"hello", on_progress=callback)
        for bulk in (
            client.predictions.cancel_many,
            client.predictions.wait_many,
            client.models.list_for_users,
        ):
            with pytest.raises(TypeError, match="coroutine function"):
                bulk(["p-1"], on_progress=callback)
    with (
        Client("t", NOWHERE) as sync_client,
        pytest.raises(TypeError, match="coroutine function"),
    ):
        sync_client.files.upload(b"hello", on_progress=callback)
