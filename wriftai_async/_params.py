"""Things shared by every resource method: the UNSET sentinel and identifiers.

A model is named ``owner/name``; a version ``owner/name:number``. Anything
else is the caller's mistake, reported with ``ValueError`` before a request is
sent rather than as a confusing 404 from the server.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any, Final, Literal
from urllib.parse import quote

from ._checks import check_page_size
from ._errors import ResponseDecodeError
from ._repr import bounded_repr

__all__ = [
    "UNSET",
    "UnsetType",
    "check_page_size",
    "join_path",
    "page_query",
    "parse_model",
    "parse_model_ref",
    "parse_version",
    "patch_body",
    "query",
    "search_query",
    "server_segment",
    "text_digest",
]


class UnsetType(enum.Enum):
    """The type of :data:`UNSET`: "this argument was not given".

    ``None`` cannot play that role in PATCH requests, where it means "set this
    field to null".
    """

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> Literal[False]:
        return False


UNSET: Final = UnsetType.UNSET
"""Default of every optional PATCH/POST keyword: the field is not sent."""

# Usernames and model names are URL path segments: letters, digits, "-", "_"
# and ".", not starting with a dot (which would allow "..").
_SEGMENT = r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*"
_MODEL_RE = re.compile(rf"({_SEGMENT})/({_SEGMENT})")
_REF_RE = re.compile(rf"({_SEGMENT})/({_SEGMENT})(?::([0-9]+))?")
_NAME_RE = re.compile(_SEGMENT)
# What join_path passes through as it is (everything else is percent-encoded).
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9_.\-~]+")
_NOT_SEGMENTS = frozenset({"", ".", ".."})
_quote = partial(quote, safe="")


def _require_str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    return value


def parse_username(value: str) -> str:
    """Check a username used as a path segment and return it."""
    _require_str(value, "username")
    if not _NAME_RE.fullmatch(value):
        raise ValueError(f"invalid username {value!r}")
    return value


def parse_model(value: str) -> tuple[str, str]:
    """Split ``"owner/name"``; raise ``ValueError`` for anything else."""
    _require_str(value, "model identifier")
    match = _MODEL_RE.fullmatch(value)
    if match is None:
        raise ValueError(f"invalid model identifier {value!r}: expected 'owner/name'")
    return match[1], match[2]


def parse_model_ref(value: str) -> tuple[str, str, int | None]:
    """Split ``"owner/name"`` or ``"owner/name:number"``."""
    _require_str(value, "model identifier")
    match = _REF_RE.fullmatch(value)
    if match is None:
        raise ValueError(
            f"invalid model identifier {value!r}: "
            "expected 'owner/name' or 'owner/name:version-number'"
        )
    number = int(match[3]) if match[3] is not None else None
    return match[1], match[2], number


def parse_version(value: str) -> tuple[str, str, int]:
    """Split ``"owner/name:number"``; the number is required."""
    owner, name, number = parse_model_ref(value)
    if number is None:
        raise ValueError(
            f"invalid version identifier {value!r}: "
            "expected 'owner/name:version-number'"
        )
    return owner, name, number


def parse_id(value: str, what: str = "prediction id") -> str:
    """Check an opaque id (a UUID on the real service) used in a path."""
    _require_str(value, what)
    if not _NAME_RE.fullmatch(value):
        raise ValueError(f"invalid {what} {value!r}")
    return value


def check_cursor(cursor: str | None) -> None:
    """``None`` (the first page) or a cursor string from a previous page."""
    if cursor is not None and not isinstance(cursor, str):
        raise TypeError(f"cursor must be a str, not {type(cursor).__name__}")


def page_query(
    cursor: str | None, page_size: int | None, **params: Any
) -> list[tuple[str, str]] | None:
    """The query of one page of a listing, its arguments checked."""
    check_cursor(cursor)
    check_page_size(page_size)
    return query(cursor=cursor, page_size=page_size, **params)


def search_query(
    cursor: str | None, page_size: int | None, q: str
) -> list[tuple[str, str]] | None:
    """The query of one page of a search: :func:`page_query` with its text.

    ``q`` must be a str: ``None`` would be left out of the query (the
    server's 422) and ``5`` sent as ``"5"``.
    """
    _require_str(q, "q (the search text)")
    return page_query(cursor, page_size, q=q)


def join_path(*segments: str) -> str:
    """An absolute API path of ``segments``, each one path segment whatever it holds.

    Caller arguments are checked before they get here, but ids and cursors
    also come from the server (an ``init`` event, an upload plan): each
    segment is percent-encoded whole, so ``/``, ``?``, ``#``, ``%`` or a
    control character in it can neither add a segment, start a query nor
    forge a log line. ``""``, ``"."`` and ``".."`` cannot be made harmless
    and raise ``ValueError``.

    Example::

        join_path("predictions", "a/b", "stream")  # "/predictions/a%2Fb/stream"
    """
    parts = []
    for segment in segments:
        if segment in _NOT_SEGMENTS:
            raise ValueError(f"{segment!r} cannot be a URL path segment")
        parts.append(segment if _PLAIN_SEGMENT.fullmatch(segment) else _quote(segment))
    return "/" + "/".join(parts)


#: The longest id from the server put into a path (a UUID is 36 characters):
#: a megabyte "id" would make every URL, log line and message that long.
MAX_SERVER_SEGMENT = 1024


def server_segment(value: object, what: str, *, method: str, url: str) -> str:
    """An id the server sent, checked before it goes into a path.

    Any text but ``""``, ``"."``, ``".."`` and ids longer than
    :data:`MAX_SERVER_SEGMENT` characters is taken (:func:`join_path` encodes
    it); anything else is the server's mistake, a
    :class:`ResponseDecodeError` with a bounded message.
    """
    if (
        not isinstance(value, str)
        or value in _NOT_SEGMENTS
        or len(value) > MAX_SERVER_SEGMENT
    ):
        raise ResponseDecodeError(
            f"{method} {url} answered a {what} that cannot be used in a URL: "
            f"{bounded_repr(value, 80)}",
            method=method,
            url=url,
        )
    return value


def text_digest(text: str) -> bytes:
    """16 bytes that stand for a cursor or event id the server sent, any length."""
    # A server may send lone surrogates (JSON "\\ud800"): encode them anyway.
    data = text.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16).digest()


def patch_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Keep the fields that were given; ``None`` stays (it is sent as null)."""
    body: dict[str, Any] = {}
    for key, value in fields.items():
        if value is UNSET:
            continue
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, (list, tuple)):
            value = [v.value if isinstance(v, enum.Enum) else v for v in value]
        body[key] = value
    return body


def query(**params: Any) -> list[tuple[str, str]] | None:
    """Build query pairs, dropping ``None``; sequences repeat the key."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple, set, frozenset)):
            values: Iterable[Any] = value
        else:
            values = (value,)
        for item in values:
            if isinstance(item, enum.Enum):
                item = item.value
            elif isinstance(item, bool):
                item = "true" if item else "false"
            pairs.append((key, str(item)))
    return pairs or None
