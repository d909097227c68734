"""JSON encoding and decoding for the wire, in one place so it can be swapped.

orjson decodes a 50-model listing page in about half the time of the standard
library's ``json`` (measured: 1.0 vs 2.0 µs per model, see
``benchmarks/``); it is the one runtime dependency beyond aiohttp, attrs
and cattrs.

**Bounded decoding.** A body's bytes are capped by ``max_response_size``, but
what they decode to is not: ``[],[],...`` costs about 100 bytes of Python
objects and up to 1 µs of CPU per 3 bytes of body. :func:`loads_bounded`
counts the JSON values up front (``bytes.count`` on the structural
characters, a few ms for 64 MiB) and refuses a body with more than
``max_values`` before decoding it. Nesting is bounded by orjson itself (1024
levels). Decoding in a thread does not help: orjson holds the GIL for the
whole call (measured: a 42 MB body decoded with ``asyncio.to_thread`` still
stalled the loop for the full 1.3 s), so the value count is the bound.

**Exact integers.** orjson turns an integer outside 64 bits (below
``-2**63`` or above ``2**64 - 1``) into a float without a word:
``18446744073709551617`` becomes ``1.8446744073709552e+19``. Such an integer
has at least 19 digits in a row, so a body with no run of 19 digits is
decoded by orjson alone; one with such a run (rare: a long number, or
digits in a string) is checked by orjson, then decoded again by the
standard library's ``json``, which keeps every integer exact (one of more
than 4,300 digits, Python's limit, is refused with ``ValueError``). The
look for a run costs about 0.4 µs per KiB, 15 µs on a 37 KB page of 50
models that orjson decodes in 65 µs (it was 24 µs: see ``_SHORT_RUN``).
"""

from __future__ import annotations

import datetime
import enum
import io
import json
import math
import os
import uuid
from typing import Any, NoReturn

import orjson

__all__ = ["TOO_DEEP", "JSONTooLargeError", "dumps", "loads", "loads_bounded"]

# Below this a body cannot hold enough values to matter; skip the counting.
_COUNT_ABOVE = 64 * 1024
_STRUCTURAL = (b",", b":", b"[", b"{")


#: Why a value that contains itself, or nests too deep, is not sent.
TOO_DEEP = (
    "the value contains itself or is nested too deep to send as JSON "
    "(a list or dict inside itself?)"
)


class JSONTooLargeError(ValueError):
    """A body that would decode to more values than allowed."""


# Every digit becomes "0": a run of 19 digits is then one find() away.
_DIGITS_TO_ZERO = bytes(
    ord("0") if ord("0") <= b <= ord("9") else b for b in range(256)
)
_LONG_RUN = b"0" * 19
# A run of 19 holds a run of 10, and find() looks for 10 equal bytes about
# eight times faster than for 19 (CPython picks another search for the
# shorter needle; measured 0.8 against 6.6 µs on a 37 KB page): look for a
# run of 19 only from the first run of 10.
_SHORT_RUN = b"0" * 10


def _may_hold_big_int(data: bytes | str) -> bool:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    digits = data.translate(_DIGITS_TO_ZERO)
    start = digits.find(_SHORT_RUN)
    return start >= 0 and digits.find(_LONG_RUN, start) >= 0


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _exact(data: bytes | str) -> Any:
    """Decode valid JSON (orjson checked it) with every integer exact."""
    try:
        return json.loads(data, parse_constant=_refuse_constant)
    except RecursionError:
        # Deeper than this interpreter's recursion allows (orjson allows
        # 1,024 levels): as malformed as any other undecodable body.
        raise ValueError("the JSON is nested too deep to decode exactly") from None


def loads(data: bytes | str) -> Any:
    """Decode a JSON document; raises ``ValueError`` on malformed input.

    Integers are exact, however large (see the module docstring).
    """
    value = orjson.loads(data)
    return _exact(data) if _may_hold_big_int(data) else value


def loads_bounded(data: bytes, max_values: int) -> Any:
    """Decode ``data``, refusing one with more than ``max_values`` values.

    The count is an upper bound (a comma inside a string counts too), so a
    body is never let through that decodes to more. Raises ``ValueError``
    (``JSONTooLargeError`` for the count, orjson's error for malformed JSON
    or nesting deeper than 1024 levels).
    """
    if len(data) > _COUNT_ABOVE:
        values = 1 + sum(data.count(char) for char in _STRUCTURAL)
        if values > max_values:
            raise JSONTooLargeError(
                f"the JSON holds up to {values} values, more than the "
                f"{max_values} allowed (max_response_size // 64)"
            )
    return loads(data)


def dumps(value: Any) -> bytes:
    """Encode ``value`` as compact UTF-8 JSON.

    Enums become their values, datetimes ISO 8601 strings. An integer beyond
    64 bits (which orjson refuses; :func:`loads` returns them exactly) is
    written exactly by the standard library's encoder instead. A NaN or an
    infinity raises ``ValueError``, as httpx (the official client's
    transport) and ``json.dumps(allow_nan=False)`` do: JSON has no such
    number, and orjson would quietly send ``null`` in its place.
    """
    try:
        data = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError as exc:
        _refuse_non_finite(value)
        try:
            text = json.dumps(
                value,
                separators=(",", ":"),
                ensure_ascii=False,
                allow_nan=False,
                default=_plain,
            )
        except RecursionError:
            # orjson stops at 255 levels; deeper than Python's limit the
            # standard library overflows.
            raise ValueError(TOO_DEEP) from None
        except (TypeError, ValueError) as fallback:
            if "Circular reference" in str(fallback):
                raise ValueError(TOO_DEEP) from None
            if isinstance(fallback, _FileLike):
                raise TypeError(str(fallback)) from None
            raise exc from None  # not a big integer: orjson's own error
        return text.encode("utf-8")
    # orjson writes a NaN or an infinity as null: only then is there one to
    # look for, so a body without null costs nothing more.
    if b"null" in data:
        _refuse_non_finite(value)
    return data


def _refuse_non_finite(value: Any) -> None:
    """``ValueError`` naming where a NaN or an infinity sits in ``value``."""
    # Each entry's path is a linked (parent, key) pair, spelled out only for
    # the value refused: a large body with a null in it stays cheap to walk.
    # Each container is walked once: one that contains itself (which the
    # encoder then refuses) would otherwise be walked forever.
    seen: set[int] = set()
    stack: list[tuple[Any, Any]] = [(value, None)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError(
                    f"{item!r} at {_spelled(path)} cannot be sent: JSON has no "
                    "NaN or infinity (send None, or a string)"
                )
        elif isinstance(item, (dict, list, tuple)):
            if id(item) in seen:
                continue
            seen.add(id(item))
            if isinstance(item, dict):
                stack.extend((v, (path, k)) for k, v in item.items())
            else:
                stack.extend((v, (path, i)) for i, v in enumerate(item))


def _spelled(path: Any) -> str:
    keys: list[str] = []
    while path is not None:
        path, key = path
        keys.append(f"[{key!r}]")
    return "".join(reversed(keys)) or "the top level"


def _plain(value: Any) -> Any:
    """What orjson writes natively and the standard library does not."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (os.PathLike, bytes, bytearray, memoryview, io.IOBase)):
        # A file's path or content where a value was expected: what was
        # almost certainly meant is an upload.
        raise _FileLike(
            f"{type(value).__name__} is not JSON serializable; to upload a "
            "file in an input, wrap it: File(path), File(data) or File(fileobj)"
        )
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class _FileLike(TypeError):
    """A value that looks like a file's path or content (see :func:`_plain`)."""
