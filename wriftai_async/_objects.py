"""What the server returns: frozen, slotted attrs classes.

The classes hold the *canonical* spelling of each field. The service renamed
some fields over time (see ``_converter.py``, which maps both spellings here),
adds new ones, and adds enum values: every class therefore keeps what it does
not model in ``extra``, every field but the identifying ones is optional, and
enum-typed fields accept any string (``Visibility | str``). The optional
fields are built when first read (``_onread.py``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs

from ._onread import EMPTY, BuiltOnRead, install
from ._repr import bounded_reprs

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


@attrs.frozen(kw_only=True, eq=False)
class Category(BuiltOnRead):
    """A model category, such as ``{"name": "Text to image", "slug": ...}``.

    ``description`` comes with the category listing (``categories.list``);
    a model's own categories carry only the name and slug.
    """

    name: str
    slug: str
    description: str | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True, eq=False)
class User(BuiltOnRead):
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


@attrs.frozen(kw_only=True, eq=False)
class Hardware(BuiltOnRead):
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


@attrs.frozen(kw_only=True, eq=False)
class ModelVersion(BuiltOnRead):
    """A version of a model, as listed."""

    number: int
    release_notes: str | None = None
    created_at: datetime | None = None
    container_image_digest: str | None = None
    size: int | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True, eq=False)
class VersionConfiguration(BuiltOnRead):
    """How a version runs (newer servers): its hardware and variables."""

    hardware_identifier: str | None = None
    variable_names: list[str] | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True, eq=False)
class Variable(BuiltOnRead):
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


@attrs.frozen(kw_only=True, eq=False)
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


@attrs.frozen(kw_only=True, eq=False)
class Model(BuiltOnRead):
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


@attrs.frozen(kw_only=True, eq=False)
class ModelDetails(Model):
    """A model with its overview and latest version (get, create, update)."""

    overview: str | None = None
    latest_version: ModelVersionDetails | None = None


@attrs.frozen(kw_only=True, eq=False)
class PredictionModel(BuiltOnRead):
    """Which model (and version) a prediction ran on."""

    owner: str | None = None
    name: str | None = None
    version_number: int | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True, eq=False)
class PredictionError(BuiltOnRead):
    """Why a prediction failed: ``source`` is ``internal`` or ``external``."""

    source: str | None = None
    message: str | None = None
    detail: Any = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True, eq=False)
class Prediction(BuiltOnRead):
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


@attrs.frozen(kw_only=True, eq=False)
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


@attrs.frozen(kw_only=True, eq=False)
class Upload(BuiltOnRead):
    """An upload in progress (``uploads.create``): where to send each part.

    Part ``i`` (``part_size`` bytes, the last one shorter) is ``PUT`` to
    ``urls[i]``, a presigned URL on the storage host; each answer's ``ETag``
    goes to ``uploads.complete`` in the order of ``urls``.
    """

    id: str
    urls: list[str] = attrs.field(factory=list)
    part_size: int | None = None
    extra: Mapping[str, Any] = _extra()


@attrs.frozen(kw_only=True, eq=False)
class UploadCompletion(BuiltOnRead):
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


# Resolved here, once: cattrs before 26.1 (24.1 is allowed) resolves a class's
# string annotations (PEP 563, this module) itself, and for the alias
# Page[Model] that is typing.get_type_hints(Page[Model]), a TypeError on every
# listing. Resolved types leave it nothing to resolve.
attrs.resolve_types(Page)


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


# Reprs bounded in length and depth: ``output`` or ``detail`` nested a
# thousand deep, or megabytes long, must not break (or flood) a repr().
bounded_reprs(globals()[name] for name in __all__)
for _name in __all__:
    if attrs.has(_cls := globals()[_name]):
        install(_cls)
