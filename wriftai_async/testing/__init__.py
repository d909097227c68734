"""A local, in-memory emulator of the WriftAI REST API, for tests.

It is a real aiohttp server on 127.0.0.1, so clients are exercised over real
sockets::

    from wriftai_async.testing import Emulator

    async with Emulator(cancel_delay=0.05) as emu:
        ...  # point a client at emu.base_url with emu.access_token

    with Emulator().run_in_thread() as emu:  # from sync code
        ...

It speaks what the official ``wriftai`` 0.34 client speaks unless built with
``style="old"``. ``python -m wriftai_async.testing`` serves it on its own
until Ctrl-C (see ``_serve``).

Pytest users can enable the ``wriftai_emulator`` fixture with
``pytest_plugins = ["wriftai_async.testing.pytest_plugin"]``. Only aiohttp
and the standard library are needed.
"""

from ._budget import Budget
from ._faults import Fault, RecordedRequest
from ._redis import RedisServer
from ._seed import SEED_PREDICTIONS
from ._server import Emulator, ThreadedEmulator
from ._state import Outcome, Style
from ._webhooks import SIGNATURE_HEADER, WebhookDelivery

__all__ = [
    "SEED_PREDICTIONS",
    "SIGNATURE_HEADER",
    "Budget",
    "Emulator",
    "Fault",
    "Outcome",
    "RecordedRequest",
    "RedisServer",
    "Style",
    "ThreadedEmulator",
    "WebhookDelivery",
]
