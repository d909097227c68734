"""Every default and bound of the client, in one place.

The constructors (``AsyncClient``, ``AsyncSession``, the generated ``Client``,
``RetryPolicy``) take their defaults from here, and the bounds that keep
memory and time finite whatever a server sends are named here once.
"""

from __future__ import annotations

from ._version import __version__

DEFAULT_BASE_URL = "https://api.wrift.ai/v1"
USER_AGENT = f"wriftai-async/{__version__}"

# -- the constructors' defaults ---------------------------------------------------

DEFAULT_MAX_RETRIES = 2
#: Seconds one call may take in all (pool wait, connect, retries, body).
DEFAULT_TIMEOUT = 60.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_CONNECTION_LIMIT = 100
#: Bytes of one body (or event) after decompression.
DEFAULT_MAX_RESPONSE_SIZE = 64 * 1024 * 1024
#: Ten times the largest listing measured (100,000 models through one
#: ``list_for_user``, README scenario E); 1,000,000 unread models hold ~1 GB.
DEFAULT_MAX_LISTING_ITEMS = 1_000_000

# RetryPolicy: full-jitter backoff ceilings and the longest 429 wait, seconds.
DEFAULT_BACKOFF_BASE = 0.5
DEFAULT_BACKOFF_MAX = 8.0
DEFAULT_MAX_RATE_LIMIT_WAIT = 60.0

# -- bounds -----------------------------------------------------------------------

#: A body may decode to at most ``max_response_size // BYTES_PER_JSON_VALUE``
#: JSON values (1 Mi at the default; ~100 bytes of Python objects each).
BYTES_PER_JSON_VALUE = 64
#: The values one error body may decode to (its ``detail`` only is kept).
MAX_ERROR_BODY_VALUES = 1 << 16
#: The largest error body decoded for its ``detail``: an exception is kept (a
#: bulk call's results hold one per failed item), so what it holds of the
#: server's answer must be small; a larger body keeps its first 2,000
#: characters as text, and no ``detail``. Real error bodies are a few KiB.
MAX_ERROR_BODY_SIZE = 256 * 1024
#: The most bytes read of an upload part's answer: only its headers (the
#: ``ETag``) and an error's first lines are used, and up to ``concurrency``
#: parts of several files are answered at once.
MAX_PART_ANSWER_SIZE = 64 * 1024
#: Redirects one request follows (each within the API's origin).
MAX_REDIRECTS = 10
#: A stream left at its end (an event stream's terminal event) waits this
#: long, for at most ``MAX_STREAM_TAIL_SIZE`` bytes, for the body's own end
#: that follows: then its connection is pooled, not closed (a new TLS
#: handshake, and a new CONNECT through a proxy, for the next call).
STREAM_TAIL_WAIT = 0.25
MAX_STREAM_TAIL_SIZE = 64 * 1024
#: Empty pages naming a next page that one listing accepts: a real server
#: sends one at most (the last), a filtered listing a few more.
MAX_EMPTY_PAGES = 100
