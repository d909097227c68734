"""Generated structuring functions for the response classes: the hot path.

cattrs' own generated functions call one hook per field, and its ``X | None``
hook looks up the inner hook on every call. Listing pages structure tens of
thousands of objects, so for our attrs classes we generate one function per
class, once, with the checks for the field types we use written inline
(``type(v) is str``, ``None`` pass-through, nested classes called directly),
and register it on the cattrs converter as that class's hook. Any field type
not handled inline falls back to the converter's own hook for it.

The rules are the converter's (see ``_converter.py``): unknown keys go to
``extra``, missing keys take the default, values of the wrong JSON type raise
``TypeError`` (turned into ``ResponseDecodeError`` by ``structure``).

For the response classes (``_objects._BuiltOnRead``) the function reads only
the required fields and keeps the JSON object; two more generated functions
build the rest on first read: one the scalars, one every field. Measured on a
50-model page (Python 3.11): 1.0 µs per model against 3.4 µs when every
field was built here, and 0.7x the orjson decode instead of 2.4x; reading
every field afterwards costs ~20% more than building it all up front.
"""

from __future__ import annotations

import enum
import linecache
import sys
import typing
from collections.abc import Callable
from datetime import datetime, timezone
from types import MappingProxyType, UnionType
from typing import Any, Union

import attrs
import orjson

from ._objects import EMPTY, _BuiltOnRead

__all__ = ["make_structure_fn"]

Hook = Callable[[Any, Any], Any]
_NOTHING = attrs.NOTHING
_MemberDescriptor = type(type("_Slotted", (), {"__slots__": ("x",)}).x)  # type: ignore[attr-defined]
# Per shared class; cleared when full, so memory stays bounded.
_SHARED_CACHE_SIZE = 4096
_Factory: type[Any] = attrs.Factory  # type: ignore[assignment] # a class at run time
# Before 3.11, fromisoformat() rejects a trailing "Z": use the converter's hook.
_FROMISO_HANDLES_Z = sys.version_info >= (3, 11)


def _fail(what: str, value: Any) -> typing.NoReturn:
    raise TypeError(f"expected {what}, got {type(value).__name__}")


def _scalars_only(o: dict[str, Any]) -> bool:
    """Whether no value of the JSON object ``o`` is a list or an object."""
    return not any(type(value) in (list, dict) for value in o.values())


def _split_optional(type_: Any) -> tuple[Any, bool]:
    """``(X, True)`` for ``X | None``; ``(type_, False)`` otherwise."""
    origin = typing.get_origin(type_)
    if origin is Union or isinstance(type_, UnionType):
        args = typing.get_args(type_)
        if type(None) in args:
            rest = tuple(a for a in args if a is not type(None))
            inner = rest[0] if len(rest) == 1 else Union[rest]  # noqa: UP007
            return inner, True
    return type_, False


class _Builder:
    """Writes the body of one structuring function, field by field."""

    def __init__(self, get_hook: Callable[[Any], Hook]) -> None:
        self.get_hook = get_hook
        self.globals: dict[str, Any] = {
            "_fail": _fail,
            "_fromiso": datetime.fromisoformat,
            "_utc": timezone.utc,
        }
        self.lines: list[str] = []

    def name(self, prefix: str, value: Any) -> str:
        key = f"{prefix}_{len(self.globals)}"
        self.globals[key] = value
        return key

    def check(self, var: str, type_: Any, label: str) -> None:
        """Emit code that validates ``var`` in place (converting if needed)."""
        add = self.lines.append
        if type_ in (str, int, bool):
            add(f"    if type({var}) is not {type_.__name__}: _fail({label!r}, {var})")
        elif type_ is float:
            add(f"    if type({var}) is int: {var} = float({var})")
            add(f"    elif type({var}) is not float: _fail({label!r}, {var})")
        elif type_ is Any:
            pass
        elif type_ is datetime and _FROMISO_HANDLES_Z:
            # Inline rather than a hook call: two timestamps per object.
            add(f"    if type({var}) is not str: _fail('an ISO 8601 string', {var})")
            add(f"    {var} = _fromiso({var})")
            add(f"    if {var}.tzinfo is None: {var} = {var}.replace(tzinfo=_utc)")
        elif type_ is datetime:
            fn = self.name("parse", self.get_hook(datetime))
            add(f"    {var} = {fn}({var}, None)")
        elif attrs.has(type_):
            fn = self.name("struct", self.get_hook(type_))
            add(f"    {var} = {fn}({var}, None)")
        elif typing.get_origin(type_) is dict:
            add(f"    if type({var}) is not dict: _fail('a JSON object', {var})")
        elif typing.get_origin(type_) is list:
            (item,) = typing.get_args(type_) or (Any,)
            add(f"    if type({var}) is not list: _fail('a JSON array', {var})")
            if item in (str, int, bool):
                add(
                    f"    for _i in {var}:\n"
                    f"        if type(_i) is not {item.__name__}: _fail({label!r}, _i)"
                )
            elif attrs.has(item):
                fn = self.name("struct", self.get_hook(item))
                add(f"    {var} = [{fn}(_i, None) for _i in {var}]")
            elif item is not Any:
                fn = self.name("hook", self.get_hook(type_))
                typ = self.name("type", type_)
                add(f"    {var} = {fn}({var}, {typ})")
        elif (enum_cls := self._enum_or_str(type_)) is not None:
            members = self.name("members", {m.value: m for m in enum_cls})
            add(f"    if type({var}) is not str: _fail('a string', {var})")
            add(f"    {var} = {members}.get({var}, {var})")
        else:
            fn = self.name("hook", self.get_hook(type_))
            typ = self.name("type", type_)
            add(f"    {var} = {fn}({var}, {typ})")

    @staticmethod
    def _enum_or_str(type_: Any) -> type[enum.Enum] | None:
        args = typing.get_args(type_)
        if str not in args:
            return None
        for arg in args:
            if isinstance(arg, type) and issubclass(arg, enum.Enum):
                return arg
        return None


def _can_skip_init(cls: type[Any]) -> bool:
    """Whether an instance may be built by filling its slots directly."""
    if not getattr(cls, "__slots__", None) or hasattr(cls, "__attrs_post_init__"):
        return False
    for field in attrs.fields(cls):
        if field.validator is not None or field.converter is not None:
            return False
        if not isinstance(getattr(cls, field.name, None), _MemberDescriptor):
            return False
    return True


# Field types whose check is a constant-time look at the value: on first read
# of one, all such fields of the object are built together; the others
# (timestamps, nested objects, lists, extra) form a second group.
_CHEAP = (str, int, bool, float, Any)


def _is_cheap(type_: Any) -> bool:
    if type_ in _CHEAP or typing.get_origin(type_) is dict:
        return True
    return _Builder._enum_or_str(type_) is not None


def _read_field(b: _Builder, cls: type[Any], field: Any, hint: Any) -> None:
    """Emit code that reads ``o[field]`` into ``v_<name>``, checked/converted."""
    add = b.lines.append
    var = f"v_{field.name}"
    type_, optional = _split_optional(hint)
    label = f"{cls.__name__}.{field.name}"
    default = field.default
    if default is _NOTHING and not optional:
        add(f"    {var} = o[{field.name!r}]")
        b.check(var, type_, label)
        return
    # A required-but-nullable field must be present; others may be missing,
    # and a null or missing value takes the default.
    getter = f"o[{field.name!r}]" if default is _NOTHING else f"o.get({field.name!r})"
    add(f"    {var} = {getter}")
    if default is _NOTHING or default is None:
        fallback = "None"
    elif isinstance(default, _Factory):
        fallback = b.name("factory", default.factory) + "()"
    else:
        fallback = b.name("default", default)
    if fallback != "None":
        add(f"    if {var} is None: {var} = {fallback}")
        add("    else:")
    else:
        add(f"    if {var} is not None:")
    body_start = len(b.lines)
    b.check(var, type_, label)
    if len(b.lines) == body_start:
        b.lines.append("        pass")
    else:
        b.lines[body_start:] = [
            "    " + line.replace("\n", "\n    ") for line in b.lines[body_start:]
        ]


def _builds_on_read(cls: type[Any]) -> bool:
    return _can_skip_init(cls) and issubclass(cls, _BuiltOnRead)


def make_structure_fn(
    cls: type[Any],
    get_hook: Callable[[Any], Hook],
    normalize: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    share: bool = False,
) -> Hook:
    """Build the structuring function of the attrs class ``cls``.

    ``get_hook(type)`` returns the converter's hook for a type (used for
    nested classes and anything not checked inline); ``normalize`` rewrites
    older field spellings before the fields are read.

    For a ``_BuiltOnRead`` class, only the required (identifying) fields are
    read here; the function stores the JSON object and the generated
    builders of the other fields, run on first read (see ``_BuiltOnRead``).

    With ``share``, inputs with the same JSON text give the same (frozen)
    instance, from a bounded cache: a listing page repeats the same owner,
    hardware and categories in every model, and a cache hit costs a fraction
    of building the object again. The key is the input encoded again by
    orjson, so it is exact: ``1``, ``1.0`` and ``true`` (equal, and equal
    hashes, as Python values), or ``0.0`` and ``-0.0``, are different keys,
    and an object built from one server's answer is only ever handed out
    for the very same JSON. Only objects made of scalars are stored (a list
    inside could be changed through one holder and show in the other).
    Measured (``benchmarks/exact_json.py``): the encoding costs less than the
    ``tuple(o.items())`` key it replaced (whose hash also did the scalar
    check); here that check runs only when an object is stored.
    """
    hints = typing.get_type_hints(cls)
    fields = [f for f in attrs.fields(cls) if f.init]
    b = _Builder(get_hook)
    b.globals.update(
        cls=cls,
        normalize=normalize,
        known=frozenset(f.name for f in fields),
        MappingProxyType=MappingProxyType,
        EMPTY=EMPTY,
    )
    on_read = _builds_on_read(cls)
    builders: dict[str, str] = {}  # field name -> name of its builder
    groups: dict[str, str] = {}  # field name -> name of its group's builder
    if on_read:
        # Two groups, each built whole on the first read of one of its
        # fields: the cheap scalars (a type check each), and the rest
        # (timestamps, nested objects, lists, extra), which cost more.
        scalars: list[Any] = []
        built: list[Any] = []
        for field in fields:
            if field.default is _NOTHING:
                continue  # identifying fields: always read at once
            type_ = _split_optional(hints[field.name])[0]
            cheap = field.name != "extra" and _is_cheap(type_)
            (scalars if cheap else built).append(field)
        # The second group builds the scalars too: reading everything (as
        # ==, repr, asdict and unstructure do, in field order) then takes one
        # slow first read, not two. Building a scalar twice is harmless.
        for group_name, members, group in (
            ("scalars", scalars, scalars),
            ("all", built, [*scalars, *built]),
        ):
            if not members:
                continue
            group_fn = f"build_{group_name}"
            b.lines.append(f"def {group_fn}(obj, o):")
            for field in group:
                _emit_build(b, cls, field, hints[field.name])
            if group_name == "all":
                # Every field is built: let the JSON object go.
                b.lines.append("    _set_wire(obj, None)")
            for field in members:
                groups[field.name] = group_fn
            b.lines.append("")
        for field in (*scalars, *built):
            fn_name = f"build_{field.name}"
            b.lines.append(f"def {fn_name}(obj, o):")
            _emit_build(b, cls, field, hints[field.name])
            b.lines.append(f"    return v_{field.name}")
            b.lines.append("")
            builders[field.name] = fn_name
    add = b.lines.append
    add(f"def structure_{cls.__name__}(o, _=None):")
    add(f"    if type(o) is not dict: _fail('a JSON object for {cls.__name__}', o)")
    if share:
        b.globals.update(
            _cache={},
            _cache_max=_SHARED_CACHE_SIZE,
            _key=orjson.dumps,
            _scalars_only=_scalars_only,
        )
        add("    try:")
        add("        key = _key(o)")
        add("        hit = _cache.get(key)")
        add("    except TypeError:  # a big int, a lone surrogate: not shared")
        add("        key = hit = None")
        add("    if hit is not None: return hit")
    if normalize is not None:
        add("    o = normalize(o)")
    args: list[str] = []
    for field in fields:
        if field.name in builders:
            continue
        if field.name == "extra":
            _read_extra(b)
        else:
            _read_field(b, cls, field, hints[field.name])
        args.append(f"{field.name}=v_{field.name}")
    if _can_skip_init(cls):
        # Every field is checked above and none has a validator, converter or
        # post-init hook, so fill the slots directly: a frozen attrs __init__
        # pays object.__setattr__ per field (measured 1.5 vs 0.7 µs for 15).
        add("    obj = _new(cls)")
        for arg in args:
            name, value = arg.split("=", 1)
            setter = b.name("set", getattr(cls, name).__set__)
            add(f"    {setter}(obj, {value})")
        b.globals["_new"] = object.__new__
        if on_read:
            add("    _set_wire(obj, o)")
            add("    _set_build(obj, _builders)")
            b.globals["_set_wire"] = _BuiltOnRead._wire.__set__  # type: ignore[attr-defined]
            b.globals["_set_build"] = _BuiltOnRead._build.__set__  # type: ignore[attr-defined]
    else:
        add(f"    obj = cls({', '.join(args)})")
    if share:
        # Checked on a miss only: a hit was checked when it was stored.
        add("    if key is not None and _scalars_only(o):")
        add("        if len(_cache) >= _cache_max: _cache.clear()")
        add("        _cache[key] = obj")
    add("    return obj")
    source = "\n".join(b.lines) + "\n"
    filename = f"<wriftai_async structure {cls.__qualname__}>"
    # Keep the source reachable for tracebacks and debuggers.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = dict(b.globals)
    exec(compile(source, filename, "exec"), namespace)
    if on_read:
        namespace["_builders"] = (
            MappingProxyType({f: namespace[fn] for f, fn in groups.items()}),
            MappingProxyType({f: namespace[fn] for f, fn in builders.items()}),
        )
    fn: Hook = namespace[f"structure_{cls.__name__}"]
    return fn


def _emit_build(b: _Builder, cls: type[Any], field: Any, hint: Any) -> None:
    """Emit code that reads one field and stores it in its slot."""
    if field.name == "extra":
        _read_extra(b)
    else:
        _read_field(b, cls, field, hint)
    setter = b.name("set", getattr(cls, field.name).__set__)
    b.lines.append(f"    {setter}(obj, v_{field.name})")


def _read_extra(b: _Builder) -> None:
    # The subset test allocates nothing; most objects have no unknown keys.
    b.lines.append("    if o.keys() <= known: v_extra = EMPTY")
    b.lines.append(
        "    else: v_extra = MappingProxyType({k: o[k] for k in o.keys() - known})"
    )
