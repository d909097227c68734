"""The emulator's stored objects: plain mutable records, style-agnostic.

Rendering to JSON (which differs between the "old" and "new" response styles)
lives in ``_render``; these classes only hold facts. Predictions also carry their
own future: a queue of timed status transitions (and output chunks) that is
applied lazily whenever the prediction is read, so the emulator needs no
background tasks; what was applied is kept as the prediction's event log, which
``GET /predictions/{id}/stream`` serves.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

STATUSES = (
    "pending",
    "starting",
    "started",
    "succeeded",
    "failed",
    "cancelled",
    "abandoned",
)
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled", "abandoned"})


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def format_timestamp(value: datetime) -> str:
    """ISO 8601 with a ``Z``; fractions only when present, as real servers vary."""
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def parse_timestamp(value: datetime | str) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        # Python 3.10's fromisoformat does not understand a trailing "Z".
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def format_duration(seconds: float) -> str:
    return f"{max(seconds, 0.0):.2f}s"


def wall_time_of(monotonic_instant: float) -> datetime:
    """Translate a ``time.monotonic()`` instant into an aware UTC datetime."""
    return utcnow() - timedelta(seconds=time.monotonic() - monotonic_instant)


@dataclass
class User:
    id: str
    username: str
    display_name: str | None
    avatar_url: str | None
    bio: str | None
    urls: list[str] | None
    location: str | None
    company: str | None
    created_at: datetime
    updated_at: datetime | None


@dataclass
class Hardware:
    identifier: str
    name: str
    gpus: int
    cpus: int
    ram_per_gpu_gb: int
    ram_gb: int
    description: str | None
    created_at: datetime


@dataclass
class Category:
    slug: str
    name: str
    description: str


#: The compatibility flags a version has, as the official ``wriftai`` 0.34
#: client types them (``Compatibilities`` in its ``common_types``).
COMPATIBILITY_FLAGS = (
    "openai_chat_completions",
    "openai_embeddings",
    "openai_images_generations",
    "openai_responses",
    "anthropic_messages",
)


@dataclass
class Version:
    number: int
    release_notes: str
    created_at: datetime
    container_image_digest: str
    schemas: dict[str, Any]
    size: int
    # The version's configuration; no hardware means the model's.
    hardware_identifier: str | None = None
    variable_names: list[str] = field(default_factory=list)
    compatibilities: dict[str, bool] = field(
        default_factory=lambda: dict.fromkeys(COMPATIBILITY_FLAGS, False)
    )


@dataclass
class Variable:
    """A user's variable; a secret's value is stored but never rendered."""

    name: str
    key: str
    value: str
    secret: bool
    created_at: datetime
    updated_at: datetime | None


@dataclass
class Model:
    id: str
    owner_id: str
    name: str
    created_at: datetime
    updated_at: datetime | None
    visibility: str
    description: str | None
    overview: str | None
    hardware_identifier: str
    category_slugs: list[str]
    predictions_count: int
    source_url: str | None
    license_url: str | None
    paper_url: str | None
    cover_image_url: str | None
    # Insertion order breaks ties between equal sort keys, so listings are stable.
    seq: int
    versions: dict[int, Version] = field(default_factory=dict)
    next_version_number: int = 1

    @property
    def latest_version(self) -> Version | None:
        if not self.versions:
            return None
        return self.versions[max(self.versions)]


@dataclass
class Transition:
    """A status change due at a ``time.monotonic()`` instant.

    ``status=None`` is no status change but a piece of streamed output (in
    ``output``): it is dropped, like any transition, if the prediction ends
    first.
    """

    at: float
    status: str | None
    output: Any = None
    error: dict[str, Any] | None = None


#: A streamed event after ``init``: ``("output", chunk)``, ``("error",
#: error)`` or ``("done", None)`` (the route renders the final prediction).
StreamEntry = tuple[str, Any]

# At most this many output chunks per prediction, however long its input.
_MAX_CHUNKS = 16
_WORD = re.compile(r"\S+\s*|\s+")


def output_chunks(input: dict[str, Any]) -> list[str]:
    """The echo model's output as it would stream: the input's text, by words.

    Joined, the chunks give every string value of ``input`` in order; an
    input without text streams nothing but its final output.
    """
    words = [w for v in input.values() if isinstance(v, str) for w in _WORD.findall(v)]
    if len(words) <= _MAX_CHUNKS:
        return words
    size = -(-len(words) // _MAX_CHUNKS)
    return ["".join(words[i : i + size]) for i in range(0, len(words), size)]


@dataclass
class Prediction:
    id: str
    owner_id: str
    model_id: str
    # Snapshot of the model's path, shown if the model is later deleted.
    model_owner: str
    model_name: str
    version_number: int | None
    status: str
    created_at: datetime
    updated_at: datetime | None
    input: dict[str, Any]
    output: Any
    error: dict[str, Any] | None
    logs: list[str] | None
    setup_time: str | None
    execution_time: str | None
    webhook_url: str | None
    seq: int
    started_at: datetime | None = None
    completed_at: datetime | None = None
    pending: list[Transition] = field(default_factory=list)
    cancel_requested: bool = False
    #: Created with ``"stream": true`` (rendered as the prediction's ``stream``).
    stream: bool = False
    #: What the stream serves after its ``init`` event, oldest first.
    events: list[StreamEntry] = field(default_factory=list)
    #: The ``init`` event's data, rendered when the stream is first served
    #: and the same on every connection after that.
    init_data: Any = None

    def __post_init__(self) -> None:
        if self.terminal and not self.events:
            self._log_end()  # added already ended: its stream is complete

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def schedule(self, transition: Transition) -> None:
        self.pending.append(transition)
        self.pending.sort(key=lambda t: t.at)

    def advance(
        self,
        now: float | None = None,
        wall: Callable[[float], datetime] = wall_time_of,
    ) -> None:
        """Apply every transition that is due; the first terminal one wins.

        This is what makes "cancel may lose the race against completion" work:
        whichever of the two transitions is due first is applied, and the
        other one is dropped with the rest of the queue.
        """
        now = time.monotonic() if now is None else now
        while self.pending and self.pending[0].at <= now and not self.terminal:
            transition = self.pending.pop(0)
            self._apply(transition, wall(transition.at))
        if self.terminal:
            self.pending.clear()

    def _apply(self, transition: Transition, when: datetime) -> None:
        if transition.status is None:
            self.events.append(("output", transition.output))
            return
        self.status = transition.status
        self.updated_at = when
        if transition.status == "started":
            self.started_at = when
            self.setup_time = format_duration((when - self.created_at).total_seconds())
            self.logs = [*(self.logs or []), "Prediction started"]
        if transition.status in TERMINAL_STATUSES:
            self.completed_at = when
            if self.started_at is not None:
                self.execution_time = format_duration(
                    (when - self.started_at).total_seconds()
                )
            if transition.status == "succeeded":
                self.output = transition.output
            elif transition.status == "failed":
                self.error = transition.error or {
                    "source": "internal",
                    "message": "Prediction failed",
                    "detail": None,
                }
            self.logs = [*(self.logs or []), f"Prediction {transition.status}"]
            self._log_end()

    def _log_end(self) -> None:
        streamed = any(name == "output" for name, _ in self.events)
        if self.status == "succeeded" and self.output is not None and not streamed:
            self.events.append(("output", self.output))
        if self.status == "failed":
            # The stream's last event: the official client ends at "error".
            self.events.append(("error", self.error))
        else:
            self.events.append(("done", None))  # rendered when first served

    def next_due(self) -> float | None:
        return self.pending[0].at if self.pending else None


@dataclass
class Upload:
    """A file upload: parts arrive by index; ``data`` is set once completed."""

    id: str
    owner_id: str
    size: int
    mime_type: str
    part_size: int
    #: The presigned URLs' signature (checked on each part).
    signature: str
    parts: dict[int, bytes] = field(default_factory=dict)
    data: bytes | None = None

    @property
    def part_count(self) -> int:
        return -(-self.size // self.part_size)

    def part_length(self, index: int) -> int:
        return min(self.part_size, self.size - index * self.part_size)
