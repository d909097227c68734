"""A client is never pickled or copied: its token would be in the pickle.

``AsyncClient`` used to pickle with the access token in clear text; ``Client``
failed with an unrelated ``TypeError``. Both (and the session under them, and
anything holding it, such as a resource) now refuse with one clear
``TypeError`` that names what to do instead, and never shows the token.
"""

from __future__ import annotations

import copy
import pickle

import pytest

from wriftai_async import AsyncClient, Client

TOKEN = "tok-pickle-secret-0123"


def objects(kind: str):
    if kind == "async":
        client = AsyncClient(TOKEN, "http://127.0.0.1:9/v1")
        return client, [client, client.session, client.models]
    client = Client(TOKEN, "http://127.0.0.1:9/v1")
    return client, [client, client.models]


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_a_client_refuses_pickling_and_copying(kind):
    client, targets = objects(kind)
    try:
        for target in targets:
            attempts = [pickle.dumps, lambda t: pickle.dumps(t, 0), copy.deepcopy]
            if kind == "async" or target is client:
                # (A sync resource's shallow copy shares its async resource
                # and loop: a second handle, nothing serialized.)
                attempts.append(copy.copy)
            for attempt in attempts:
                with pytest.raises(TypeError, match="cannot be pickled") as caught:
                    attempt(target)
                assert TOKEN not in str(caught.value)
    finally:
        if kind == "async":
            await client.aclose()
        else:
            client.close()
