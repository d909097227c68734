"""What exact JSON and type-exact object sharing cost, side by side.

Two changes of issue 21 sit on the decode and structuring hot path:

- ``_json.loads`` looks for a run of 19 digits (an integer orjson would turn
  into a float) before trusting orjson's result; a body with one is decoded
  again by the standard library.
- the cache of shared leaf objects (owner, hardware, categories) is keyed on
  ``orjson.dumps(o)`` (type-exact) instead of ``tuple(o.items())`` (where
  ``1 == 1.0 == True``).

Both are measured here against what they replaced, in the same run, on the
benchmark server's own pages (``fake_server.page_bytes``: 50 models, ~37 KB)
and a prediction body::

    python benchmarks/exact_json.py

Figures are the best of several repeats (µs per call); read the ratios.
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fake_server

from wriftai_async import Model, Page, _json, structure

PAGES = [fake_server.page_bytes(i, 10, 50) for i in range(fake_server.PAGE_VARIANTS)]
PREDICTION = fake_server.prediction_body("11111111-2222-4333-8444-555555555555")
BIG_INT_PAGE = PAGES[0].replace(
    b'"predictions_count":', b'"predictions_count":1' + b"0" * 20, 1
)


def best(fn: Any, number: int, repeat: int = 7) -> float:
    """Microseconds per call, best of ``repeat``."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def decode_rows() -> None:
    print("decode, µs per body (orjson alone | _json.loads, exact | ratio)")
    cases = [
        ("page of 50 models, 37 KB", PAGES, 300),
        ("prediction, <1 KB", [PREDICTION], 20000),
        ("page with a 21-digit integer", [BIG_INT_PAGE], 300),
    ]
    for name, bodies, number in cases:
        fast = best(lambda b=bodies: [orjson.loads(x) for x in b], number) / len(bodies)
        exact = best(lambda b=bodies: [_json.loads(x) for x in b], number) / len(bodies)
        print(f"  {name:32} {fast:8.2f} | {exact:8.2f} | {exact / fast:5.2f}x")


def _leaves(page: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for model in page["items"]:
        found.append(model["owner"])
        found.append(model["hardware"])
        found.extend(model["categories"])
    return found


def key_rows() -> None:
    leaves = [leaf for body in PAGES for leaf in _leaves(orjson.loads(body))]
    cache: dict[Any, Any] = {}

    def old_key() -> None:
        for o in leaves:
            cache.get(tuple(o.items()))

    def new_key() -> None:
        dumps = orjson.dumps
        for o in leaves:
            cache.get(dumps(o))

    old = best(old_key, 200) / len(leaves) * 1000
    new = best(new_key, 200) / len(leaves) * 1000
    print("shared-object cache key, ns per leaf object (owner, hardware, category)")
    print(
        f"  tuple(o.items()) {old:6.0f} | orjson.dumps(o) {new:6.0f} | {new / old:.2f}x"
    )


def structure_rows() -> None:
    decoded = [orjson.loads(b) for b in PAGES]
    models = sum(len(d["items"]) for d in decoded)

    def structure_all() -> None:
        for d in decoded:
            structure(d, Page[Model])

    def client_path() -> None:
        for b in PAGES:
            structure(_json.loads(b), Page[Model])

    print("structuring, µs per model")
    print(f"  structure(page, Page[Model])     {best(structure_all, 50) / models:6.2f}")
    print(f"  _json.loads + structure (client) {best(client_path, 50) / models:6.2f}")


def main() -> None:
    decode_rows()
    key_rows()
    structure_rows()


if __name__ == "__main__":
    main()
