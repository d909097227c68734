"""Cursor pagination: ``cursor`` + ``page_size`` in, a page object out.

A cursor is urlsafe base64 of ``{"o": offset, "q": fingerprint}``, where the
fingerprint hashes the path and every query parameter except ``cursor`` and
``page_size``. A cursor replayed against another query is therefore rejected
(400), as the API reference says cursors are only valid for the same query.
Changing ``page_size`` between pages is allowed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aiohttp import web

from ._validation import ApiError, query_page_size

T = TypeVar("T")
_NOT_PART_OF_QUERY = frozenset({"cursor", "page_size"})


def _fingerprint(request: web.Request) -> str:
    pairs = sorted(
        (key, value)
        for key, value in request.query.items()
        if key not in _NOT_PART_OF_QUERY
    )
    text = json.dumps([request.path, pairs])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_cursor(offset: int, fingerprint: str) -> str:
    raw = json.dumps({"o": offset, "q": fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, fingerprint: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        offset = data["o"]
        query = data["q"]
    except (ValueError, binascii.Error, KeyError, TypeError):
        raise ApiError(400, "Invalid cursor") from None
    if not isinstance(offset, int) or offset < 0 or isinstance(offset, bool):
        raise ApiError(400, "Invalid cursor")
    if query != fingerprint:
        raise ApiError(400, "Cursor does not belong to this query")
    return offset


def paginate(
    request: web.Request,
    records: Sequence[T],
    render: Callable[[T], dict[str, Any]],
    *,
    default_page_size: int,
    with_urls: bool,
) -> dict[str, Any]:
    """Slice already-sorted ``records`` and render only the page's items."""
    size = query_page_size(request.query, default_page_size)
    fingerprint = _fingerprint(request)
    cursor = request.query.get("cursor")
    offset = decode_cursor(cursor, fingerprint) if cursor else 0
    items = [render(record) for record in records[offset : offset + size]]
    next_cursor = (
        encode_cursor(offset + size, fingerprint)
        if offset + size < len(records)
        else None
    )
    previous_cursor = (
        encode_cursor(max(offset - size, 0), fingerprint) if offset > 0 else None
    )
    page: dict[str, Any] = {
        "items": items,
        "next_cursor": next_cursor,
        "previous_cursor": previous_cursor,
    }
    if with_urls:
        page["next_url"] = _url_with_cursor(request, next_cursor)
        page["previous_url"] = _url_with_cursor(request, previous_cursor)
    return page


def _url_with_cursor(request: web.Request, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    pairs = [(k, v) for k, v in request.query.items() if k != "cursor"]
    pairs.append(("cursor", cursor))
    return str(request.url.with_query(pairs))
