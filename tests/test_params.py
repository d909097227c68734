"""Identifiers, UNSET and query building: caller errors never reach the wire."""

import pytest

from wriftai_async import UNSET, Visibility
from wriftai_async._params import (
    parse_id,
    parse_model,
    parse_model_ref,
    parse_username,
    parse_version,
    patch_body,
    query,
)


@pytest.mark.parametrize(
    "value", ["alice", "a/b/c", "/b", "a/", "", "a b/c", "../x", "a/b:1"]
)
def test_parse_model_rejects(value):
    with pytest.raises(ValueError, match="invalid model identifier"):
        parse_model(value)


def test_parse_model_accepts():
    assert parse_model("deepseek-ai/deepseek-r1.5_b") == (
        "deepseek-ai",
        "deepseek-r1.5_b",
    )


def test_parse_model_ref_and_version():
    assert parse_model_ref("a/b") == ("a", "b", None)
    assert parse_model_ref("a/b:12") == ("a", "b", 12)
    assert parse_version("a/b:3") == ("a", "b", 3)
    with pytest.raises(ValueError, match="version-number"):
        parse_version("a/b")
    with pytest.raises(ValueError):
        parse_model_ref("a/b:x")


def test_non_string_identifier_is_type_error():
    with pytest.raises(TypeError):
        parse_model(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["", "a/b", "..", "a b", "x?y"])
def test_ids_and_usernames_are_path_safe(value):
    with pytest.raises(ValueError):
        parse_id(value)
    with pytest.raises(ValueError):
        parse_username(value)


def test_unset_is_falsy_and_has_a_short_repr():
    assert not UNSET
    assert repr(UNSET) == "UNSET"


def test_patch_body_drops_unset_keeps_none_and_unwraps_enums():
    body = patch_body(
        {"a": UNSET, "b": None, "c": Visibility.PUBLIC, "d": ("x", Visibility.PRIVATE)}
    )
    assert body == {"b": None, "c": "public", "d": ["x", "private"]}


def test_query_repeats_sequences_and_drops_none():
    assert query(a=None, b=[1, 2], c=True, d=Visibility.PUBLIC) == [
        ("b", "1"),
        ("b", "2"),
        ("c", "true"),
        ("d", "public"),
    ]
    assert query(a=None) is None
