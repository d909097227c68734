"""Generate the sync facade ``wriftai_async/_sync/`` from the async sources.

    python scripts/generate_sync.py          # rewrite wriftai_async/_sync/
    python scripts/generate_sync.py --check  # exit 1 (with a diff) on drift

The async code is the source of truth. This script reads it as syntax (``ast``,
never importing it), as psycopg's ``tools/async_to_sync.py`` does, and writes:

- for each resource class ``Async<Name>`` a class ``<Name>`` with every
  public method: same name, parameters, defaults and return annotation,
  except ``AsyncIterator[X]`` which becomes ``Iterator[X]``,
  ``AsyncGenerator[X, None]`` which becomes ``Generator[X, None, None]`` (it
  has ``close()``, for ``contextlib.closing``) and a stream
  class of ``STREAMS`` (``AsyncEventStream``) which becomes its sync twin
  (``EventStream``, built on ``Portal.iterate``). The body hands the call to
  the client's :class:`~wriftai_async._portal.Portal`;
- ``Client``, mirroring ``AsyncClient``: same constructor, the sync resources
  as attributes, ``close()``, ``with``, and every other public method of
  ``AsyncClient`` (such as ``request()``, the escape hatch) mirrored like a
  resource method.

Every docstring is the async one rewritten by ``DOC_RULES`` (``await `` goes,
``async for`` becomes ``for``, ``aclosing`` ``closing``, ``AsyncClient``
``Client``...), like psycopg's ``_fix_docstring``: a sync user reads sync
examples.

The output is passed through ``ruff check --fix`` and ``ruff format`` (with
the project's configuration) before it is written or compared, so layout can
never make the check fail. Like httpcore's ``unasync.py``, the script checks
itself: it fails when an input listed below defines nothing to mirror, when a
resource module exists that is not listed, or when one of its rewrite rules
went unused (a rule nothing needs any more is a rule nobody understands).
"""

from __future__ import annotations

import argparse
import ast
import builtins
import difflib
import functools
import importlib.util
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "wriftai_async"
OUTPUT_PACKAGE = "wriftai_async._sync"

# The inputs, listed explicitly. A new resource module goes here (the script
# says so if it finds one that is missing); a new method needs nothing.
CLIENT_MODULE = "wriftai_async._client"
RESOURCE_MODULES = (
    "wriftai_async._resources.models",
    "wriftai_async._resources.versions",
    "wriftai_async._resources.predictions",
    "wriftai_async._resources.users",
    "wriftai_async._resources.catalog",
    "wriftai_async._resources.files",
    "wriftai_async._resources.variables",
)
RESOURCE_DIR = "wriftai_async/_resources"
RESOURCE_BASE = "AsyncResource"
PORTAL_IMPORT = ("wriftai_async._portal", "Portal")

# The rewrite rules; each must be used at least once per run.
RULES = {
    "async-method": "public `async def m(...) -> T` -> `def m(...) -> T` (Portal.call)",
    "iterator-method": "public `def m(...) -> AsyncIterator[T]` -> "
    "`def m(...) -> Iterator[T]` (Portal.iterate)",
    "generator-method": "public `def m(...) -> AsyncGenerator[T, None]` -> "
    "`def m(...) -> Generator[T, None, None]` (Portal.iterate, whose generator "
    "has close() as the async one has aclose())",
    "stream-method": "public `def m(...) -> AsyncEventStream` -> "
    "`def m(...) -> EventStream` (its sync twin, see STREAMS)",
    "overload-stub": "`@overload async def m(...) -> T` -> `@overload def m(...) -> T` "
    "(AsyncIterator[X] -> Iterator[X] and streams -> their twins in T)",
    "iterator-union": "`async def m(...) -> T | AsyncIterator[X]` (or `T | "
    "AsyncEventStream`) -> `def m(...) -> T | Iterator[X]` (or `T | EventStream`): "
    "Portal.call, then wrap the iterator if one came back",
    "class-name": "`class Async<Name>` -> `class <Name>`",
    "client-attribute": "`<attr>: Async<Name>` on AsyncClient -> `<attr>: <Name>`",
    "client-init": "AsyncClient.__init__ -> Client.__init__ (same signature)",
    "client-aclose": "AsyncClient.aclose -> Client.close",
    "client-context": "__aenter__/__aexit__ -> __enter__/__exit__",
    "client-reduce": "AsyncClient.__reduce__ -> Client.__reduce__ (copied as written)",
    "client-doc": "AsyncClient's docstring after its summary line -> Client's "
    "(through DOC_RULES)",
}
# The docstring rules, applied in this order to every docstring copied from
# the async side (a table like httpcore's unasync.py). Like RULES, each must
# change at least one docstring per run, or the script fails.
DOC_RULES: dict[str, tuple[str, str]] = {
    "doc-await": (r"\bawait ", ""),
    "doc-async-for-with": (r"\basync (for|with)\b", r"\1"),
    # aclose() -> close(); contextlib's aclosing -> closing (import included).
    "doc-aclose": (r"\ba(close|closing)\b", r"\1"),
    # Async<Name> -> <Name> for the names with a sync twin (`twins`): the
    # client, the resources, the STREAMS and AsyncIterator. Others
    # (AsyncSession, which serves both clients) stay as they are.
    "doc-twin-name": (r"\bAsync(?={twins}\b)", ""),
}
# What `AsyncIterator[X]` becomes; imported only where it is used.
_ITERATOR = ("collections.abc", "Iterator")
# What `AsyncGenerator[X, None]` becomes (Portal.iterate's own return type).
_GENERATOR = ("collections.abc", "Generator")
# Async iterator classes with a sync twin, built as `Twin(portal, result)`
# (the twin iterates through Portal.iterate and adds `with` and `close()`).
_STREAMING = "wriftai_async._resources._streaming"
STREAMS = {(_STREAMING, "AsyncEventStream"): (_STREAMING, "EventStream")}

HEADER = """\
# Generated by scripts/generate_sync.py -- do not edit.
# Regenerate with: python scripts/generate_sync.py
# Source: {source}
"""


class GenerationError(Exception):
    """The async sources contain something the generator cannot mirror."""


used_rules: Counter[str] = Counter()
# The sync names whose async twin "doc-twin-name" renames; set by generate().
twins: set[str] = set()


def use(rule: str) -> None:
    assert rule in RULES or rule in DOC_RULES, rule
    used_rules[rule] += 1


# -- reading the sources -------------------------------------------------------


def module_path(module: str) -> Path:
    return ROOT.joinpath(*module.split(".")).with_suffix(".py")


@dataclass
class SourceModule:
    """One async module: its text, its tree and what its top-level names are."""

    name: str
    source: str
    tree: ast.Module
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    defined: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, name: str) -> SourceModule:
        source = module_path(name).read_text(encoding="utf-8")
        mod = cls(name, source, ast.parse(source, str(module_path(name))))
        package = name.rsplit(".", 1)[0]
        for node in _top_level(mod.tree):
            if isinstance(node, ast.ImportFrom):
                base = _absolute(package, node.module, node.level)
                for alias in node.names:
                    mod.imports[alias.asname or alias.name] = (base, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    local = alias.asname or alias.name.split(".")[0]
                    mod.imports[local] = (alias.name if alias.asname else local, None)
            elif isinstance(
                node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
            ):
                mod.defined.add(node.name)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = (
                    node.targets if isinstance(node, ast.Assign) else [node.target]
                )
                mod.defined.update(t.id for t in targets if isinstance(t, ast.Name))
        return mod

    def resolve(self, name: str) -> tuple[str, str | None] | None:
        """Where ``name`` comes from; ``None`` for a builtin."""
        if name in self.imports:
            return self.imports[name]
        if name in self.defined:
            return (self.name, name)
        if hasattr(builtins, name):
            return None
        raise GenerationError(f"{self.name}: cannot resolve the name {name!r}")

    def classes(self) -> list[ast.ClassDef]:
        return [n for n in self.tree.body if isinstance(n, ast.ClassDef)]

    def segment(self, node: ast.AST) -> str:
        text = ast.get_source_segment(self.source, node)
        assert text is not None
        return text


def _top_level(tree: ast.Module) -> list[ast.stmt]:
    nodes: list[ast.stmt] = []
    for node in tree.body:
        nodes.extend([*node.body, *node.orelse] if isinstance(node, ast.If) else [node])
    return nodes


def _absolute(package: str, module: str | None, level: int) -> str:
    if level == 0:
        assert module is not None
        return module
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - (level - 1)])
    return f"{base}.{module}" if module else base


# -- writing the output --------------------------------------------------------


class ModuleWriter:
    """Collects the imports and the code of one generated module."""

    def __init__(self, source: SourceModule, output: str) -> None:
        self.source = source
        self.output = output
        self.bound: dict[str, tuple[str, str | None]] = {}
        self.own: set[str] = set()  # classes this module defines
        self.lines: list[str] = []

    def bind(self, local: str, module: str, attr: str | None) -> bool:
        """Import ``attr`` of ``module`` as ``local``; False on a name clash."""
        target = (module, attr)
        if local in self.own or self.bound.get(local, target) != target:
            return False
        self.bound[local] = target
        return True

    def expr(self, node: ast.expr | None) -> str:
        """Source of an annotation or default, importing the names it uses."""
        assert node is not None
        node = _Qualifier(self).visit(_parse_string_annotation(node))
        return ast.unparse(node)

    def imports(self) -> list[str]:
        lines = []
        for local, (module, attr) in sorted(self.bound.items()):
            where = self.relative(module)
            if attr is None:
                lines.append(
                    f"import {module}" + ("" if module == local else f" as {local}")
                )
            else:
                alias = "" if attr == local else f" as {local}"
                lines.append(f"from {where} import {attr}{alias}")
        return lines

    def relative(self, module: str) -> str:
        if module.startswith(OUTPUT_PACKAGE + "."):
            return "." + module[len(OUTPUT_PACKAGE) + 1 :]
        if module.startswith(PACKAGE + "."):
            return ".." + module[len(PACKAGE) + 1 :]
        return ".." if module == PACKAGE else module

    def render(self, docstring: str) -> str:
        source_file = module_path(self.source.name).relative_to(ROOT).as_posix()
        head = [HEADER.format(source=source_file), f'"""{docstring}"""', ""]
        body = ["from __future__ import annotations", "", *self.imports(), ""]
        return "\n".join([*head, *body, *self.lines, ""])


def _parse_string_annotation(node: ast.expr) -> ast.expr:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return ast.parse(node.value, mode="eval").body
    return node


class _Qualifier(ast.NodeTransformer):
    """Imports each name an expression uses; on a clash, uses ``module.name``.

    A clash happens when a generated class takes the name of a type it uses
    (``AsyncHardware`` -> ``Hardware``, returning ``_objects.Hardware``).
    """

    def __init__(self, writer: ModuleWriter) -> None:
        self.writer = writer

    def visit_Name(self, node: ast.Name) -> ast.expr:
        origin = self.writer.source.resolve(node.id)
        if origin is None:
            return node
        module, attr = origin
        if self.writer.bind(node.id, module, attr):
            return node
        if attr is None:
            raise GenerationError(f"{self.writer.output}: name clash on {node.id!r}")
        # `from parent import leaf` (or `import module`), then `leaf.attr`.
        parent, _, alias = module.rpartition(".")
        if parent:
            bound = self.writer.bind(alias, parent, alias)
        else:
            bound = self.writer.bind(alias, module, None)
        if not bound:
            raise GenerationError(f"{self.writer.output}: name clash on {alias!r}")
        return ast.copy_location(ast.Attribute(ast.Name(alias), attr, node.ctx), node)


class _QualifyExcept(ast.NodeTransformer):
    """Qualifies every name but the function's own parameters."""

    def __init__(self, params: set[str], qualify: _Qualifier) -> None:
        self.params = params
        self.qualify = qualify

    def visit_Name(self, node: ast.Name) -> ast.expr:
        return node if node.id in self.params else self.qualify.visit_Name(node)


def _docstring(node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) -> ast.expr:
    first = node.body[0] if node.body else None
    if not (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        raise GenerationError(f"{node.name} has no docstring")
    return first.value


def sync_docstring(text: str) -> str:
    """``text`` (an async docstring, or its literal) as the sync one."""
    alternatives = "|".join(sorted(twins))
    for rule, (pattern, replacement) in DOC_RULES.items():
        pattern = pattern.replace("{twins}", f"(?:{alternatives})")
        new = re.sub(pattern, replacement, text)
        if new != text:
            use(rule)
        text = new
    return text


def docstring_source(module: SourceModule, node: ast.expr, indent: int) -> str:
    """The docstring literal, as the sync one, moved to ``indent`` columns."""
    lines = sync_docstring(module.segment(node)).split("\n")
    shift = indent - node.col_offset
    if shift > 0:
        lines[1:] = [(" " * shift + ln) if ln else ln for ln in lines[1:]]
    elif shift < 0:
        lines[1:] = [ln[-shift:] if ln[:-shift].isspace() else ln for ln in lines[1:]]
    return "\n".join(lines)


def forward_arguments(args: ast.arguments) -> str:
    """``a, b, *c, d=d, **e`` for a call passing every parameter on."""
    positional = [a.arg for a in [*args.posonlyargs, *args.args]][1:]  # no self
    parts = positional + ([f"*{args.vararg.arg}"] if args.vararg else [])
    parts += [f"{a.arg}={a.arg}" for a in args.kwonlyargs]
    parts += [f"**{args.kwarg.arg}"] if args.kwarg else []
    return ", ".join(parts)


def signature(writer: ModuleWriter, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The parameter list of ``fn`` as source, importing what it uses."""
    args = _copy_arguments(fn.args)
    for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
        if arg.annotation is not None:
            arg.annotation = ast.parse(writer.expr(arg.annotation), mode="eval").body
    for extra in (args.vararg, args.kwarg):
        if extra is not None and extra.annotation is not None:
            extra.annotation = ast.parse(
                writer.expr(extra.annotation), mode="eval"
            ).body
    args.defaults = [_reparse(writer, d) for d in args.defaults]
    args.kw_defaults = [
        None if d is None else _reparse(writer, d) for d in args.kw_defaults
    ]
    return ast.unparse(args)


def _copy_arguments(args: ast.arguments) -> ast.arguments:
    fn = ast.parse(f"def f({ast.unparse(args)}): pass").body[0]
    assert isinstance(fn, ast.FunctionDef)
    return fn.args


def _reparse(writer: ModuleWriter, node: ast.expr) -> ast.expr:
    return ast.parse(writer.expr(node), mode="eval").body


def _is_async_iterator(writer: ModuleWriter, node: ast.expr | None) -> bool:
    return (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name)
        and writer.source.resolve(node.value.id) == ("collections.abc", "AsyncIterator")
    )


def _stream_twin(writer: ModuleWriter, node: ast.expr | None) -> tuple[str, str] | None:
    """The sync twin of a stream class annotation, or ``None``."""
    if not isinstance(node, ast.Name):
        return None
    origin = writer.source.resolve(node.id)
    return STREAMS.get(origin) if origin is not None and origin[1] else None


def _bind_twin(writer: ModuleWriter, twin: tuple[str, str]) -> str:
    module, name = twin
    if not writer.bind(name, module, name):
        raise GenerationError(f"{writer.output}: name clash on {name!r}")
    return name


def _union_parts(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return [*_union_parts(node.left), *_union_parts(node.right)]
    return [node]


def sync_annotation(writer: ModuleWriter, node: ast.expr) -> str:
    """A return annotation with each ``AsyncIterator[X]`` as ``Iterator[X]``.

    A stream class of :data:`STREAMS` becomes its sync twin.
    """
    parts = []
    for part in _union_parts(_parse_string_annotation(node)):
        twin = _stream_twin(writer, part)
        if twin is not None:
            parts.append(_bind_twin(writer, twin))
        elif _is_async_iterator(writer, part):
            assert isinstance(part, ast.Subscript)
            if not writer.bind(_ITERATOR[1], *_ITERATOR):
                raise GenerationError(f"{writer.output}: name clash on 'Iterator'")
            parts.append(f"Iterator[{writer.expr(part.slice)}]")
        else:
            parts.append(writer.expr(part))
    return " | ".join(parts)


def _is_overload(
    writer: ModuleWriter, fn: ast.FunctionDef | ast.AsyncFunctionDef
) -> bool:
    return (
        len(fn.decorator_list) == 1
        and isinstance(fn.decorator_list[0], ast.Name)
        and writer.source.resolve(fn.decorator_list[0].id) == ("typing", "overload")
    )


def mirror_overload(
    writer: ModuleWriter, fn: ast.FunctionDef | ast.AsyncFunctionDef
) -> list[str]:
    """An ``@overload`` stub, as a sync one."""
    use("overload-stub")
    if not writer.bind("overload", "typing", "overload"):
        raise GenerationError(f"{writer.output}: name clash on 'overload'")
    result = sync_annotation(writer, fn.returns) if fn.returns else "None"
    return [
        "    @overload",
        f"    def {fn.name}({signature(writer, fn)}) -> {result}: ...",
        "",
    ]


def mirror_method(
    writer: ModuleWriter, fn: ast.FunctionDef | ast.AsyncFunctionDef, target: str
) -> list[str]:
    """A sync method calling ``target.<name>`` through the portal."""
    if fn.decorator_list:
        if _is_overload(writer, fn) and isinstance(fn, ast.AsyncFunctionDef):
            return mirror_overload(writer, fn)
        raise GenerationError(
            f"{writer.source.name}: {fn.name}: decorators unsupported"
        )
    call = f"{target}.{fn.name}"
    forward = forward_arguments(fn.args)
    returns = fn.returns
    union = _union_parts(_parse_string_annotation(returns)) if returns else []
    twins = [t for t in (_stream_twin(writer, part) for part in union) if t]
    iterators = any(_is_async_iterator(writer, part) for part in union)
    if isinstance(fn, ast.AsyncFunctionDef) and len(union) > 1 and (twins or iterators):
        use("iterator-union")
        assert returns is not None
        result = sync_annotation(writer, returns)
        doc = docstring_source(writer.source, _docstring(fn), 8)
        comma = ", " if forward else ""
        lines = [
            f"    def {fn.name}({signature(writer, fn)}) -> {result}:",
            f"        {doc}",
            f"        result = self._portal.call({call}{comma}{forward})",
        ]
        # A stream class is an AsyncIterator too: its twin is tried first.
        for twin in twins:
            async_name = next(k for k, v in STREAMS.items() if v == twin)[1]
            if not writer.bind(async_name, twin[0], async_name):
                raise GenerationError(f"{writer.output}: name clash on {async_name!r}")
            lines += [
                f"        if isinstance(result, {async_name}):",
                f"            return {_bind_twin(writer, twin)}(self._portal, result)",
            ]
        if iterators:
            if not writer.bind("AsyncIterator", "collections.abc", "AsyncIterator"):
                raise GenerationError(f"{writer.output}: name clash on 'AsyncIterator'")
            lines += [
                "        if isinstance(result, AsyncIterator):",
                "            return self._portal.iterate(result)",
            ]
        return [*lines, "        return result", ""]
    twin = _stream_twin(writer, returns) if len(union) == 1 else None
    if isinstance(fn, ast.AsyncFunctionDef):
        use("async-method")
        result = writer.expr(returns) if returns is not None else "None"
        body = f"self._portal.call({call}{', ' if forward else ''}{forward})"
        body = body if result == "None" else f"return {body}"
    elif twin is not None:
        use("stream-method")
        result = _bind_twin(writer, twin)
        body = f"return {result}(self._portal, {call}({forward}))"
    elif (
        isinstance(returns, ast.Subscript)
        and isinstance(returns.value, ast.Name)
        and writer.source.resolve(returns.value.id)
        == ("collections.abc", "AsyncGenerator")
        and isinstance(returns.slice, ast.Tuple)
        and len(returns.slice.elts) == 2
        and writer.expr(returns.slice.elts[1]) == "None"
    ):
        use("generator-method")
        if not writer.bind(_GENERATOR[1], *_GENERATOR):
            raise GenerationError(f"{writer.output}: name clash on 'Generator'")
        item = writer.expr(returns.slice.elts[0])
        result = f"Generator[{item}, None, None]"
        body = f"return self._portal.iterate({call}({forward}))"
    elif (
        isinstance(returns, ast.Subscript)
        and isinstance(returns.value, ast.Name)
        and writer.source.resolve(returns.value.id)
        == ("collections.abc", "AsyncIterator")
    ):
        use("iterator-method")
        if not writer.bind(_ITERATOR[1], *_ITERATOR):
            raise GenerationError(f"{writer.output}: name clash on 'Iterator'")
        result = f"Iterator[{writer.expr(returns.slice)}]"
        body = f"return self._portal.iterate({call}({forward}))"
    else:
        raise GenerationError(
            f"{writer.source.name}: {fn.name} is neither `async def` nor a `def` "
            "returning AsyncIterator[...] or AsyncGenerator[..., None]; teach "
            "scripts/generate_sync.py about it"
        )
    doc = docstring_source(writer.source, _docstring(fn), 8)
    return [
        f"    def {fn.name}({signature(writer, fn)}) -> {result}:",
        f"        {doc}",
        f"        {body}",
        "",
    ]


def copy_method(writer: ModuleWriter, fn: ast.FunctionDef) -> list[str]:
    """A plain method copied as written, the names it uses imported."""
    if fn.decorator_list:
        raise GenerationError(f"{fn.name}: decorators unsupported")
    params = {a.arg for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs)}
    qualify = _Qualifier(writer)
    body = [
        ast.unparse(
            _QualifyExcept(params, qualify).visit(stmt)  # parameters stay as they are
        )
        for stmt in fn.body[1:]
    ]
    result = writer.expr(fn.returns) if fn.returns is not None else "None"
    return [
        f"    def {fn.name}({signature(writer, fn)}) -> {result}:",
        f"        {docstring_source(writer.source, _docstring(fn), 8)}",
        *(f"        {stmt}" for stmt in body),
        "",
    ]


def public_methods(cls: ast.ClassDef) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    methods = []
    for node in cls.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if not node.name.startswith("_"):
                methods.append(node)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if any(not n.startswith("_") for n in names):
                raise GenerationError(f"{cls.name}: public class attribute {names}")
    return methods


def sync_name(async_name: str) -> str:
    if not async_name.startswith("Async") or len(async_name) == len("Async"):
        raise GenerationError(f"{async_name}: async classes are named Async<Name>")
    use("class-name")
    return async_name[len("Async") :]


# -- the resources -------------------------------------------------------------


@dataclass
class Resource:
    async_name: str
    name: str
    output: str  # the generated module


def generate_resource_module(
    module: SourceModule, output: str
) -> tuple[str, list[Resource]]:
    writer = ModuleWriter(module, output)
    classes = [c for c in module.classes() if _is_resource(c)]
    if not classes:
        raise GenerationError(
            f"input {module.name} defines no {RESOURCE_BASE} subclass"
        )
    resources = [Resource(c.name, sync_name(c.name), output) for c in classes]
    writer.own.update(r.name for r in resources)
    writer.bind(PORTAL_IMPORT[1], *PORTAL_IMPORT)
    for cls, res in zip(classes, resources, strict=True):
        writer.bind(cls.name, module.name, cls.name)
        doc = docstring_source(module, _docstring(cls), 4)
        writer.lines += [
            "",
            f"class {res.name}:",
            f"    {doc}",
            "",
            '    __slots__ = ("_async", "_portal")',
            "",
            f"    def __init__(self, resource: {cls.name}, portal: Portal) -> None:",
            "        self._async = resource",
            "        self._portal = portal",
            "",
            "    def __repr__(self) -> str:",
            f'        return f"{res.name}({{self._async!r}})"',
            "",
        ]
        for fn in public_methods(cls):
            writer.lines += mirror_method(writer, fn, "self._async")
    doc = f"Sync twin of :mod:`{module.name}`: {', '.join(r.name for r in resources)}."
    return writer.render(doc), resources


def _is_resource(cls: ast.ClassDef) -> bool:
    return any(isinstance(b, ast.Name) and b.id == RESOURCE_BASE for b in cls.bases)


# -- the client ----------------------------------------------------------------

# Client's own first paragraphs; the rest of its docstring (arguments,
# checks, example) is AsyncClient's, through the docstring rules. Naming
# AsyncClient here is deliberate: it says what Client runs.
CLIENT_DOC = """The sync WriftAI client: every ``AsyncClient`` method, blocking.

    It runs an ``AsyncClient`` on a private event loop in a daemon thread,
    started on first use and stopped by :meth:`close`. One ``Client`` may be
    shared by many threads, and may be used from code that runs inside an
    asyncio event loop (the call blocks that loop, as any sync call does).
    Listings return plain iterators that fetch each page when it is reached.

{body}
    """


def client_doc_body(docstring: str) -> str:
    """AsyncClient's docstring after its summary line, as the sync one."""
    _summary, blank, body = docstring.partition("\n\n")
    if not blank or "Args:" not in body:
        raise GenerationError("AsyncClient's docstring has no Args: section")
    use("client-doc")
    return sync_docstring(body.rstrip())


def generate_client(module: SourceModule, resources: list[Resource]) -> str:
    writer = ModuleWriter(module, f"{OUTPUT_PACKAGE}.client")
    (cls,) = [c for c in module.classes() if c.name == "AsyncClient"]
    by_async = {r.async_name: r for r in resources}
    writer.own.add("Client")
    writer.bind("AsyncClient", module.name, "AsyncClient")
    writer.bind(PORTAL_IMPORT[1], *PORTAL_IMPORT)
    for res in resources:
        writer.bind(res.name, res.output, res.name)

    attributes: list[str] = []
    wiring: list[str] = []
    rewiring: list[str] = []
    methods: list[str] = []
    init: ast.FunctionDef | None = None
    body = cls.body[1:]  # after the docstring
    for i, node in enumerate(body):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            attr, kind = node.target.id, node.annotation
            if not (isinstance(kind, ast.Name) and kind.id in by_async):
                raise GenerationError(
                    f"AsyncClient.{attr}: not a listed resource class"
                )
            use("client-attribute")
            res = by_async.pop(kind.id)
            attributes.append(f"    {attr}: {res.name}")
            following = body[i + 1] if i + 1 < len(body) else None
            if isinstance(following, ast.Expr) and isinstance(
                following.value, ast.Constant
            ):
                attributes.append(f"    {docstring_source(module, following.value, 4)}")
            wiring.append(
                f"        self.{attr} = {res.name}("
                f"self._async_client.{attr}, self._portal)"
            )
            rewiring.append(f"        self.{attr}._async = self._async_client.{attr}")
        elif isinstance(node, ast.FunctionDef) and node.name == "__init__":
            use("client-init")
            init = node
        elif isinstance(node, ast.AsyncFunctionDef) and node.name == "aclose":
            use("client-aclose")
            methods += [
                "    def close(self) -> None:",
                f"        {docstring_source(module, _docstring(node), 8)}",
                "        self._portal.close()",
                "",
            ]
        elif isinstance(node, ast.AsyncFunctionDef) and node.name in (
            "__aenter__",
            "__aexit__",
        ):
            use("client-context")
        elif isinstance(node, ast.FunctionDef) and node.name == "__reduce__":
            use("client-reduce")  # refuses pickling: no event loop involved
            methods += copy_method(writer, node)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name.startswith("__") and node.name != "__repr__":
                raise GenerationError(f"AsyncClient.{node.name}: no sync rule for it")
            if not node.name.startswith("_"):
                methods += mirror_method(writer, node, "self._async_client")
        elif not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            raise GenerationError(f"AsyncClient: unexpected {ast.unparse(node)[:60]!r}")
    if by_async:
        raise GenerationError(
            f"resources not attached to AsyncClient: {sorted(by_async)}"
        )
    if init is None:
        raise GenerationError("AsyncClient has no __init__")

    body_doc = client_doc_body(ast.literal_eval(module.segment(_docstring(cls))))
    writer.lines += [
        "",
        "class Client:",
        '    """' + CLIENT_DOC.format(body=body_doc) + '"""',
        "",
        *attributes,
        "",
        f"    def __init__({signature(writer, init)}) -> None:",
        # A closure, not functools.partial: its repr never shows the token.
        "        def new_async_client() -> AsyncClient:",
        f"            return AsyncClient({forward_arguments(init.args)})",
        "",
        "        self._new_async_client = new_async_client",
        "        self._async_client = new_async_client()",
        "        self._portal = Portal(",
        "            self._async_client.aclose,",
        '            owner="Client",',
        "            after_fork=self._start_over_after_fork,",
        "            origin=self._async_client.session.origin,",
        "        )",
        *wiring,
        "",
        "    def _start_over_after_fork(self) -> Callable[[], Awaitable[None]]:",
        "        # Called by the portal in a process forked after this client was",
        "        # used: the parent's AsyncClient (its session and connections) is",
        "        # left untouched (the portal keeps it); a fresh one serves the",
        "        # next calls, on a loop thread of this process.",
        "        self._async_client = self._new_async_client()",
        *rewiring,
        "        return self._async_client.aclose",
        "",
        "    def __repr__(self) -> str:",
        '        return f"Client({self._async_client.session!r})"',
        "",
        "    def __enter__(self) -> Client:",
        "        return self",
        "",
        "    def __exit__(",
        "        self,",
        "        exc_type: type[BaseException] | None,",
        "        exc: BaseException | None,",
        "        tb: TracebackType | None,",
        "    ) -> None:",
        "        self.close()",
        "",
        *methods,
    ]
    writer.bind("TracebackType", "types", "TracebackType")
    writer.bind("Awaitable", "collections.abc", "Awaitable")
    writer.bind("Callable", "collections.abc", "Callable")
    return writer.render("Sync twin of :mod:`wriftai_async._client`: ``Client``.")


# -- driver --------------------------------------------------------------------


INIT_DOC = "The sync facade: ``Client`` and its resources, generated from async code."


def _rel(module: str) -> str:
    return module_path(module).relative_to(ROOT).as_posix()


def output_module(source: str) -> str:
    return f"{OUTPUT_PACKAGE}.{source.rsplit('.', 1)[1]}"


def find_twins() -> set[str]:
    """The names ``X`` of the sync twins of ``AsyncX`` (for the docstrings)."""
    found = {"Client", "Iterator"}
    found |= {
        sync for (_, name), (_, sync) in STREAMS.items() if name == f"Async{sync}"
    }
    for name in RESOURCE_MODULES:
        tree = ast.parse(module_path(name).read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and _is_resource(node):
                found.add(node.name.removeprefix("Async"))
    return found


def check_inputs() -> None:
    """Every resource module on disk must be listed, and only those."""
    listed = {module_path(m) for m in RESOURCE_MODULES}
    for path in sorted((ROOT / RESOURCE_DIR).glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        has = any(isinstance(n, ast.ClassDef) and _is_resource(n) for n in tree.body)
        if has and path not in listed:
            name = path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
            raise GenerationError(
                f"{name} defines a resource: add it to RESOURCE_MODULES"
            )


def generate() -> dict[Path, str]:
    """Every output file and its content, formatted."""
    used_rules.clear()
    check_inputs()
    twins.clear()
    twins.update(find_twins())
    files: dict[str, str] = {}
    resources: list[Resource] = []
    for name in RESOURCE_MODULES:
        output = output_module(name)
        if output == f"{OUTPUT_PACKAGE}.client":
            raise GenerationError(f"{name}: the output name 'client' is taken")
        text, found = generate_resource_module(SourceModule.load(name), output)
        files[output] = text
        resources += found
    client = SourceModule.load(CLIENT_MODULE)
    files[f"{OUTPUT_PACKAGE}.client"] = generate_client(client, resources)
    exported = [("client", "Client")] + [
        (r.output.rsplit(".", 1)[1], r.name) for r in resources
    ]
    files[f"{OUTPUT_PACKAGE}.__init__"] = "\n".join(
        [
            HEADER.format(source=f"{_rel(CLIENT_MODULE)}, {RESOURCE_DIR}/"),
            f'"""{INIT_DOC}"""',
            "",
            *(f"from .{mod} import {name}" for mod, name in exported),
            "",
            f"__all__ = {sorted(name for _, name in exported)!r}",
            "",
        ]
    )
    described = {**RULES, **{r: f"{p!r} -> {t!r}" for r, (p, t) in DOC_RULES.items()}}
    unused = [
        f"{rule}: {text}" for rule, text in described.items() if not used_rules[rule]
    ]
    if unused:
        raise GenerationError(
            "rules never used (remove them?):\n  " + "\n  ".join(unused)
        )
    return {module_path(m): ruff(module_path(m), text) for m, text in files.items()}


def _in_project_environment() -> str:
    """What to run instead: this command in a venv with the test extra."""
    args = "".join(f" {a}" for a in sys.argv[1:])
    return (
        "run it inside the project's environment, for example:\n"
        f"  cd {ROOT}\n"
        "  python3 -m venv .venv && .venv/bin/pip install -e '.[test]'\n"
        f"  .venv/bin/python scripts/generate_sync.py{args}"
    )


@functools.cache
def _ruff_command() -> tuple[str, ...]:
    """The pinned ruff: another version may format the output differently."""
    if importlib.util.find_spec("ruff") is not None:
        command: tuple[str, ...] = (sys.executable, "-m", "ruff")
    elif found := shutil.which("ruff"):
        command = (found,)
    else:
        raise GenerationError(f"ruff not found: {_in_project_environment()}")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    pin = re.search(r'"ruff==([^"]+)"', pyproject)
    version = subprocess.run(
        [*command, "--version"], capture_output=True, text=True, check=False
    ).stdout.split()
    if pin and version[-1:] != [pin[1]]:
        raise GenerationError(
            f"{' '.join(version) or 'ruff'} found but the project pins "
            f"ruff=={pin[1]}, which the output is formatted with: "
            + _in_project_environment()
        )
    return command


def ruff(path: Path, text: str) -> str:
    """Sort imports, apply fixes and format, with the project's ruff settings."""
    filename = path.relative_to(ROOT).as_posix()
    # Format first so that `check` does not report the generator's long lines,
    # and again after the fixes (import sorting) so the layout is final.
    steps = (["format"], ["check", "--fix"], ["format"])
    stdin = ["--stdin-filename", filename, "-"]
    for command in steps:
        done = subprocess.run(
            [*_ruff_command(), *command, "--quiet", *stdin],
            input=text,
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        if done.returncode != 0:
            raise GenerationError(
                f"ruff {command[0]} on {filename}:\n{done.stdout}{done.stderr}"
            )
        text = done.stdout
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    check = parser.parse_args(argv).check
    try:
        files = generate()
    except GenerationError as exc:
        print(f"generate_sync: {exc}", file=sys.stderr)
        return 1
    out_dir = module_path(f"{OUTPUT_PACKAGE}.x").parent
    stale = sorted(set(out_dir.glob("*.py")) - set(files))
    changed = 0
    for path, text in sorted(files.items()):
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        if old == text:
            continue
        changed += 1
        rel = path.relative_to(ROOT).as_posix()
        if check:
            sys.stdout.writelines(
                difflib.unified_diff(
                    old.splitlines(True), text.splitlines(True), f"a/{rel}", f"b/{rel}"
                )
            )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {rel}")
    for path in stale:
        changed += 1
        rel = path.relative_to(ROOT).as_posix()
        if check:
            print(f"stale generated file: {rel}")
        else:
            path.unlink()
            print(f"removed {rel}")
    if check and changed:
        print(
            f"\n{changed} file(s) out of date: run `python scripts/generate_sync.py`",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
