"""Structuring what the server sends: forward compatible, and never a raw crash."""

from datetime import datetime, timezone
from types import MappingProxyType

import pytest

from wriftai_async import (
    Category,
    Hardware,
    Model,
    ModelDetails,
    ModelVersionDetails,
    Page,
    PredictionDetails,
    PredictionStatus,
    ResponseDecodeError,
    Upload,
    UploadCompletion,
    User,
    Visibility,
    structure,
    unstructure,
)

MODEL = {
    "id": "0b6c4ae1-7cf0-4c38-9d7c-3c4b1f6e2a10",
    "name": "upscaler",
    "created_at": "2024-08-24T14:15:22Z",
    "updated_at": None,
    "visibility": "public",
    "description": "4x",
    "owner": {"id": "u-1", "username": "alice", "avatar_url": "https://a/x.png"},
    "predictions_count": 3,
    "categories": [{"name": "Image", "slug": "image"}],
    "hardware": {"identifier": "gpu-t4", "name": "T4"},
    "source_url": None,
    "license_url": "https://example.org/license",
    "paper_url": None,
}


def test_model_fields_and_aware_timestamps():
    model = structure(MODEL, Model)
    assert model.owner is not None and model.owner.username == "alice"
    assert model.created_at == datetime(2024, 8, 24, 14, 15, 22, tzinfo=timezone.utc)
    assert model.visibility is Visibility.PUBLIC
    assert model.categories[0].slug == "image"
    assert model.full_name == "alice/upscaler"


def test_naive_timestamp_is_taken_as_utc():
    model = structure({**MODEL, "created_at": "2024-08-24T14:15:22"}, Model)
    assert model.created_at is not None and model.created_at.tzinfo is timezone.utc


def test_unknown_fields_are_kept_in_extra_and_round_trip():
    data = {**MODEL, "cover_image_url": "https://c", "brand_new": {"x": [1]}}
    model = structure(data, Model)
    assert model.cover_image_url == "https://c"
    assert dict(model.extra) == {"brand_new": {"x": [1]}}
    again = structure(unstructure(model), Model)
    assert again == model and dict(again.extra) == {"brand_new": {"x": [1]}}


def test_unknown_enum_values_stay_strings():
    model = structure({**MODEL, "visibility": "unlisted"}, Model)
    assert model.visibility == "unlisted"
    assert structure("unlisted", Visibility) == "unlisted"  # the enum alone too
    assert structure("public", Visibility) is Visibility.PUBLIC
    prediction = structure({"id": "p", "status": "paused"}, PredictionDetails)
    assert prediction.status == "paused" and not prediction.is_terminal
    done = structure({"id": "p", "status": "abandoned"}, PredictionDetails)
    assert done.status is PredictionStatus.ABANDONED and done.is_terminal


def test_missing_optional_fields_become_none():
    model = structure({"id": "m", "name": "n"}, ModelDetails)
    assert model.owner is None and model.latest_version is None
    assert model.categories == []


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        "oops",
        {"items": None},
        {"items": [{"name": "no id"}]},
        {"items": [{**MODEL, "created_at": "yesterday"}]},
        {"items": [{**MODEL, "created_at": 12}]},
        {"items": [{**MODEL, "owner": "alice"}]},
        {"items": [{**MODEL, "categories": [3]}]},
        {"items": [{**MODEL, "visibility": 7}]},
    ],
)
def test_malformed_responses_raise_decode_error(data):
    # At once, or (fields built on first read) when the field is read:
    # unstructure reads every field.
    with pytest.raises(ResponseDecodeError):
        unstructure(structure(data, Page[Model]))


def test_user_older_and_newer_spellings_agree():
    old = structure(
        {"id": "u", "username": "alice", "avatar_url": None, "name": "Alice A."}, User
    )
    new = structure(
        {
            "account_id": "u",
            "name": "alice",
            "avatar_url": None,
            "display_name": "Alice A.",
        },
        User,
    )
    assert old == new
    assert (old.id, old.username, old.display_name) == ("u", "alice", "Alice A.")
    assert not old.extra and not new.extra


def test_page_ignores_older_url_fields():
    page = structure(
        {
            "items": [MODEL],
            "next_cursor": None,
            "previous_cursor": "p",
            "next_url": None,
        },
        Page[Model],
    )
    assert len(page.items) == 1 and page.previous_cursor == "p"


def test_unstructure_emits_plain_json_values():
    data = unstructure(structure(MODEL, Model))
    assert type(data["visibility"]) is str and data["visibility"] == "public"
    assert data["created_at"].startswith("2024-08-24T14:15:22")
    assert "extra" not in data


def test_equal_leaf_objects_in_a_page_share_one_instance():
    page = structure({"items": [MODEL, {**MODEL, "id": "other"}]}, Page[Model])
    first, second = page.items
    assert first.owner is second.owner and first.hardware is second.hardware
    assert first.categories[0] is second.categories[0]
    assert first is not second


def test_objects_holding_lists_are_never_shared():
    def data():
        return {"id": "u", "username": "alice", "urls": ["https://a.example"]}

    one, two = structure(data(), User), structure(data(), User)
    assert one == two and one is not two
    one.urls.append("https://b.example")  # mutating one leaves the other alone
    assert two.urls == ["https://a.example"]


def test_the_shared_cache_stays_bounded():
    from wriftai_async._converter import converter
    from wriftai_async._onread import SHARED_CACHE_SIZE

    for i in range(SHARED_CACHE_SIZE + 10):
        structure({"name": f"c{i}", "slug": f"c{i}"}, Category)
    cache = converter.get_structure_hook(Category).cache
    assert 0 < len(cache) <= SHARED_CACHE_SIZE


def test_a_hook_registered_on_a_converter_is_the_one_its_objects_use():
    # Each rule is the converter's hook for its type; the response classes'
    # functions call those hooks, also for the fields built on first read.
    from wriftai_async._converter import make_converter

    conv = make_converter()
    conv.register_structure_hook(datetime, lambda value, _: f"parsed {value}")
    conv.register_structure_hook(str, lambda value, _: str(value).upper())
    model = conv.structure(MODEL, Model)
    assert model.created_at == "parsed 2024-08-24T14:15:22Z"
    assert model.name == "UPSCALER" and model.description == "4X"
    assert model.owner is not None and model.owner.username == "ALICE"
    # The shared converter is untouched.
    assert structure(MODEL, Model).created_at == datetime(
        2024, 8, 24, 14, 15, 22, tzinfo=timezone.utc
    )


def test_objects_built_without_init_are_still_frozen():
    import attrs

    model = structure(MODEL, Model)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        model.name = "other"  # type: ignore[misc]
    assert attrs.evolve(model, name="other").name == "other"


# --- fields built on first read: nothing a user does can tell ---


def _fresh():
    return structure({**MODEL, "brand_new": [1]}, Model)


def test_fields_built_on_read_equal_an_eagerly_built_object():
    import attrs

    eager = Model(
        id=MODEL["id"],
        name="upscaler",
        owner=User(id="u-1", username="alice", avatar_url="https://a/x.png"),
        created_at=datetime(2024, 8, 24, 14, 15, 22, tzinfo=timezone.utc),
        visibility=Visibility.PUBLIC,
        description="4x",
        predictions_count=3,
        categories=[Category(name="Image", slug="image")],
        hardware=Hardware(identifier="gpu-t4", name="T4"),
        license_url="https://example.org/license",
        extra=MappingProxyType({"brand_new": [1]}),
    )
    assert _fresh() == eager and eager == _fresh()
    assert repr(_fresh()) == repr(eager)
    assert attrs.asdict(_fresh()) == attrs.asdict(eager)
    built = _fresh()
    assert built.owner is built.owner  # built once, then stored
    assert dict(built.extra) == {"brand_new": [1]}


def test_pickle_copy_and_hash_work_on_unread_objects():
    import copy
    import pickle

    model = _fresh()
    again = pickle.loads(pickle.dumps(_fresh()))
    assert again == model and dict(again.extra) == {"brand_new": [1]}
    assert copy.copy(_fresh()) == model and copy.deepcopy(_fresh()) == model
    category = structure({"name": "Image", "slug": "image"}, Category)
    unread = structure({"name": "Image", "slug": "image", "x": 1}, Category)
    assert hash(unread) == hash(category) == hash(Category(name="Image", slug="image"))
    assert unstructure(_fresh())["brand_new"] == [1]


def test_unknown_attributes_still_raise_attribute_error():
    model = _fresh()
    with pytest.raises(AttributeError, match="'Model' object has no attribute 'nmae'"):
        model.nmae  # type: ignore[attr-defined] # noqa: B018
    assert not hasattr(model, "nmae") and not hasattr(model, "_wire_x")
    assert getattr(Model(id="m", name="n"), "nmae", 1) == 1


def test_a_malformed_field_raises_on_read_and_leaves_the_rest_readable():
    model = structure({**MODEL, "created_at": "yesterday", "owner": 3}, Model)
    assert model.name == "upscaler" and model.categories[0].slug == "image"
    for _ in range(2):  # every read, not only the first
        with pytest.raises(ResponseDecodeError, match="created_at"):
            model.created_at  # noqa: B018
    with pytest.raises(ResponseDecodeError, match="owner"):
        model.owner  # noqa: B018
    # A repr never raises: it is what logs and tracebacks show.
    text = repr(model)
    assert "created_at=<malformed>" in text and "owner=<malformed>" in text


def test_eq_hash_repr_and_pickling_never_raise_a_decode_error():
    import copy
    import pickle

    def bad(**fields):
        return structure({**MODEL, "created_at": "yesterday", **fields}, Model)

    model = bad()
    # A malformed field compares as the raw value it came from.
    assert model == model and model == bad() and hash(model) == hash(bad())
    assert model != bad(created_at="tomorrow") and model != structure(MODEL, Model)
    assert model != bad(description="other")  # the other fields still count
    assert len({model, bad(), structure(MODEL, Model)}) == 2
    assert "created_at=<malformed>" in repr(model)
    for again in (
        pickle.loads(pickle.dumps(model)),
        copy.copy(model),
        copy.deepcopy(model),
    ):
        assert again == model and again.description == "4x"
        with pytest.raises(ResponseDecodeError, match="created_at"):
            again.created_at  # noqa: B018 # still malformed, still only on read
    # Nested: a page holding it, a model holding a malformed owner.
    page = structure({"items": [{**MODEL, "owner": {"username": 3}}]}, Page[Model])
    assert page == page and hash(page.items[0]) == hash(page.items[0])
    assert hash(page) == hash(pickle.loads(pickle.dumps(page)))  # a list field
    assert pickle.loads(pickle.dumps(page)) == page


def test_identifying_fields_are_checked_when_structuring_the_rest_on_read():
    with pytest.raises(ResponseDecodeError):
        structure({**MODEL, "name": None}, Model)
    with pytest.raises(ResponseDecodeError):
        structure({"name": "no id"}, Model)
    model = structure({**MODEL, "description": 4}, Model)
    with pytest.raises(ResponseDecodeError, match="description"):
        model.description  # noqa: B018
    # The other scalars of its group are still readable, each on its own.
    assert model.predictions_count == 3 and model.visibility is Visibility.PUBLIC


def _is_built(obj, name: str) -> bool:
    from wriftai_async._onread import _slot_of

    try:
        _slot_of(type(obj), name).__get__(obj)  # the slot itself, no build
    except AttributeError:
        return False
    return True


def test_reading_a_field_builds_that_field_only():
    # An owner no other test has seen: owners are shared instances.
    owner = {"id": "u-only-here", "username": "alice", "avatar_url": "a"}
    model = structure({**MODEL, "owner": owner}, Model)
    assert _is_built(model, "id") and _is_built(model, "name")
    assert model.created_at is not None  # a timestamp alone
    assert _is_built(model, "created_at") and not _is_built(model, "updated_at")
    assert not _is_built(model, "owner") and not _is_built(model, "categories")
    assert model.owner is not None and model.owner.username == "alice"
    assert _is_built(model, "owner")
    assert not _is_built(model, "hardware") and not _is_built(model, "extra")
    assert not _is_built(model.owner, "extra")  # nested: on read too
    # A str or int is checked and read from the JSON object, nothing stored.
    assert model.description == "4x" and model.predictions_count == 3
    assert not _is_built(model, "description")


def test_a_scalar_is_checked_on_every_read_until_stored():
    model = structure({**MODEL, "predictions_count": "3"}, Model)
    for _ in range(2):
        with pytest.raises(ResponseDecodeError, match="predictions_count"):
            model.predictions_count  # noqa: B018
    # Reading every other field stores the scalars, and lets the JSON go
    # only when all of them are well formed: this one still raises.
    assert unstructure(structure(MODEL, Model))["predictions_count"] == 3
    with pytest.raises(ResponseDecodeError, match="predictions_count"):
        unstructure(model)
    with pytest.raises(ResponseDecodeError, match="predictions_count"):
        model.predictions_count  # noqa: B018
    assert model.description == "4x"


def test_once_every_field_is_built_the_json_object_is_let_go():
    import attrs

    from wriftai_async._onread import _wire_or_none

    data = {**MODEL}
    model = structure(data, Model)
    assert _wire_or_none(model) is data
    model.owner  # noqa: B018 # one field: the others still need it
    assert _wire_or_none(model) is data
    for field in attrs.fields(Model):
        getattr(model, field.name)
    assert _wire_or_none(model) is None
    assert model == structure(MODEL, Model)


def test_a_read_racing_the_last_build_gets_the_built_value():
    # Thread A's read builds the last field and lets the JSON go while
    # thread B, which found its field unbuilt a moment earlier, goes on to
    # build it: B must get the value, not a decode error.
    import attrs

    from wriftai_async._onread import _set_built

    model = _fresh()
    for field in attrs.fields(Model):
        getattr(model, field.name)  # A: everything built, the JSON let go
    _set_built(model, 0)  # B's stale view: nothing built
    assert model.description == "4x" and model.owner is not None
    assert model.categories[0].slug == "image"


def test_many_threads_reading_fresh_objects_agree():
    import sys
    import threading

    models = [_fresh() for _ in range(300)]
    expected = (_fresh().owner, "4x", _fresh().created_at, _fresh().categories)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def read(order: int) -> None:
        barrier.wait(10)
        for model in models if order % 2 else reversed(models):
            try:
                got = (model.owner, model.description, model.created_at)
                assert got == expected[:3] and model.categories == expected[3]
            except BaseException as exc:  # collected, asserted below
                errors.append(exc)
                return

    threads = [threading.Thread(target=read, args=(i,)) for i in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        sys.setswitchinterval(interval)
    assert errors == []


# -- shapes from the service's own recordings -----------------------------------


@pytest.mark.parametrize("value", ["test_input", None, [1, 2], 3, {"a": 1}])
def test_prediction_input_is_free_form_json(value):
    # A recorded create answers "input": "test_input": never a decode error.
    prediction = structure(
        {"id": "p", "status": "pending", "input": value}, PredictionDetails
    )
    assert prediction.input == value


def test_category_description_is_a_field():
    category = structure(
        {"name": "Audio", "slug": "audio", "description": "Speech"}, Category
    )
    assert category.description == "Speech" and not category.extra
    assert structure({"name": "A", "slug": "a"}, Category).description is None


FLAGS = {
    "anthropic_messages": False,
    "openai_chat_completions": True,
    "openai_embeddings": False,
    "openai_images_generations": False,
    "openai_responses": False,
}


@pytest.mark.parametrize(
    "shape",
    [
        {"number": 1, **FLAGS},  # a version's get, as recorded
        {"number": 1, "compatibilities": FLAGS},  # its create, as recorded
        {"number": 1, "compatibilities": FLAGS, **FLAGS},  # both
    ],
)
def test_compatibility_flags_flat_or_nested(shape):
    version = structure(shape, ModelVersionDetails)
    assert version.compatibilities == FLAGS
    assert not set(FLAGS) & set(version.extra)


def test_an_upload_and_its_completion_are_typed():
    upload = structure({"id": "u", "urls": ["https://s/1"], "part_size": 5}, Upload)
    assert (upload.id, upload.urls, upload.part_size) == ("u", ["https://s/1"], 5)
    done = structure({"file_id": "f"}, UploadCompletion)
    assert (done.download_url, done.file_id) == (None, "f")
