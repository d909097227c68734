"""Response objects whose fields are built when first read: all of it here.

Structuring a response (:func:`make_structure_fn`) checks and stores only the
identifying fields (a model's ``id`` and ``name``) and keeps the decoded JSON
object; every other field is built on its own the first time it is read, by
the converter's hook for its type (the same rules, registered once, in
``_converter.py``), then stored in its slot. Reading ``model.created_at``
parses one timestamp; reading ``model.owner`` builds the owner and nothing
else. A field whose hook passes its value unchanged (a str, an int: see
:func:`passes`) is checked and read from the JSON object each time, nothing
stored. Once every other field is built, those are stored too and the object
lets the JSON object go (so do not change a dict after passing it to
``structure``).

How a field knows whether it is built: each such field is a property in
front of attrs' slot, and the object keeps a bit mask of its built fields.
Measured on Python 3.11: a first read costs ~0.2 µs above the hook itself,
against ~0.37 µs for the ``__getattr__`` on an empty slot this replaced (the
``AttributeError`` a slot raises, message and all); a field read again costs
~0.1 µs against ~0.02 µs for a bare slot: a listing read once is the case
this is built for.

A field the server sent malformed raises
:class:`~wriftai_async.ResponseDecodeError` when it is read, every time, and
only then: ``==``, ``hash``, ``repr`` and pickling never raise. They compare,
hash, show and copy a malformed field as the raw JSON value it came from
(``repr`` shows ``<malformed>``), and an unpickled or copied object still
builds its unread fields when they are read.
"""

from __future__ import annotations

import linecache
import typing
from collections.abc import Callable, Mapping
from types import MappingProxyType, UnionType
from typing import Any, ClassVar, Union

import attrs
import orjson

from ._errors import ResponseDecodeError
from ._repr import cause_text

__all__ = ["EMPTY", "BuiltOnRead", "install", "make_structure_fn", "passes"]

Hook = Callable[[Any, Any], Any]
GetHook = Callable[[Any], Hook]
#: How a field is built: (hook, the type it is called with, the type the
#: hook passes unchanged, default, factory).
Rule = tuple[Hook, Any, Any, Any, Any]
_Factory: type[Any] = attrs.Factory  # type: ignore[assignment] # a class at run time
_WHOLE = object()  # as a rule's factory: the hook takes the whole JSON object

#: Shared, read-only default for ``extra``: most objects have no unknown
#: fields, and one empty mapping for all of them costs no allocation.
EMPTY: Mapping[str, Any] = MappingProxyType({})

#: Per shared class; cleared when full, so memory stays bounded.
SHARED_CACHE_SIZE = 4096
_ALL_BUILT = -1  # the mask of an object made by __init__ or fully unpickled


class BuiltOnRead:
    """Base of the response classes (see the module docstring)."""

    __slots__ = ("_built", "_rules", "_wire")
    #: The fields ``==`` and ``hash`` read (set by :func:`install`).
    _compared: ClassVar[tuple[str, ...]] = ()

    def __attrs_post_init__(self) -> None:
        # Made by __init__ (a user's object, attrs.evolve): every field is set.
        _set_built(self, _ALL_BUILT)
        _set_wire(self, None)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        # Tuples, as attrs compares: a value is equal to itself (NaN too).
        names = type(self)._compared
        return tuple(_lenient(self, n) for n in names) == tuple(
            _lenient(other, n) for n in names
        )

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        # attrs would hash a tuple of the fields, which raises TypeError as
        # soon as one holds a list or dict (a user's ``urls``): unhashable
        # values count as one constant (``==`` tells them apart), so equal
        # objects still hash alike and hashing never fails.
        names = type(self)._compared
        return hash((type(self), *(_field_hash(_lenient(self, n)) for n in names)))

    def __reduce__(self) -> tuple[Any, ...]:
        # What is built, and the JSON object for the rest: never a build.
        # ``extra`` is a mappingproxy, which pickle refuses: a dict instead.
        state: dict[str, Any] = {}
        for field in attrs.fields(type(self)):  # type: ignore[arg-type]
            try:
                value = _slot_of(type(self), field.name).__get__(self)
            except AttributeError:
                continue  # not built yet: the JSON object still has it
            state[field.name] = dict(value) if field.name == "extra" else value
        return (_unpickle, (type(self), state, _wire_or_none(self)))


_set_built = BuiltOnRead._built.__set__  # type: ignore[attr-defined]
_set_wire = BuiltOnRead._wire.__set__  # type: ignore[attr-defined]
_get_wire = BuiltOnRead._wire.__get__  # type: ignore[attr-defined]
_set_rules = BuiltOnRead._rules.__set__  # type: ignore[attr-defined]


def _wire_or_none(obj: Any) -> dict[str, Any] | None:
    try:
        return _get_wire(obj)  # type: ignore[no-any-return]
    except AttributeError:  # made by object.__new__ and never filled
        return None


def _lazy_field(slot: Any, name: str, index: int) -> property:
    """The property in front of one field's slot: builds it on first read.

    A property, not a descriptor class: CPython calls its getter without
    the generic ``__get__`` protocol (measured ~0.1 µs less per read). The
    build is written out here rather than in a helper: one call less.
    """
    get_slot, set_slot = slot.__get__, slot.__set__
    bit = 1 << index

    def read(obj: Any) -> Any:
        if obj._built & bit:
            return get_slot(obj)
        wire = obj._wire
        if wire is None:  # another thread built the last field meanwhile
            return get_slot(obj)
        full, rules, as_sent = obj._rules
        hook, hook_type, unchanged, default, factory = rules[index]
        value = wire if factory is _WHOLE else wire.get(name)
        if type(value) is unchanged:
            # A value its hook passes unchanged (a str, an int): read from the
            # JSON object every time, nothing to store (measured 0.07 against
            # 0.2 µs a first read).
            return value
        if value is None:
            value = default if factory is None else factory()
        else:
            try:
                value = hook(value, hook_type)
            except Exception as exc:  # anything the data can provoke
                raise ResponseDecodeError(
                    f"the response does not describe a {type(obj).__name__}: "
                    f"field {name!r}: {type(exc).__name__}: {cause_text(exc)}"
                ) from exc
        if unchanged is not None:
            return value  # read from the JSON object too: not stored
        set_slot(obj, value)
        # Two threads racing can lose a bit (the field is then built again,
        # equal), never set one for an empty slot.
        built = obj._built | bit
        _set_built(obj, built)
        if built & full == full:
            _settle(obj, wire, rules, as_sent)
        return value

    # attrs' __init__ (object.__setattr__) stores through the setter.
    field = property(read, set_slot, doc=f"``{name}``, built on first read.")
    _FIELDS[field] = (slot, bit)
    return field


def _settle(obj: Any, wire: dict[str, Any], rules: Any, as_sent: Any) -> None:
    """Every other field is built: store the ones read from the JSON object,
    then let it go. One that is malformed keeps it (it raises when read)."""
    built = 0
    for index, name, set_slot in as_sent:
        hook, hook_type, unchanged, default, _ = rules[index]
        value = wire.get(name)
        if value is None:
            value = default
        elif type(value) is not unchanged:
            try:
                value = hook(value, hook_type)
            except Exception:
                return
        set_slot(obj, value)
        built |= 1 << index
    _set_built(obj, obj._built | built)
    _set_wire(obj, None)


#: Each lazy field's property -> (attrs' slot, its bit in ``_built``).
_FIELDS: dict[property, tuple[Any, int]] = {}


class _Malformed:
    """What ``==`` and ``hash`` compare in place of a field that cannot be built."""

    __slots__ = ("raw",)

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Malformed):
            return NotImplemented
        return other.raw is self.raw or bool(other.raw == self.raw)

    __hash__ = None  # type: ignore[assignment] # hashed as a constant


def _lenient(obj: Any, name: str) -> Any:
    try:
        return getattr(obj, name)
    except ResponseDecodeError:
        wire = _wire_or_none(obj)
        return _Malformed(wire.get(name) if wire is not None else None)


def _field_hash(value: Any) -> int:
    try:
        return hash(value)
    except TypeError:  # a list, a dict, a malformed field: one constant
        return 0


def _slot_of(cls: type[Any], name: str) -> Any:
    slot = getattr(cls, name)
    return _FIELDS[slot][0] if slot in _FIELDS else slot


def _unpickle(cls: type[Any], state: dict[str, Any], wire: Any) -> Any:
    obj = object.__new__(cls)
    built = 0
    for name, value in state.items():
        if name == "extra":
            value = MappingProxyType(value) if value else EMPTY
        _slot_of(cls, name).__set__(obj, value)
        built |= _FIELDS.get(getattr(cls, name), (None, 0))[1]
    if wire is None:
        built = _ALL_BUILT
    else:
        # The default converter's rules build what was not built yet.
        from ._converter import converter

        structure: Any = converter.get_structure_hook(cls)
        _set_rules(obj, structure.rules)
    _set_built(obj, built)
    _set_wire(obj, wire)
    return obj


def install(cls: type[Any]) -> None:
    """Put a property in front of every optional field of a response class.

    The identifying fields (no default) stay bare slots: structuring always
    sets them. Inherited fields keep their parent's property. Any other
    attrs class (``Page``, ``StreamEvent``) gets the hash that a list field
    cannot break.
    """
    cls._compared = tuple(f.name for f in attrs.fields(cls) if f.eq)
    if not issubclass(cls, BuiltOnRead):
        cls.__hash__ = BuiltOnRead.__hash__  # type: ignore[assignment]
        return
    for index, field in enumerate(attrs.fields(cls)):  # type: ignore[arg-type]
        if field.default is attrs.NOTHING:
            continue
        current = cls.__dict__.get(field.name)
        if current is None:  # inherited: the parent's property, same bit
            assert _FIELDS[getattr(cls, field.name)][1] == 1 << index
        elif current not in _FIELDS:
            setattr(cls, field.name, _lazy_field(current, field.name, index))


def passes(kind: type[Any], hook: Hook) -> Hook:
    """Declare that ``hook`` returns a value of exactly type ``kind`` unchanged.

    The generated code then skips the call for such a value (measured ~0.05
    µs a field), and calls the hook for anything else: the rule stays the
    hook's. A hook without the declaration is always called.
    """
    hook.passes = kind  # type: ignore[attr-defined]
    return hook


def _optional_inner(type_: Any) -> Any:
    """``X`` for ``X | None`` (the rest of the union), else ``None``."""
    if typing.get_origin(type_) is Union or isinstance(type_, UnionType):
        args = typing.get_args(type_)
        if type(None) in args:
            rest = tuple(a for a in args if a is not type(None))
            return rest[0] if len(rest) == 1 else Union[rest]  # noqa: UP007
    return None


def _rule(field: Any, hint: Any, known: frozenset[str], get_hook: GetHook) -> Rule:
    """How one field is built (see ``Rule``): a missing or null value takes
    the default (or the factory's new value), anything else goes through the
    converter's hook for the field's type (``X`` for ``X | None``)."""
    if field.name == "extra":

        def build_extra(o: dict[str, Any], _: Any) -> Mapping[str, Any]:
            # Every key the class has no field for. The subset test
            # allocates nothing, and most objects have no unknown keys.
            if o.keys() <= known:
                return EMPTY
            return MappingProxyType({k: o[k] for k in o.keys() - known})

        return (build_extra, None, None, None, _WHOLE)
    inner = _optional_inner(hint)
    hook_type = hint if inner is None else inner
    hook = get_hook(hook_type)
    unchanged = getattr(hook, "passes", None)
    default = field.default
    if isinstance(default, _Factory):
        return (hook, hook_type, unchanged, None, default.factory)
    return (hook, hook_type, unchanged, default, None)


def _scalars_only(o: dict[str, Any]) -> bool:
    return not any(type(value) in (list, dict) for value in o.values())


def _not_an_object(cls: type[Any], o: Any) -> typing.NoReturn:
    got = type(o).__name__
    raise TypeError(f"expected a JSON object for {cls.__name__}, got {got}")


def make_structure_fn(
    cls: type[Any],
    get_hook: GetHook,
    normalize: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    share: bool = False,
) -> Hook:
    """The structuring function of the response class ``cls``.

    ``get_hook(type)`` is the converter's hook for a type: the identifying
    fields are checked with it now, the others when first read (their rules
    are taken now, so a hook registered later is not seen).
    ``normalize`` rewrites older field spellings first.

    With ``share``, inputs with the same JSON text give the same (frozen)
    instance, from a bounded cache: a listing page repeats the same owner,
    hardware and categories in every model, and a hit costs a fraction of
    building the object again. The key is the input encoded again by orjson,
    so it is exact: ``1``, ``1.0`` and ``true`` (equal as Python values), or
    ``0.0`` and ``-0.0``, are different keys. Only objects made of scalars are
    stored (a list inside could be changed through one holder and show in
    the other). Measured (``benchmarks/exact_json.py``): the encoding costs
    less than a ``tuple(o.items())`` key would.

    The function is generated (as cattrs' own are): one line per identifying
    field, no loop, measured ~0.1 µs a model less than a generic one.
    """
    hints = typing.get_type_hints(cls)
    fields = attrs.fields(cls)
    known = frozenset(f.name for f in fields)
    rules = tuple(
        None if f.default is attrs.NOTHING else _rule(f, hints[f.name], known, get_hook)
        for f in fields
    )
    # Stored when first read: the fields whose hook makes something new.
    full = sum(1 << i for i, r in enumerate(rules) if r is not None and r[2] is None)
    as_sent = tuple(
        (i, f.name, _slot_of(cls, f.name).__set__)
        for i, (f, r) in enumerate(zip(fields, rules, strict=True))
        if r is not None and r[2] is not None
    )
    cache: dict[bytes, Any] = {}
    names: dict[str, Any] = {
        "cls": cls,
        "new": object.__new__,
        "fail": _not_an_object,
        "normalize": normalize,
        "rules": (full, rules, as_sent),
        "set_wire": _set_wire,
        "set_rules": _set_rules,
        "set_built": _set_built,
        "cache": cache,
        "cache_max": SHARED_CACHE_SIZE,
        "key_of": orjson.dumps,
        "scalars_only": _scalars_only,
    }
    lines = [
        "def structure(o, _=None):",
        "    if type(o) is not dict: fail(cls, o)",
    ]
    if share:
        lines += [
            "    try:",
            "        key = key_of(o)",
            "        hit = cache.get(key)",
            "    except TypeError:  # a big int, a lone surrogate: not shared",
            "        key = hit = None",
            "    if hit is not None: return hit",
        ]
    if normalize is not None:
        lines.append("    o = normalize(o)")
    lines.append("    obj = new(cls)")
    for i, field in enumerate(fields):
        if rules[i] is None:  # identifying: checked and stored now
            hook = names[f"hook_{i}"] = get_hook(hints[field.name])
            names[f"type_{i}"] = hints[field.name]
            names[f"set_{i}"] = _slot_of(cls, field.name).__set__
            lines.append(f"    v = o[{field.name!r}]")
            if hasattr(hook, "passes"):
                names[f"unchanged_{i}"] = hook.passes
                lines.append(f"    if type(v) is not unchanged_{i}:")
                lines.append(f"        v = hook_{i}(v, type_{i})")
            else:
                lines.append(f"    v = hook_{i}(v, type_{i})")
            lines.append(f"    set_{i}(obj, v)")
    lines += ["    set_wire(obj, o)", "    set_rules(obj, rules)"]
    lines.append("    set_built(obj, 0)")
    if share:
        lines += [
            "    if key is not None and scalars_only(o):",
            "        if len(cache) >= cache_max: cache.clear()",
            "        cache[key] = obj",
        ]
    lines.append("    return obj")
    source = "\n".join(lines) + "\n"
    filename = f"<wriftai_async structure {cls.__qualname__}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), names)
    structure: Hook = names["structure"]
    structure.rules = (full, rules, as_sent)  # type: ignore[attr-defined] # unpickling
    structure.cache = cache  # type: ignore[attr-defined]
    return structure
