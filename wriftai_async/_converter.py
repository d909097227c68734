"""The one cattrs converter that turns wire JSON into objects and back.

Every wire decision lives in :func:`configure_converter`:

- **Timestamps** are ISO 8601 strings (the service sends
  ``2025-08-13T11:48:44.371093Z``); they become aware ``datetime`` objects
  (a timestamp without a zone is taken as UTC) and go back out in ISO 8601.
- **Scalars** are checked, not converted: ``"3"`` is not an int, ``3`` not a
  str; an int is accepted where a float belongs.
- **Unknown fields** are never an error. They are kept, untouched, in each
  object's ``extra`` mapping and written back out by ``unstructure``, so
  nothing the server sent is lost.
- **Missing fields** take the class default (``None`` for every optional
  field), and so does ``null``. Only identifying fields (a model's ``id`` and
  ``name``, a prediction's ``id`` and ``status``, ...) are required.
- **Enums** (``Visibility``, ``PredictionStatus``) accept values this version
  does not know: they stay plain ``str``.
- **Renamed fields**: newer servers call a user's ``id``/``username``
  ``account_id``/``name`` and the display name ``display_name`` (older: ``name``),
  and a hardware's ``ram_per_gpu_gb``/``ram_gb`` ``vram_gb``/``ram_gib``. Both
  spellings land in the same attribute (see ``_RENAMES``).
- **Free-form JSON** (schemas, prediction input and output, metrics) is passed
  through as decoded, not copied. Lists must be JSON arrays.
- **Built on first read**: structuring checks the identifying fields; every
  other field is built by its type's hook here when first read (see
  ``_onread.py``, which holds all of that machinery).
- Anything that does not fit (a string where an object belongs, a missing
  ``id``) raises :class:`~wriftai_async.ResponseDecodeError`, from
  :func:`structure` or from the first read of the field, never ``KeyError``
  or ``TypeError``.

This converter is private (``structure`` and ``unstructure`` are the public
surface). Each rule is written once, as the hook registered for its type;
the response classes' generated functions call those same hooks.
"""

from __future__ import annotations

import sys
import typing
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar, overload

import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from . import _objects as o
from ._errors import ResponseDecodeError
from ._onread import BuiltOnRead, make_structure_fn, passes
from ._repr import cause_text

__all__ = ["configure_converter", "converter", "make_converter", "structure"]

T = TypeVar("T")

_Normalizer = Callable[[dict[str, Any]], dict[str, Any]]
Hook = Callable[[Any, Any], Any]


def _normalize_user(data: dict[str, Any]) -> dict[str, Any]:
    if "username" in data:
        # Older spelling: "name" is the display name.
        if "name" in data and "display_name" not in data:
            data = dict(data)
            data["display_name"] = data.pop("name")
        return data
    data = dict(data)
    if "name" in data:
        data["username"] = data.pop("name")
    if "account_id" in data and "id" not in data:
        data["id"] = data.pop("account_id")
    return data


def _renamer(renames: Mapping[str, str]) -> _Normalizer:
    """Map old field names to current ones, unless the current one is there."""

    old_names = frozenset(renames)

    def normalize(data: dict[str, Any]) -> dict[str, Any]:
        if old_names.isdisjoint(data):
            return data
        data = dict(data)
        for old, new in renames.items():
            if old in data and new not in data:
                data[new] = data.pop(old)
        return data

    return normalize


def _nest_compatibilities(data: dict[str, Any]) -> dict[str, Any]:
    """A version's flags at the top level go under ``compatibilities``.

    The official client's ``ModelVersionWithDetails`` nests them, and so does
    the recorded answer to a version's create; the recorded answer to its
    get sends them at the top level. A nested mapping wins over stray flags.
    """
    flat = o.COMPATIBILITY_FLAGS.intersection(data)
    if not flat:
        return data
    data = dict(data)
    flags = {key: data.pop(key) for key in sorted(flat)}
    if data.get("compatibilities") is None:
        data["compatibilities"] = flags
    return data


_RENAMES: dict[type[Any], _Normalizer] = {
    o.User: _normalize_user,
    o.Hardware: _renamer({"ram_per_gpu_gb": "vram_gb", "ram_gb": "ram_gib"}),
    o.ModelVersionDetails: _nest_compatibilities,
}

_ENUMS_OR_STR: tuple[type[Any], ...] = (o.Visibility, o.PredictionStatus)
_UTC = timezone.utc

if sys.version_info >= (3, 11):
    _fromisoformat = datetime.fromisoformat  # the service's "...371093Z" too
else:

    def _fromisoformat(value: str) -> datetime:
        # 3.10's fromisoformat rejects a trailing "Z".
        if value[-1:] in ("Z", "z"):
            value = value[:-1] + "+00:00"
        return datetime.fromisoformat(value)


def _parse_datetime(value: Any, _: Any = None) -> datetime:
    # fromisoformat raises TypeError for anything but a str, ValueError for
    # a str it cannot read: both are decode errors.
    parsed = _fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_UTC)


def _format_datetime(value: datetime) -> str:
    return value.isoformat()


def _enum_or_str(type_: Any) -> type[Any] | None:
    """The enum of ``Enum | str`` (one of ours), else ``None``."""
    args = typing.get_args(type_)
    for enum_cls in _ENUMS_OR_STR:
        if enum_cls in args and str in args:
            return enum_cls
    return None


def _enum_or_str_hook(enum_cls: type[Any]) -> Hook:
    members = {member.value: member for member in enum_cls}

    def structure_enum_or_str(value: Any, _: Any = None) -> Any:
        if type(value) is not str:
            raise TypeError(f"expected a string, got {type(value).__name__}")
        return members.get(value, value)

    return structure_enum_or_str


def _enum_value(member: Any) -> str:
    return str(member.value)


def _json_object(value: Any, _: Any = None) -> Any:
    if type(value) is not dict:
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    return value  # passed through as decoded, not copied


def _strict_scalar(kind: type[Any]) -> Hook:
    """A check, not a conversion: ``"3"`` is not silently an int, nor 3 a str."""
    if kind is float:

        def structure_float(value: Any, _: Any = None) -> float:
            if type(value) is float:
                return value
            if type(value) is int:
                return float(value)
            raise TypeError(f"expected a number, got {type(value).__name__}")

        return passes(float, structure_float)

    def structure_scalar(value: Any, _: Any = None) -> Any:
        if type(value) is kind:
            return value
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")

    return passes(kind, structure_scalar)


def _list_hook(conv: cattrs.Converter, type_: Any) -> Hook:
    # cattrs' own list hook takes any iterable (a string, a dict's keys).
    (item_type,) = typing.get_args(type_) or (Any,)
    item = conv.get_structure_hook(item_type)

    def structure_list(value: Any, _: Any = None) -> list[Any]:
        if type(value) is not list:
            raise TypeError(f"expected a JSON array, got {type(value).__name__}")
        return [item(i, item_type) for i in value]

    return structure_list


# Small leaf objects repeated across a listing (every model of a page has the
# same owner and often the same hardware and categories): inputs with the
# same JSON text (type-exact: 1, 1.0 and true differ) share one frozen
# instance. Measured on a 50-model page of one owner: 7.0 -> 3.8 µs per model.
_SHARED: frozenset[type[Any]] = frozenset(
    {o.Category, o.Hardware, o.User, o.PredictionModel}
)


def _make_unstructure_fn(cls: type[Any], conv: cattrs.Converter) -> Any:
    base = make_dict_unstructure_fn(cls, conv, extra=override(omit=True))

    def unstructure(obj: Any) -> dict[str, Any]:
        data = base(obj)
        if obj.extra:
            return {**obj.extra, **data}
        return data

    return unstructure


def _is_list(type_: Any) -> bool:
    origin: Any = typing.get_origin(type_)
    return origin is list


def _is_response(type_: Any) -> bool:
    return isinstance(type_, type) and issubclass(type_, BuiltOnRead)


def configure_converter(conv: cattrs.Converter) -> None:
    """Install the wire rules listed in this module's docstring on ``conv``.

    One hook per type; the response classes' functions (``_onread.py``)
    take every field's rule from ``conv`` when they are made, so a hook
    registered here before the first structure of a class is the one used.
    """
    for kind in (str, int, float, bool):
        conv.register_structure_hook(kind, _strict_scalar(kind))
    conv.register_structure_hook(datetime, _parse_datetime)
    conv.register_unstructure_hook(datetime, _format_datetime)
    conv.register_structure_hook_func(
        lambda t: t == dict[str, Any], passes(dict, _json_object)
    )
    conv.register_structure_hook_factory(
        lambda t: _enum_or_str(t) is not None,
        lambda t: _enum_or_str_hook(_enum_or_str(t)),  # type: ignore[arg-type]
    )
    for enum_cls in _ENUMS_OR_STR:
        conv.register_structure_hook(enum_cls, _enum_or_str_hook(enum_cls))
        conv.register_unstructure_hook(enum_cls, _enum_value)
    conv.register_structure_hook_factory(_is_list, lambda t: _list_hook(conv, t))
    conv.register_structure_hook_factory(
        _is_response,
        lambda cls: make_structure_fn(
            cls, conv.get_structure_hook, _RENAMES.get(cls), share=cls in _SHARED
        ),
    )
    conv.register_unstructure_hook_factory(
        _is_response, lambda cls: _make_unstructure_fn(cls, conv)
    )


def make_converter() -> cattrs.Converter:
    """A new converter with the wire rules; most code uses :data:`converter`."""
    conv = cattrs.Converter(detailed_validation=False)
    configure_converter(conv)
    return conv


converter = make_converter()


@overload
def structure(data: Any, cls: type[T]) -> T: ...


@overload
def structure(data: Any, cls: Any) -> Any: ...


# Overloaded: with ``cls: type[T] | Any`` alone, mypy inferred no ``T`` from a
# class (``structure(data, Model)`` was "Need type annotation").
def structure(data: Any, cls: Any) -> Any:
    """Structure decoded JSON into ``cls``; any mismatch is a ResponseDecodeError.

    The objects keep ``data`` until their fields are read: do not change it
    afterwards. A mismatch in a field built on first read is raised then.
    """
    try:
        return converter.structure(data, cls)
    except Exception as exc:  # anything the data can provoke is a decode error
        name = getattr(cls, "__name__", str(cls))
        raise ResponseDecodeError(
            f"the response does not describe a {name}: {type(exc).__name__}: "
            f"{cause_text(exc)}"
        ) from exc


def unstructure(obj: Any) -> Any:
    """The JSON-ready form of an object (``extra`` fields included)."""
    return converter.unstructure(obj)
