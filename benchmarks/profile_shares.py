"""Group a ``run.py --profile`` run's own time by where it is spent.

``python benchmarks/run.py --profile --scenarios A,B`` saves one pstats file
per scenario and contender in ``benchmarks/results/``; this prints, for each,
the share of own time (cProfile's ``tottime``) spent in each layer: the
socket system calls, aiohttp and its helpers, JSON decoding, the objects,
the rest of wriftai_async, and everything else (asyncio, the driver). The
README's profile table is this output::

    python benchmarks/profile_shares.py [DIR]
"""

from __future__ import annotations

import pstats
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

# First match wins: (layer, test on (file name, function name)).
_OBJECT_FILES = ("_onread.py", "_converter.py", "_objects.py", "_repr.py")
_AIOHTTP_DIRS = ("/aiohttp/", "/yarl/", "/multidict/", "/propcache/")
LAYERS = [
    (
        "socket syscalls (send, recv, epoll)",
        lambda f, n: f == "~" and any(w in n for w in ("socket", "epoll", "select")),
    ),
    (
        "aiohttp, yarl, multidict",
        lambda f, n: any(p in f for p in _AIOHTTP_DIRS),
    ),
    (
        "JSON decode (orjson; ours with the exact-integer look)",
        lambda f, n: "orjson" in n or f.endswith("wriftai_async/_json.py"),
    ),
    (
        "objects: structuring and first reads",
        lambda f, n: (
            "<wriftai_async structure" in f
            or ("wriftai_async/" in f and f.endswith(_OBJECT_FILES))
        ),
    ),
    ("wriftai_async request path and pager", lambda f, n: "wriftai_async/" in f),
    ("asyncio, benchmark driver, reading code, other", lambda f, n: True),
]


def shares(path: Path) -> dict[str, float]:
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    totals = dict.fromkeys((name for name, _ in LAYERS), 0.0)
    for (filename, _line, function), (
        _cc,
        _nc,
        tottime,
        _ct,
        _callers,
    ) in stats.items():
        for name, test in LAYERS:
            if test(filename, function):
                totals[name] += tottime
                break
    whole = sum(totals.values()) or 1.0
    return {name: value / whole for name, value in totals.items()}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else RESULTS
    files = sorted(folder.glob("profile_*.pstats"))
    if not files:
        print(
            f"no profile in {folder}: run `python benchmarks/run.py --profile`",
            file=sys.stderr,
        )
        return 1
    columns = {f.stem.removeprefix("profile_"): shares(f) for f in files}
    print("| share of own time | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, _ in LAYERS:
        cells = " | ".join(f"{100 * c[name]:.0f}%" for c in columns.values())
        print(f"| {name} | {cells} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
