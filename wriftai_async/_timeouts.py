"""A deadline for a block of code: ``asyncio.timeout``, its backport on 3.10.

Never ``asyncio.wait_for`` around work a caller may cancel: on Python <= 3.11
it drops an outside cancel that lands as the inner work completes (CPython
gh-86296), so a cancelled task would go on running. A timeout context runs
the work in the caller's own task. On 3.10 one race remains: an outside
cancel landing in the same loop iteration as the deadline becomes the
deadline's ``TimeoutError`` (``async_timeout`` has no ``Task.uncancel`` to
tell them apart). Every request enters one deadline: why it is not anyio's
(2-3 times the cost per call), see the README's "The stack".
"""

from __future__ import annotations

import sys
from contextlib import AbstractAsyncContextManager
from typing import cast

if sys.version_info >= (3, 11):
    from asyncio import timeout as _timeout
else:  # pragma: no cover - exercised by CI's Python 3.10 run
    # Not installed beside Python 3.11+, where mypy runs: typed as Any there.
    from async_timeout import (  # type: ignore[import-not-found, unused-ignore]
        timeout as _timeout,
    )

__all__ = ["deadline"]


def deadline(seconds: float | None) -> AbstractAsyncContextManager[object]:
    """A context that raises ``TimeoutError`` once ``seconds`` have passed.

    ``None`` means no deadline. On 3.10, ``async_timeout`` raises
    ``asyncio.TimeoutError``, which is ``TimeoutError`` from 3.11 on: catch
    ``asyncio.TimeoutError`` to cover both.
    """
    return cast("AbstractAsyncContextManager[object]", _timeout(seconds))
