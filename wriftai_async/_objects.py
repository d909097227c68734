"""What the server returns: frozen, slotted attrs classes.

The classes hold the *canonical* spelling of each field. The service renamed
some fields over time (see ``_converter.py``, which maps both spellings here),
adds new ones, and adds enum values: every class therefore keeps what it does
not model in ``extra``, every field but the identifying ones is optional, and
enum-typed fields accept any string (``Visibility | str``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from ._errors import ResponseDecodeError
from ._repr import bounded_reprs, cause_text

__all__ = [
    "COMPATIBILITY_FLAGS",
    "TERMINAL_STATUSES",
    "Category",
    "Hardware",
    "Model",
    "ModelDetails",
    "ModelVersion",
    "ModelVersionDetails",
    "Page",
    "Prediction",
    "PredictionDetails",
    "PredictionError",
    "PredictionModel",
    "PredictionStatus",
    "SortBy",
    "SortDirection",
    "StreamEvent",
    "Upload",
    "UploadCompletion",
    "User",
    "Variable",
    "VersionConfiguration",
    "Visibility",
]

T = TypeVar("T")

#: Shared, read-only default for ``extra``: most objects have no unknown
#: fields, and one empty mapping for all of them costs no allocation.
EMPTY: Mapping[str, Any] = MappingProxyType({})


class _BuiltOnRead:
    """Base of the response classes: some fields are built when first read.

    Structuring checks and stores the identifying fields (a model's ``id``
    and ``name``) and keeps the decoded JSON object; every other field is
    built from it on first read (``__getattr__`` runs only while its slot is
    still empty), then stored like any other field. Reading a scalar
    (string, number, enum, free-form JSON) builds all the scalars; reading
    any other field (timestamp, nested object, list, ``extra``) builds every
    field. A listing whose items are only counted or picked by name pays for
    neither. Until every field is built, the object holds on to its decoded
    JSON object (so do not change a dict after passing it to ``structure``).

    Everything that reads fields (``==``, ``hash``, ``repr``, pickling,
    ``attrs.asdict``, ``unstructure``) builds them first, so none of it can
    tell the difference. A field the server sent malformed raises
    :class:`~wriftai_async.ResponseDecodeError` on that first read.
    """

    __slots__ = ("_build", "_wire")

    if not TYPE_CHECKING:  # mypy would otherwise accept any attribute name

        def __getattr__(self, name: str) -> Any:
            try:
                groups, builders = _BUILD_OF(self)
                build_group = groups[name]
            except (AttributeError, KeyError):
                raise AttributeError(
                    f"{type(self).__name__!r} object has no attribute {name!r}"
                ) from None
            wire = _WIRE_OF(self)
            if wire is None:  # another thread built every field meanwhile
                return object.__getattribute__(self, name)
            try:
                # The field's whole group at once: reaching here costs more
                # than building one field, and a caller who reads one field
                # usually reads its neighbours.
                build_group(self, wire)
                return object.__getattribute__(self, name)  # set now
            except Exception:
                pass  # one is malformed: build this one alone, say which
            try:
                return builders[name](self, wire)
            except ResponseDecodeError:
                raise
            except Exception as exc:  # anything the data can provoke
                raise ResponseDecodeError(
                    f"the response does not describe a {type(self).__name__}: "
                    f"field {name!r}: {type(exc).__name__}: {cause_text(exc)}"
                ) from exc

    def __reduce__(self) -> tuple[Any, ...]:
        # attrs' own pickling would copy ``extra``, a mappingproxy, which
        # pickle refuses: hand it over as a dict. Reading every field here
        # builds the ones not read yet.
        fields = attrs.fields(type(self))  # type: ignore[arg-type]
        state = {a.name: getattr(self, a.name) for a in fields}
        if "extra" in state:
            state["extra"] = dict(state["extra"])
        return (_unpickle, (type(self), state))


def _unpickle(cls: type[Any], state: dict[str, Any]) -> Any:
    obj = object.__new__(cls)
    if "extra" in state:
        state["extra"] = MappingProxyType(state["extra"]) if state["extra"] else EMPTY
    for name, value in state.items():
        object.__setattr__(obj, name, value)  # frozen: bypass its __setattr__
    return obj


_BUILD_OF = _BuiltOnRead._build.__get__  # type: ignore[attr-defined]
_WIRE_OF = _BuiltOnRead._wire.__get__  # type: ignore[attr-defined]


def _extra() -> Any:
    # Not part of __init__'s useful surface, not compared: two objects that
    # differ only in fields we do not model are still the same object to us.
    return attrs.field(default=EMPTY, eq=False, repr=False, kw_only=True)


class Visibility(str, enum.Enum):
    """Who can see a model. Unknown values from the server stay plain strings."""

    PRIVATE = "private"
    PUBLIC = "public"
    RESTRICTED = "restricted"

    def __str__(self) -> str:
        return self.value


class PredictionStatus(str, enum.Enum):
    """The life cycle of a prediction.

    ``pending`` → ``starting`` → ``started`` → one of the terminal statuses
    ``succeeded``, ``failed``, ``cancelled``, ``abandoned``. Members compare
    equal to their string value, so ``prediction.status == "succeeded"`` works.
    """

    PENDING = "pending"
    STARTING = "starting"
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"

    def __str__(self) -> str:
        return self.value


#: The statuses after which a prediction never changes again.
TERMINAL_STATUSES: frozenset[str] = frozenset(
    {"succeeded", "failed", "cancelled", "abandoned"}
)


class SortBy(str, enum.Enum):
    """Orders for model listings."""

    CREATED_AT = "created_at"
    PREDICTIONS_COUNT = "predictions_count"

    def __str__(self) -> str:
        return self.value


class SortDirection(str, enum.Enum):
    """Ascending or descending."""

    ASC = "asc"
    DESC = "desc"

    def __str__(self) -> str:
        return self.value


@attrs.frozen(kw_only=True)
class Category(_BuiltOnRead):
    """A model category, such as ``{"name": "Text to image", "slug": ...}``.

    ``description`` comes with the category listing (``categories.list``);
    a model's own categories carry only the name and slug.
    """

    name: str
    slug: str
    description: str | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class User(_BuiltOnRead):
    """A WriftAI user.

    Embedded in a model as its owner with only ``id``, ``username`` and
    ``avatar_url``; the user endpoints fill in the rest. Newer servers call
    ``id``/``username``/``display_name`` ``account_id``/``name``/
    ``display_name``; older ones ``id``/``username``/``name``. Both arrive here.
    """

    id: str | None = None
    username: str
    avatar_url: str | None = None
    display_name: str | None = None
    bio: str | None = None
    urls: list[str] | None = None
    location: str | None = None
    company: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class Hardware(_BuiltOnRead):
    """Hardware a model runs on.

    Older servers spell ``vram_gb``/``ram_gib`` as ``ram_per_gpu_gb``/
    ``ram_gb``; both are mapped here.
    """

    identifier: str
    name: str | None = None
    gpus: int | None = None
    cpus: int | None = None
    vram_gb: float | None = None
    ram_gib: float | None = None
    description: str | None = None
    created_at: datetime | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class ModelVersion(_BuiltOnRead):
    """A version of a model, as listed."""

    number: int
    release_notes: str | None = None
    created_at: datetime | None = None
    container_image_digest: str | None = None
    size: int | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class VersionConfiguration(_BuiltOnRead):
    """How a version runs (newer servers): its hardware and variables."""

    hardware_identifier: str | None = None
    variable_names: list[str] | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class Variable(_BuiltOnRead):
    """A named variable of your account, attached to versions by name.

    ``key`` is the environment variable name the model sees and ``value`` its
    value. The value of a secret (``secret=True``) is never sent back: it
    arrives as an empty string.
    """

    name: str
    key: str | None = None
    value: str | None = None
    secret: bool | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extra: Mapping[str, Any] = _extra()


#: The compatibility flags of a version, as the service names them.
COMPATIBILITY_FLAGS: frozenset[str] = frozenset(
    {
        "anthropic_messages",
        "openai_chat_completions",
        "openai_embeddings",
        "openai_images_generations",
        "openai_responses",
    }
)


@attrs.frozen(kw_only=True)
class ModelVersionDetails(ModelVersion):
    """A version with its schemas.

    ``schemas`` is the JSON as sent, e.g.
    ``{"prediction": {"input": {...}, "output": {...}}}``: JSON Schemas are
    free-form and passed through untouched.

    ``compatibilities`` maps each flag (``openai_chat_completions``, ...) to
    a bool. The service sends them nested under ``compatibilities`` when a
    version is created and at the top level when it is read: both arrive
    here (flags at the top level are not also kept in ``extra``).
    """

    schemas: dict[str, Any] | None = None
    configuration: VersionConfiguration | None = None
    compatibilities: dict[str, Any] | None = None

    @property
    def input_schema(self) -> dict[str, Any] | None:
        """The JSON Schema of a prediction's input, when the server sent one."""
        return _schema_part(self.schemas, "input")

    @property
    def output_schema(self) -> dict[str, Any] | None:
        """The JSON Schema of a prediction's output, when the server sent one."""
        return _schema_part(self.schemas, "output")


def _schema_part(schemas: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    prediction = (schemas or {}).get("prediction")
    part = prediction.get(key) if isinstance(prediction, dict) else None
    return part if isinstance(part, dict) else None


@attrs.frozen(kw_only=True)
class Model(_BuiltOnRead):
    """A model, as it appears in listings."""

    id: str
    name: str
    owner: User | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    visibility: Visibility | str | None = None
    description: str | None = None
    predictions_count: int | None = None
    categories: list[Category] = attrs.field(factory=list)
    hardware: Hardware | None = None
    source_url: str | None = None
    license_url: str | None = None
    paper_url: str | None = None
    cover_image_url: str | None = None
    extra: Mapping[str, Any] = _extra()

    @property
    def full_name(self) -> str:
        """``owner/name``, the identifier the resource methods take."""
        owner = self.owner.username if self.owner is not None else "?"
        return f"{owner}/{self.name}"


@attrs.frozen(kw_only=True)
class ModelDetails(Model):
    """A model with its overview and latest version (get, create, update)."""

    overview: str | None = None
    latest_version: ModelVersionDetails | None = None


@attrs.frozen(kw_only=True)
class PredictionModel(_BuiltOnRead):
    """Which model (and version) a prediction ran on."""

    owner: str | None = None
    name: str | None = None
    version_number: int | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class PredictionError(_BuiltOnRead):
    """Why a prediction failed: ``source`` is ``internal`` or ``external``."""

    source: str | None = None
    message: str | None = None
    detail: Any = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class Prediction(_BuiltOnRead):
    """A prediction, as listed."""

    id: str
    status: PredictionStatus | str
    created_at: datetime | None = None
    updated_at: datetime | None = None
    setup_time: str | None = None
    execution_time: str | None = None
    model: PredictionModel | None = None
    extra: Mapping[str, Any] = _extra()

    @property
    def is_terminal(self) -> bool:
        """Whether the status can no longer change."""
        return self.status in TERMINAL_STATUSES


@attrs.frozen(kw_only=True)
class PredictionDetails(Prediction):
    """A prediction with its input, output, error and logs.

    ``input`` and ``output`` are free-form JSON, as the service sends them
    (the input is normally an object, but nothing here relies on it).
    """

    input: Any = None
    output: Any = None
    error: PredictionError | None = None
    logs: list[str] | None = None
    metrics: dict[str, Any] | None = None
    stream: bool | None = None


@attrs.frozen(kw_only=True)
class Upload(_BuiltOnRead):
    """An upload in progress (``uploads.create``): where to send each part.

    Part ``i`` (``part_size`` bytes, the last one shorter) is ``PUT`` to
    ``urls[i]``, a presigned URL on the storage host; each answer's ``ETag``
    goes to ``uploads.complete`` in the order of ``urls``.
    """

    id: str
    urls: list[str] = attrs.field(factory=list)
    part_size: int | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class UploadCompletion(_BuiltOnRead):
    """The answer of ``uploads.complete``.

    ``download_url`` is what a prediction's input takes. The service's own
    recordings also show a ``file_id`` in this answer; either may be absent.
    """

    download_url: str | None = None
    file_id: str | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True)
class Page(Generic[T]):
    """One page of a listing.

    Pass ``next_cursor`` back as ``cursor`` to get the next page; it is
    ``None`` on the last page.
    """

    items: list[T]
    next_cursor: str | None = None
    previous_cursor: str | None = None


@attrs.frozen(kw_only=True)
class StreamEvent:
    """One event of a prediction's stream (:meth:`AsyncPredictions.stream`).

    ``event`` is one of ``init`` (``data`` is the prediction), ``output`` (a
    piece of the output, as the model produces it), then the terminal event,
    the stream's last: ``done`` (``data`` is the final prediction) or, for a
    failed prediction, ``error`` (``data`` is its error); a newer server may
    add others, which arrive as they are. ``data`` is the event's data
    decoded from JSON, or the raw text when it is not JSON. ``id`` is what
    ``after_id`` takes to resume the stream after this event.
    """

    event: str
    data: Any = None
    id: str | None = None


def _field_hash(value: Any) -> int:
    try:
        return hash(value)
    except TypeError:
        # A list or dict (``urls``, ``output``, ``categories``): equal
        # values all stand for the same constant, so equal objects still
        # hash alike, and ``==`` tells them apart.
        return 0


def _hash_by_fields(cls: type[Any]) -> None:
    """Give an attrs class a ``__hash__`` that a list field cannot break.

    attrs hashes a tuple of the compared fields, which raises ``TypeError``
    as soon as one holds a list or dict (a user's ``urls``). This hash
    takes every compared field that is hashable and a constant for the
    others: consistent with ``==``, and never an error.
    """
    names = tuple(f.name for f in attrs.fields(cls) if f.eq)

    def __hash__(self: Any) -> int:
        return hash((cls, *(_field_hash(getattr(self, n)) for n in names)))

    cls.__hash__ = __hash__  # type: ignore[assignment]


# Reprs bounded in length and depth: ``output`` or ``detail`` nested a
# thousand deep, or megabytes long, must not break (or flood) a repr().
bounded_reprs(globals()[name] for name in __all__)
for _name in __all__:
    if attrs.has(_cls := globals()[_name]):
        _hash_by_fields(_cls)
