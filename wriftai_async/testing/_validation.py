"""Request validation with the service's error shapes.

Field errors are collected (not raised one at a time) so a 422 lists every
problem at once, as ``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}``.
Bodies reject unknown fields: the emulator is there to catch client bugs, and
a misspelt field silently ignored is exactly such a bug.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import urlsplit

from multidict import MultiMapping

from ._state import Store

Loc = tuple[str | int, ...]
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,98}[a-z0-9])?$")
MAX_PAGE_SIZE = 100


class ApiError(Exception):
    """An error answer: ``status`` with body ``{"detail": detail}``."""

    def __init__(
        self,
        status: int,
        detail: str | list[dict[str, Any]],
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


class Errors:
    """Collects field errors; ``check()`` raises them all as one 422."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, loc: Loc, msg: str, type_: str) -> None:
        self.items.append({"loc": list(loc), "msg": msg, "type": type_})

    def check(self) -> None:
        if self.items:
            raise ApiError(422, self.items)


def invalid(loc: Loc, msg: str, type_: str) -> ApiError:
    return ApiError(422, [{"loc": list(loc), "msg": msg, "type": type_}])


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a 422 (never a 500)."""
    if not raw.strip():
        raise invalid(("body",), "Field required", "missing")
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid(("body",), f"JSON decode error: {exc}", "json_invalid") from None
    if not isinstance(value, dict):
        raise invalid(("body",), "Input should be a valid dictionary", "dict_type")
    return value


# -- field checks: each returns the cleaned value or records an error ----------

_INVALID = object()
Check = Callable[[Any, Loc, Errors, Store], Any]


def is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.netloc)
        and not any(ch.isspace() for ch in value)
    )


def check_slug(value: Any, loc: Loc, errors: Errors, store: Store) -> Any:
    if not isinstance(value, str):
        errors.add(loc, "Input should be a valid string", "string_type")
        return _INVALID
    if not SLUG.match(value):
        errors.add(
            loc,
            "Name must be lowercase letters, digits, '.', '-' or '_'",
            "string_pattern_mismatch",
        )
        return _INVALID
    return value


def check_visibility(value: Any, loc: Loc, errors: Errors, store: Store) -> Any:
    allowed = ["private", "public"]
    if store.settings.style == "new":
        allowed.append("restricted")
    if value not in allowed:
        options = " or ".join(repr(v) for v in allowed)
        errors.add(loc, f"Input should be {options}", "enum")
        return _INVALID
    return value


def check_optional_str(value: Any, loc: Loc, errors: Errors, store: Store) -> Any:
    if value is not None and not isinstance(value, str):
        errors.add(loc, "Input should be a valid string", "string_type")
        return _INVALID
    return value


def check_optional_url(value: Any, loc: Loc, errors: Errors, store: Store) -> Any:
    if value is None:
        return None
    if not isinstance(value, str) or not is_http_url(value):
        errors.add(loc, "Input should be a valid URL", "url_parsing")
        return _INVALID
    return value


def check_hardware(value: Any, loc: Loc, errors: Errors, store: Store) -> Any:
    if not isinstance(value, str):
        errors.add(loc, "Input should be a valid string", "string_type")
        return _INVALID
    if value not in store.hardware:
        errors.add(loc, f"Unknown hardware {value!r}", "value_error")
        return _INVALID
    return value


def check_category_slugs(value: Any, loc: Loc, errors: Errors, store: Store) -> Any:
    if not isinstance(value, list):
        errors.add(loc, "Input should be a valid list", "list_type")
        return _INVALID
    ok = True
    for index, slug in enumerate(value):
        if not isinstance(slug, str):
            errors.add((*loc, index), "Input should be a valid string", "string_type")
            ok = False
        elif slug not in store.categories:
            errors.add((*loc, index), f"Unknown category {slug!r}", "value_error")
            ok = False
    # Duplicates collapse, keeping first-seen order.
    return list(dict.fromkeys(value)) if ok else _INVALID


def check_optional_url_list(value: Any, loc: Loc, errors: Errors, store: Store) -> Any:
    if value is None:
        return None
    if not isinstance(value, list):
        errors.add(loc, "Input should be a valid list", "list_type")
        return _INVALID
    before = len(errors.items)
    for index, item in enumerate(value):
        check_optional_url(item, (*loc, index), errors, store)
        if item is None:
            errors.add((*loc, index), "Input should be a valid URL", "url_parsing")
    return list(value) if len(errors.items) == before else _INVALID


MODEL_FIELDS: dict[str, Check] = {
    "name": check_slug,
    "visibility": check_visibility,
    "description": check_optional_str,
    "overview": check_optional_str,
    "hardware_identifier": check_hardware,
    "source_url": check_optional_url,
    "license_url": check_optional_url,
    "paper_url": check_optional_url,
    "category_slugs": check_category_slugs,
}
NOT_NULLABLE = frozenset(
    {"name", "visibility", "hardware_identifier", "category_slugs"}
)


def check_str_list(value: Any, loc: Loc, errors: Errors, store: Store) -> Any:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.add(loc, "Input should be a valid list of strings", "list_type")
        return _INVALID
    return list(dict.fromkeys(value))


def validate_fields(
    body: dict[str, Any],
    fields: dict[str, Check],
    store: Store,
    *,
    required: Collection[str] = (),
    not_nullable: Collection[str] = (),
    loc: Loc = ("body",),
    errors: Errors | None = None,
) -> dict[str, Any]:
    """Check each present field; absent fields stay absent (PATCH semantics).

    With ``errors`` (a nested object's check), problems are added there and
    not raised here; ``loc`` is where the object sits in the request.
    """
    nested = errors is not None
    errors = errors if errors is not None else Errors()
    base = loc
    cleaned: dict[str, Any] = {}
    for key, value in body.items():
        loc = (*base, key)
        check = fields.get(key)
        if check is None:
            errors.add(loc, "Extra inputs are not permitted", "extra_forbidden")
        elif value is None and key in not_nullable:
            errors.add(loc, "Field may not be null", "none_forbidden")
        else:
            result = check(value, loc, errors, store)
            if result is not _INVALID:
                cleaned[key] = result
    for key in required:
        if key not in body:
            errors.add((*base, key), "Field required", "missing")
    if not nested:
        errors.check()
    return cleaned


# -- query parameters ----------------------------------------------------------


def query_enum(
    query: MultiMapping[str], name: str, options: Collection[str], default: str
) -> str:
    value = query.get(name, default)
    if value not in options:
        allowed = " or ".join(repr(v) for v in options)
        raise invalid(("query", name), f"Input should be {allowed}", "enum")
    return value


def query_enum_list(
    query: MultiMapping[str], name: str, options: Collection[str]
) -> list[str]:
    values = query.getall(name, [])
    errors = Errors()
    for index, value in enumerate(values):
        if value not in options:
            errors.add(("query", name, index), f"Unknown value {value!r}", "enum")
    errors.check()
    return values


def query_page_size(query: MultiMapping[str], default: int) -> int:
    raw = query.get("page_size")
    if raw is None:
        return default
    try:
        size = int(raw)
    except ValueError:
        raise invalid(
            ("query", "page_size"), "Input should be a valid integer", "int_parsing"
        ) from None
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise invalid(
            ("query", "page_size"),
            f"Input should be between 1 and {MAX_PAGE_SIZE}",
            "less_than_equal" if size > MAX_PAGE_SIZE else "greater_than_equal",
        )
    return size


def validate_input(input_: dict[str, Any], schema: dict[str, Any]) -> None:
    """``Validate-Input: true``: required keys, known keys, simple JSON types."""
    properties = schema.get("properties")
    errors = Errors()
    for key in schema.get("required", []):
        if key not in input_:
            errors.add(("body", "input", key), "Field required", "missing")
    if isinstance(properties, dict):
        for key, value in input_.items():
            spec = properties.get(key)
            if spec is None:
                errors.add(
                    ("body", "input", key),
                    "Extra inputs are not permitted",
                    "extra_forbidden",
                )
            elif isinstance(spec, dict) and not _type_matches(value, spec.get("type")):
                errors.add(
                    ("body", "input", key),
                    f"Input should be of type {spec.get('type')}",
                    f"{spec.get('type')}_type",
                )
    errors.check()


_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


def _type_matches(value: Any, type_: Any) -> bool:
    check = _JSON_TYPES.get(type_) if isinstance(type_, str) else None
    return check is None or check(value)
