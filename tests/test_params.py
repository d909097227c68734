"""Identifiers, UNSET and query building: caller errors never reach the wire."""

import pytest

from wriftai_async import UNSET, ResponseDecodeError, Visibility
from wriftai_async._params import (
    join_path,
    parse_id,
    parse_model,
    parse_model_ref,
    parse_username,
    parse_version,
    patch_body,
    query,
    server_segment,
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


@pytest.mark.parametrize(
    ("segment", "encoded"),
    [
        (
            "../../../admin/delete?confirm=yes#",
            "..%2F..%2F..%2Fadmin%2Fdelete%3Fconfirm%3Dyes%23",
        ),
        ("a b", "a%20b"),
        ("%0A", "%250A"),
        ("x\x1b[31m", "x%1B%5B31m"),
        ("pred:123", "pred%3A123"),
        (
            "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        ),
    ],
)
def test_join_path_keeps_each_segment_one_segment(segment: str, encoded: str) -> None:
    assert join_path("predictions", segment, "stream") == (
        f"/predictions/{encoded}/stream"
    )


@pytest.mark.parametrize("segment", ["", ".", ".."])
def test_join_path_refuses_segments_that_cannot_be_encoded(segment: str) -> None:
    with pytest.raises(ValueError, match="path segment"):
        join_path("uploads", segment, "complete")


@pytest.mark.parametrize("value", ["", "..", None, 5, ["id"]])
def test_server_segment_refuses_with_a_decode_error(value: object) -> None:
    with pytest.raises(ResponseDecodeError, match="cannot be used in a URL"):
        server_segment(value, "prediction id", method="POST", url="/predictions")
