"""JSON encoding and decoding for the wire, in one place so it can be swapped."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["dumps", "loads"]

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def loads(data: bytes | str) -> Any:
    """Decode a JSON document; raises ``ValueError`` on malformed input."""
    return json.loads(data)


def dumps(value: Any) -> bytes:
    """Encode ``value`` as compact UTF-8 JSON."""
    return _encoder.encode(value).encode()
