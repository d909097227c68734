"""Older and newer response spellings, and lossless round trips (hypothesis)."""

from __future__ import annotations

import contextlib
import pickle
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wriftai_async import (
    Category,
    Hardware,
    Model,
    ModelDetails,
    ModelVersion,
    ModelVersionDetails,
    Page,
    Prediction,
    PredictionDetails,
    PredictionError,
    PredictionModel,
    User,
    VersionConfiguration,
    structure,
    unstructure,
)

OLD_USER = {"id": "u-1", "username": "alice", "avatar_url": "https://a/1.png"}
NEW_USER = {"account_id": "u-1", "name": "alice", "avatar_url": "https://a/1.png"}
T = "2024-05-01T10:00:00Z"

# (type, older-style response, newer-style response): each pair describes the
# same object as two generations of the service spell it.
PAIRS: list[tuple[type[Any], dict[str, Any], dict[str, Any]]] = [
    (
        User,
        {**OLD_USER, "name": "Alice", "bio": "b", "created_at": T},
        {**NEW_USER, "display_name": "Alice", "bio": "b", "created_at": T},
    ),
    (
        Hardware,
        {
            "identifier": "gpu-t4",
            "name": "T4",
            "gpus": 1,
            "cpus": 8,
            "ram_per_gpu_gb": 16,
            "ram_gb": 32,
        },
        {
            "identifier": "gpu-t4",
            "name": "T4",
            "gpus": 1,
            "cpus": 8,
            "vram_gb": 16,
            "ram_gib": 32,
        },
    ),
    (Category, {"name": "Image", "slug": "image"}, {"name": "Image", "slug": "image"}),
    (
        Model,
        {
            "id": "m",
            "name": "n",
            "owner": OLD_USER,
            "visibility": "public",
            "predictions_count": 2,
            "created_at": T,
            "categories": [{"name": "Image", "slug": "image"}],
        },
        {
            "id": "m",
            "name": "n",
            "owner": NEW_USER,
            "visibility": "public",
            "predictions_count": 2,
            "created_at": T,
            "categories": [{"name": "Image", "slug": "image"}],
        },
    ),
    (
        ModelDetails,
        {
            "id": "m",
            "name": "n",
            "owner": OLD_USER,
            "overview": "o",
            "latest_version": None,
        },
        {
            "id": "m",
            "name": "n",
            "owner": NEW_USER,
            "overview": "o",
            "latest_version": None,
        },
    ),
    (
        ModelVersion,
        {"number": 1, "release_notes": "r", "created_at": T},
        {"number": 1, "release_notes": "r", "created_at": T},
    ),
    (
        ModelVersionDetails,
        {"number": 1, "schemas": {"prediction": {"input": {}, "output": {}}}},
        {"number": 1, "schemas": {"prediction": {"input": {}, "output": {}}}},
    ),
    (
        PredictionDetails,
        {
            "id": "p",
            "status": "started",
            "model": {"owner": "a", "name": "b", "version_number": 1},
            "input": {"x": 1},
            "output": None,
            "error": None,
            "logs": [],
        },
        {
            "id": "p",
            "status": "started",
            "model": {"owner": "a", "name": "b", "version_number": 1},
            "input": {"x": 1},
            "output": None,
            "error": None,
            "logs": [],
        },
    ),
]


@pytest.mark.parametrize(
    ("cls", "old", "new"), PAIRS, ids=[p[0].__name__ for p in PAIRS]
)
def test_older_and_newer_spellings_give_the_same_object(cls, old, new):
    a, b = structure(old, cls), structure(new, cls)
    assert a == b
    assert attrs.asdict(a) == attrs.asdict(b)


def test_every_object_type_is_covered_by_a_pair():
    covered = {p[0] for p in PAIRS}
    assert covered >= {
        User,
        Hardware,
        Category,
        Model,
        ModelDetails,
        ModelVersion,
        ModelVersionDetails,
        PredictionDetails,
    }


def test_newer_only_fields_are_understood():
    version = structure(
        {
            "number": 2,
            "configuration": {"hardware_identifier": "gpu-t4", "variable_names": ["K"]},
            "compatibilities": {"openai_chat_completions": True},
            "size": 10,
        },
        ModelVersionDetails,
    )
    assert version.configuration == VersionConfiguration(
        hardware_identifier="gpu-t4", variable_names=["K"]
    )
    assert version.compatibilities == {"openai_chat_completions": True}
    prediction = structure(
        {"id": "p", "status": "starting", "metrics": {"t": 1}, "stream": True},
        PredictionDetails,
    )
    assert prediction.metrics == {"t": 1} and prediction.stream is True


# --- property: structure -> unstructure -> structure is lossless ------------

texts = st.text(max_size=12)
opt_text = st.none() | texts
json_leaf = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | texts
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3)
    ),
    max_leaves=6,
)
timestamps = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=5, minutes=30))]),
)
ts = timestamps.map(lambda d: d.isoformat())
opt_ts = st.none() | ts
# Unknown fields: names the classes do not use, with any JSON value.
extra_keys = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=3, max_size=8
).map(lambda k: "x_" + k)
extras = st.dictionaries(extra_keys, json_value, max_size=3)


def obj(required: dict, optional: dict):
    return st.fixed_dictionaries(required, optional=optional).flatmap(
        lambda d: extras.map(lambda e: {**e, **d})
    )


users = obj(
    {"username": texts},
    {
        "id": opt_text,
        "avatar_url": opt_text,
        "display_name": opt_text,
        "bio": opt_text,
        "urls": st.none() | st.lists(texts, max_size=2),
        "location": opt_text,
        "company": opt_text,
        "created_at": opt_ts,
        "updated_at": opt_ts,
    },
)
categories = obj({"name": texts, "slug": texts}, {})
hardware = obj(
    {"identifier": texts},
    {
        "name": opt_text,
        "gpus": st.none() | st.integers(0, 8),
        "cpus": st.none() | st.integers(0, 64),
        "vram_gb": st.none() | st.integers(0, 80),
        "ram_gib": st.none() | st.integers(0, 512),
        "description": opt_text,
        "created_at": opt_ts,
    },
)
visibility = st.none() | st.sampled_from(
    ["public", "private", "restricted", "someday-new"]
)
versions = obj(
    {"number": st.integers(1, 99)},
    {
        "release_notes": opt_text,
        "created_at": opt_ts,
        "container_image_digest": opt_text,
        "size": st.none() | st.integers(0, 10**9),
    },
)
version_details = obj(
    {"number": st.integers(1, 99)},
    {
        "schemas": st.none() | st.dictionaries(texts, json_value, max_size=2),
        "configuration": st.none()
        | obj(
            {},
            {
                "hardware_identifier": opt_text,
                "variable_names": st.none() | st.lists(texts, max_size=2),
            },
        ),
        "compatibilities": st.none()
        | st.dictionaries(texts, st.booleans(), max_size=2),
    },
)
model_fields = {
    "owner": st.none() | users,
    "created_at": opt_ts,
    "updated_at": opt_ts,
    "visibility": visibility,
    "description": opt_text,
    "predictions_count": st.none() | st.integers(0, 10**6),
    "categories": st.lists(categories, max_size=2),
    "hardware": st.none() | hardware,
    "source_url": opt_text,
    "license_url": opt_text,
    "paper_url": opt_text,
    "cover_image_url": opt_text,
}
models = obj({"id": texts, "name": texts}, model_fields)
model_details = obj(
    {"id": texts, "name": texts},
    {
        **model_fields,
        "overview": opt_text,
        "latest_version": st.none() | version_details,
    },
)
statuses = st.sampled_from(
    [
        "pending",
        "starting",
        "started",
        "succeeded",
        "failed",
        "cancelled",
        "abandoned",
        "brand-new-status",
    ]
)
prediction_models = obj(
    {},
    {
        "owner": opt_text,
        "name": opt_text,
        "version_number": st.none() | st.integers(1, 9),
    },
)
prediction_fields = {
    "created_at": opt_ts,
    "updated_at": opt_ts,
    "setup_time": opt_text,
    "execution_time": opt_text,
    "model": st.none() | prediction_models,
}
predictions = obj({"id": texts, "status": statuses}, prediction_fields)
prediction_errors = obj(
    {}, {"source": opt_text, "message": opt_text, "detail": json_value}
)
prediction_details = obj(
    {"id": texts, "status": statuses},
    {
        **prediction_fields,
        "input": st.none() | st.dictionaries(texts, json_value, max_size=3),
        "output": json_value,
        "error": st.none() | prediction_errors,
        "logs": st.none() | st.lists(texts, max_size=3),
        "metrics": st.none() | st.dictionaries(texts, json_value, max_size=2),
        "stream": st.none() | st.booleans(),
    },
)

STRATEGIES = {
    User: users,
    Category: categories,
    Hardware: hardware,
    ModelVersion: versions,
    ModelVersionDetails: version_details,
    Model: models,
    ModelDetails: model_details,
    Prediction: predictions,
    PredictionDetails: prediction_details,
    PredictionError: prediction_errors,
    PredictionModel: prediction_models,
}


def _deep_extra(value: Any) -> Any:
    """Every object's ``extra``, recursively, to compare what was kept."""
    if attrs.has(type(value)):
        out = {
            f.name: _deep_extra(getattr(value, f.name))
            for f in attrs.fields(type(value))
        }
        out["extra"] = dict(getattr(value, "extra", {}))
        return out
    if isinstance(value, list):
        return [_deep_extra(v) for v in value]
    return value


@pytest.mark.parametrize("cls", list(STRATEGIES), ids=lambda c: c.__name__)
def test_round_trip_is_lossless(cls):
    @given(STRATEGIES[cls])
    def check(data):
        first = structure(data, cls)
        wire = unstructure(first)
        second = structure(wire, cls)
        assert second == first
        assert _deep_extra(second) == _deep_extra(first)
        # Every unknown field sent is still there.
        for key in data:
            if key.startswith("x_"):
                assert wire[key] == data[key]

    check()


def test_pages_round_trip():
    page = structure(
        {"items": [{"id": "m", "name": "n", "x_new": 1}], "next_cursor": "c"},
        Page[Model],
    )
    assert structure(unstructure(page), Page[Model]) == page


# --- property: hostile input never escapes as anything but a decode error ---

hostile = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "name",
                    "status",
                    "owner",
                    "username",
                    "items",
                    "created_at",
                    "categories",
                    "hardware",
                    "model",
                    "error",
                    "next_cursor",
                    "x",
                ]
            ),
            inner,
            max_size=6,
        )
    ),
    max_leaves=12,
)
TARGETS = [*STRATEGIES, Page[Model], Page[PredictionDetails]]


def _holds_nan(value: Any) -> bool:
    if isinstance(value, float):
        return value != value
    if isinstance(value, dict):
        return any(_holds_nan(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_nan(v) for v in value)
    return False


@pytest.mark.parametrize("cls", TARGETS, ids=lambda c: getattr(c, "__name__", str(c)))
def test_hostile_json_raises_only_response_decode_error(cls):
    from wriftai_async import ResponseDecodeError

    @given(hostile)
    def check(data):
        try:
            obj = structure(data, cls)
        except ResponseDecodeError:
            return
        # Whatever the fields hold, these never raise (a malformed field
        # counts as its raw value), also on a copy made before any read.
        copied = pickle.loads(pickle.dumps(obj))
        assert obj == obj and repr(obj) == repr(copied)
        if not _holds_nan(data):  # NaN equals no copy of itself
            assert obj == copied and hash(obj) == hash(copied)
        # Fields built on first read are checked then: read them all.
        with contextlib.suppress(ResponseDecodeError):
            unstructure(obj)

    check()
