"""The emulator's in-memory store: indexes, ids, clocks and lifecycle rules.

Everything here is synchronous. One ``threading.RLock`` guards the store
because the threaded runner lets test code (main thread) seed data while the
server's event loop (another thread) answers requests; holders never await.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, Protocol, TypeVar

from ._records import (
    Category,
    Hardware,
    Model,
    Prediction,
    Transition,
    Upload,
    User,
    Variable,
    Version,
    output_chunks,
    parse_timestamp,
    utcnow,
)

Style = Literal["old", "new"]

# A fixed namespace makes every id a pure function of creation order, so two
# emulators seeded the same way hand out the same ids.
_NAMESPACE = uuid.UUID("6f1c1a52-6d0e-4c36-9d3b-2f4a8f9f1e01")
# Objects added through the Python API get timestamps from a logical clock
# (deterministic, strictly increasing) unless the caller gives one.
_SEED_EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)

DEFAULT_SCHEMAS: dict[str, Any] = {
    "prediction": {
        "input": {
            "type": "object",
            "properties": {
                "prompt": {"type": "string", "description": "What to say"},
                "max_tokens": {"type": "integer", "default": 16},
            },
            "required": ["prompt"],
        },
        "output": {"type": "object"},
    }
}


@dataclass(frozen=True)
class Settings:
    """Behaviour knobs fixed when the emulator is built."""

    style: Style
    access_token: str
    username: str
    cancel_delay: float
    prediction_duration: float
    already_terminated_status: int
    default_page_size: int
    max_prefer_wait: float
    upload_part_size: int = 5 * 1024 * 1024


@dataclass
class Outcome:
    """How the next predictions created over HTTP end (``inject_outcome``)."""

    status: str
    output: Any
    error: dict[str, Any] | None
    #: ``None``: until ``clear_faults()``.
    remaining: int | None
    #: ``(owner, name)`` of the model whose predictions it applies to, or
    #: ``None`` for every model.
    model: tuple[str, str] | None
    #: How many predictions it has ended so far.
    hits: int = 0


def check_times(times: object) -> None:
    """A fault's or an outcome's ``times=``: an int >= 1, or ``None``.

    0 or a negative count used to answer one request all the same (the
    count is checked after it is used); ``True`` is not a count.
    """
    if times is not None and (
        not isinstance(times, int) or isinstance(times, bool) or times < 1
    ):
        raise ValueError(
            "times must be an int >= 1, or None for every request until "
            f"clear_faults(), not {times!r}"
        )


class _Spent(Protocol):
    hits: int
    remaining: int | None


S = TypeVar("S", bound=_Spent)


def spend(entries: list[S], entry: S) -> S:
    """Count one use of ``entry`` (a fault, an outcome); once its ``times``
    are used up, it leaves ``entries``. Under the lock that guards them."""
    entry.hits += 1
    if entry.remaining is not None:
        entry.remaining -= 1
        if entry.remaining <= 0:
            entries.remove(entry)
    return entry


class Store:
    """All emulated server state. Callers hold ``lock`` around every use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.users_by_id: dict[str, User] = {}
        self.tokens: dict[str, str] = {}
        self.hardware: dict[str, Hardware] = {}
        self.categories: dict[str, Category] = {}
        self.models: dict[str, Model] = {}
        self._models_by_owner: dict[str, dict[str, Model]] = {}
        self.predictions: dict[str, Prediction] = {}
        #: File uploads by id, in progress or completed.
        self.uploads: dict[str, Upload] = {}
        #: Variables by owner id, then name (in creation order).
        self.variables: dict[str, dict[str, Variable]] = {}
        #: Event streams being written right now (the server's, not the API's).
        self.open_streams = 0
        #: Injected ends of predictions created over HTTP, first match wins.
        self.outcomes: list[Outcome] = []
        self._counter = itertools.count(1)
        self._ticks = itertools.count()

    # -- ids and clocks --------------------------------------------------------

    def new_id(self, kind: str) -> str:
        return str(uuid.uuid5(_NAMESPACE, f"{kind}:{next(self._counter)}"))

    def next_seq(self) -> int:
        return next(self._counter)

    def seed_time(self, given: datetime | str | None = None) -> datetime:
        tick = next(self._ticks)
        if given is not None:
            return parse_timestamp(given)
        return _SEED_EPOCH + timedelta(hours=tick)

    # -- users -----------------------------------------------------------------

    def add_user(
        self,
        username: str,
        *,
        display_name: str | None = None,
        avatar_url: str | None = None,
        bio: str | None = None,
        urls: Sequence[str] | None = None,
        location: str | None = None,
        company: str | None = None,
        created_at: datetime | str | None = None,
        token: str | None = None,
    ) -> User:
        if username in self.users:
            raise ValueError(f"user {username!r} already exists")
        created = self.seed_time(created_at)
        user = User(
            id=self.new_id("user"),
            username=username,
            display_name=display_name,
            avatar_url=avatar_url or f"https://avatars.wrift.ai.invalid/{username}.png",
            bio=bio,
            urls=list(urls) if urls is not None else None,
            location=location,
            company=company,
            created_at=created,
            updated_at=created,
        )
        self.users[username] = user
        self.users_by_id[user.id] = user
        if token is not None:
            self.tokens[token] = username
        return user

    def rename_user(self, user: User, new_name: str) -> None:
        """Give ``user`` a new username; their tokens and models follow."""
        del self.users[user.username]
        for token, name in self.tokens.items():
            if name == user.username:
                self.tokens[token] = new_name
        user.username = new_name
        self.users[new_name] = user

    def default_hardware(self) -> str:
        """The hardware of a model created without one: the first listed."""
        for identifier in self.hardware:
            return identifier
        return self.ensure_hardware("cpu").identifier

    def ensure_user(self, username: str) -> User:
        return self.users.get(username) or self.add_user(username)

    def user_for_token(self, token: str) -> User | None:
        username = self.tokens.get(token)
        return self.users.get(username) if username is not None else None

    # -- hardware and categories -----------------------------------------------

    def add_hardware(
        self,
        identifier: str,
        name: str | None = None,
        *,
        gpus: int = 0,
        cpus: int = 4,
        ram_per_gpu_gb: int = 0,
        ram_gb: int = 16,
        description: str | None = None,
        created_at: datetime | str | None = None,
    ) -> Hardware:
        if identifier in self.hardware:
            raise ValueError(f"hardware {identifier!r} already exists")
        item = Hardware(
            identifier=identifier,
            name=name or identifier,
            gpus=gpus,
            cpus=cpus,
            ram_per_gpu_gb=ram_per_gpu_gb,
            ram_gb=ram_gb,
            description=description,
            created_at=self.seed_time(created_at),
        )
        self.hardware[identifier] = item
        return item

    def ensure_hardware(self, identifier: str) -> Hardware:
        return self.hardware.get(identifier) or self.add_hardware(identifier)

    def add_category(
        self, slug: str, name: str | None = None, description: str | None = None
    ) -> Category:
        if slug in self.categories:
            raise ValueError(f"category {slug!r} already exists")
        name = name or slug.replace("-", " ").title()
        category = Category(
            slug=slug, name=name, description=description or f"{name} models"
        )
        self.categories[slug] = category
        return category

    def ensure_category(self, slug: str) -> Category:
        return self.categories.get(slug) or self.add_category(slug)

    # -- models ----------------------------------------------------------------

    def add_model(
        self,
        owner: User,
        name: str,
        *,
        hardware_identifier: str,
        created_at: datetime,
        visibility: str = "public",
        description: str | None = None,
        overview: str | None = None,
        category_slugs: Iterable[str] = (),
        predictions_count: int = 0,
        source_url: str | None = None,
        license_url: str | None = None,
        paper_url: str | None = None,
        cover_image_url: str | None = None,
        updated_at: datetime | None = None,
    ) -> Model:
        if self.find_model(owner.username, name) is not None:
            raise ValueError(f"model {owner.username}/{name} already exists")
        model = Model(
            id=self.new_id("model"),
            owner_id=owner.id,
            name=name,
            created_at=created_at,
            updated_at=updated_at or created_at,
            visibility=visibility,
            description=description,
            overview=overview,
            hardware_identifier=hardware_identifier,
            category_slugs=list(category_slugs),
            predictions_count=predictions_count,
            source_url=source_url,
            license_url=license_url,
            paper_url=paper_url,
            cover_image_url=cover_image_url,
            seq=self.next_seq(),
        )
        self.models[model.id] = model
        self._models_by_owner.setdefault(owner.id, {})[name] = model
        return model

    def find_model(self, owner: str, name: str) -> Model | None:
        user = self.users.get(owner)
        if user is None:
            return None
        return self._models_by_owner.get(user.id, {}).get(name)

    def models_of(self, owner: User) -> list[Model]:
        return list(self._models_by_owner.get(owner.id, {}).values())

    def owner_of(self, model: Model) -> User:
        return self.users_by_id[model.owner_id]

    def rename_model(self, model: Model, new_name: str) -> None:
        by_name = self._models_by_owner[model.owner_id]
        del by_name[model.name]
        model.name = new_name
        by_name[new_name] = model

    def delete_model(self, model: Model) -> None:
        del self.models[model.id]
        del self._models_by_owner[model.owner_id][model.name]

    # -- versions --------------------------------------------------------------

    def add_version(
        self,
        model: Model,
        *,
        release_notes: str = "",
        schemas: Mapping[str, Any] | None = None,
        container_image_digest: str | None = None,
        created_at: datetime,
        size: int | None = None,
    ) -> Version:
        number = model.next_version_number
        # Numbers are never reused, even after a version is deleted.
        model.next_version_number += 1
        digest = container_image_digest or (
            "sha256:" + hashlib.sha256(f"{model.id}:{number}".encode()).hexdigest()
        )
        version = Version(
            number=number,
            release_notes=release_notes,
            created_at=created_at,
            container_image_digest=digest,
            schemas=copy.deepcopy(dict(schemas or DEFAULT_SCHEMAS)),
            size=size if size is not None else 1_000_000_000 + number,
        )
        model.versions[number] = version
        return version

    # -- variables -------------------------------------------------------------

    def add_variable(
        self,
        owner: User,
        name: str,
        key: str,
        value: str,
        *,
        secret: bool = False,
        created_at: datetime,
    ) -> Variable:
        mine = self.variables.setdefault(owner.id, {})
        if name in mine:
            raise ValueError(f"variable {name!r} of {owner.username} already exists")
        variable = Variable(name, key, value, secret, created_at, None)
        mine[name] = variable
        return variable

    def variables_of(self, owner: User) -> dict[str, Variable]:
        """The owner's variables by name; changes to the dict are kept."""
        return self.variables.setdefault(owner.id, {})

    # -- predictions -----------------------------------------------------------

    def add_prediction(
        self,
        *,
        owner: User,
        model: Model,
        version_number: int | None,
        status: str,
        created_at: datetime,
        input: Mapping[str, Any] | None = None,
        output: Any = None,
        error: Mapping[str, Any] | None = None,
        logs: Sequence[str] | None = None,
        setup_time: str | None = None,
        execution_time: str | None = None,
        webhook_url: str | None = None,
        id: str | None = None,
    ) -> Prediction:
        prediction = Prediction(
            id=id or self.new_id("prediction"),
            owner_id=owner.id,
            model_id=model.id,
            model_owner=self.owner_of(model).username,
            model_name=model.name,
            version_number=version_number,
            status=status,
            created_at=created_at,
            updated_at=created_at,
            input=dict(input or {}),
            output=output,
            error=dict(error) if error is not None else None,
            logs=list(logs) if logs is not None else None,
            setup_time=setup_time,
            execution_time=execution_time,
            webhook_url=webhook_url,
            seq=self.next_seq(),
        )
        if prediction.id in self.predictions:
            raise ValueError(f"prediction {prediction.id} already exists")
        self.predictions[prediction.id] = prediction
        return prediction

    def create_prediction(
        self,
        *,
        owner: User,
        model: Model,
        version: Version,
        input: Mapping[str, Any],
        webhook_url: str | None,
    ) -> Prediction:
        """A prediction made over HTTP: it starts, then succeeds echoing input.

        While it runs it streams its input's text word by word (see
        ``output_chunks``), spread evenly between start and end.
        """
        prediction = self.add_prediction(
            owner=owner,
            model=model,
            version_number=version.number,
            status="starting",
            created_at=utcnow(),
            input=input,
            webhook_url=webhook_url,
        )
        model.predictions_count += 1
        now = time.monotonic()
        duration = self.settings.prediction_duration
        started = now + duration / 4
        prediction.schedule(Transition(started, "started"))
        chunks = output_chunks(prediction.input)
        step = (duration - duration / 4) / (len(chunks) + 1)
        for i, chunk in enumerate(chunks, 1):
            prediction.schedule(Transition(started + i * step, None, output=chunk))
        outcome = self._take_outcome(model)
        if outcome is None:
            end = Transition(now + duration, "succeeded", output=copy.deepcopy(input))
        else:
            end = Transition(
                now + duration,
                outcome.status,
                output=copy.deepcopy(outcome.output),
                error=copy.deepcopy(outcome.error),
            )
        prediction.schedule(end)
        prediction.advance(now)
        return prediction

    def _take_outcome(self, model: Model) -> Outcome | None:
        """The first injected outcome for ``model``'s predictions, counted."""
        path = (self.owner_of(model).username, model.name)
        for outcome in self.outcomes:
            if outcome.model is None or outcome.model == path:
                return spend(self.outcomes, outcome)
        return None

    def get_prediction(self, prediction_id: str) -> Prediction | None:
        prediction = self.predictions.get(prediction_id)
        if prediction is not None:
            prediction.advance()
        return prediction

    def predictions_of(self, owner: User) -> list[Prediction]:
        found = [p for p in self.predictions.values() if p.owner_id == owner.id]
        now = time.monotonic()
        for prediction in found:
            prediction.advance(now)
        return found

    def request_cancel(self, prediction: Prediction) -> None:
        """Schedule the cancellation; asking again keeps the first deadline."""
        if prediction.cancel_requested:
            return
        prediction.cancel_requested = True
        at = time.monotonic() + self.settings.cancel_delay
        prediction.schedule(Transition(at, "cancelled"))
        # A zero delay should be visible on the very next read, not later.
        prediction.advance()
