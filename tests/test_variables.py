"""Variables and version configuration, over real sockets, in both clients."""

from __future__ import annotations

from datetime import datetime

import pytest

from wriftai_async import (
    ConflictError,
    NotFoundError,
    Page,
    PermissionDeniedError,
    ValidationError,
    Variable,
    VersionConfiguration,
    structure,
)
from wriftai_async.testing import Emulator

from .conftest import CLIENT_KINDS, collect, make_client, resolve

SEEDED = "hf-token"  # the seeded secret of the token's user


def sent(emulator, method):
    """The JSON bodies of the requests sent with ``method``, oldest first."""
    return [r.json for r in emulator.requests if r.method == method]


async def test_create_list_update_delete(client, emulator):
    created = await resolve(client.variables.create("region", "REGION", "eu-west"))
    assert isinstance(created, Variable)
    assert (created.name, created.key, created.value) == ("region", "REGION", "eu-west")
    assert created.secret is False and isinstance(created.created_at, datetime)
    assert sent(emulator, "POST") == [
        {"name": "region", "key": "REGION", "value": "eu-west", "secret": False}
    ]

    listed = await collect(client.variables.list(page_size=1))
    assert [v.name for v in listed] == [SEEDED, "region"]
    page = await resolve(client.variables.list_page(page_size=1))
    assert isinstance(page, Page) and [v.name for v in page.items] == [SEEDED]
    rest = await resolve(client.variables.list_page(cursor=page.next_cursor))
    assert [v.name for v in rest.items] == ["region"] and rest.next_cursor is None

    updated = await resolve(client.variables.update("region", value="us-east"))
    assert (updated.key, updated.value) == ("REGION", "us-east")
    assert updated.updated_at is not None
    renamed = await resolve(client.variables.update("region", key="AWS_REGION"))
    assert (renamed.key, renamed.value) == ("AWS_REGION", "us-east")
    both = await resolve(client.variables.update("region", key="R", value="x"))
    assert (both.key, both.value) == ("R", "x")
    untouched = await resolve(client.variables.update("region"))
    assert untouched == both
    # PATCH sends exactly the keywords given.
    assert sent(emulator, "PATCH") == [
        {"value": "us-east"},
        {"key": "AWS_REGION"},
        {"key": "R", "value": "x"},
        {},
    ]

    assert await resolve(client.variables.delete("region")) is None
    assert [v.name for v in await collect(client.variables.list())] == [SEEDED]
    with pytest.raises(NotFoundError):
        await resolve(client.variables.update("region", value="again"))


async def test_secret_values_never_come_back(client, emulator):
    created = await resolve(
        client.variables.create("openai", "OPENAI_API_KEY", "sk-live-1", secret=True)
    )
    assert created.secret is True and created.value == ""
    # It was sent, and the emulator keeps it; it just never renders it.
    assert sent(emulator, "POST")[0]["value"] == "sk-live-1"
    updated = await resolve(client.variables.update("openai", value="sk-live-2"))
    assert updated.value == "" and updated.secret is True
    listed = {v.name: v for v in await collect(client.variables.list())}
    assert listed["openai"].value == "" and listed[SEEDED].value == ""
    assert "sk-live" not in repr(listed)


async def test_errors_are_typed(client, emulator):
    with pytest.raises(ConflictError):
        await resolve(client.variables.create(SEEDED, "OTHER", "v"))
    with pytest.raises(NotFoundError):
        await resolve(client.variables.update("nope", value="v"))
    with pytest.raises(NotFoundError):
        await resolve(client.variables.delete("nope"))
    with pytest.raises(ValidationError) as caught:
        await resolve(client.variables.create("bad-key", "1-not an env name", "v"))
    assert [e["loc"] for e in caught.value.errors] == [["body", "key"]]
    with pytest.raises(ValidationError) as caught:
        await resolve(client.variables.update(SEEDED, key="has space"))
    assert caught.value.status == 422


@pytest.mark.parametrize("name", ["", "a/b", "..", ".hidden", "a b", "x?y=1", "é"])
async def test_names_are_checked_before_sending(client, emulator, name):
    before = len(emulator.requests)
    with pytest.raises(ValueError, match="variable name"):
        await resolve(client.variables.create(name, "K", "v"))
    with pytest.raises(ValueError, match="variable name"):
        await resolve(client.variables.update(name, value="v"))
    with pytest.raises(ValueError, match="variable name"):
        await resolve(client.variables.delete(name))
    with pytest.raises(TypeError):
        await resolve(client.variables.delete(42))
    assert len(emulator.requests) == before


async def test_configuration_get_and_update(client, emulator):
    config = await resolve(client.versions.get_configuration("alice/text-echo:2"))
    assert config == VersionConfiguration(hardware_identifier="cpu", variable_names=[])

    await resolve(client.variables.create("region", "REGION", "eu"))
    updated = await resolve(
        client.versions.update_configuration(
            "alice/text-echo:2", variable_names=("region", SEEDED)
        )
    )
    assert updated.variable_names == ["region", SEEDED]
    assert updated.hardware_identifier == "cpu"
    moved = await resolve(
        client.versions.update_configuration(
            "alice/text-echo:2", hardware_identifier="gpu-t4"
        )
    )
    assert moved == VersionConfiguration(
        hardware_identifier="gpu-t4", variable_names=["region", SEEDED]
    )
    cleared = await resolve(
        client.versions.update_configuration(
            "alice/text-echo:2", hardware_identifier="cpu", variable_names=[]
        )
    )
    assert cleared.variable_names == []
    assert sent(emulator, "PATCH") == [
        {"variable_names": ["region", SEEDED]},
        {"hardware_identifier": "gpu-t4"},
        {"hardware_identifier": "cpu", "variable_names": []},
    ]
    # Other versions are untouched; the change is kept.
    other = await resolve(client.versions.get_configuration("alice/text-echo:1"))
    assert other.variable_names == []
    again = await resolve(client.versions.get_configuration("alice/text-echo:2"))
    assert again == cleared


async def test_configuration_errors(client, emulator):
    with pytest.raises(ValidationError) as caught:
        await resolve(
            client.versions.update_configuration(
                "alice/text-echo:2",
                hardware_identifier="quantum",
                variable_names=[SEEDED, "nope"],
            )
        )
    assert sorted(e["loc"] for e in caught.value.errors) == [
        ["body", "hardware_identifier"],
        ["body", "variable_names", 1],
    ]
    with pytest.raises(PermissionDeniedError):
        await resolve(
            client.versions.update_configuration("bob/bob-llm:1", variable_names=[])
        )
    with pytest.raises(NotFoundError):
        await resolve(client.versions.get_configuration("alice/text-echo:99"))
    with pytest.raises(NotFoundError):
        await resolve(client.versions.get_configuration("bob/bob-draft:1"))

    before = len(emulator.requests)
    with pytest.raises(ValueError, match="version"):
        await resolve(client.versions.get_configuration("alice/text-echo"))
    with pytest.raises(ValueError, match="version"):
        await resolve(
            client.versions.update_configuration("alice", hardware_identifier="cpu")
        )
    with pytest.raises(TypeError, match="variable_names"):
        await resolve(
            client.versions.update_configuration(
                "alice/text-echo:1", variable_names=SEEDED
            )
        )
    assert len(emulator.requests) == before


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_configuration_shows_on_new_style_versions(kind):
    with Emulator(style="new").run_in_thread() as emu:
        client = make_client(kind, emu)
        try:
            await resolve(
                client.versions.update_configuration(
                    "alice/text-echo:2", variable_names=[SEEDED]
                )
            )
            version = await resolve(client.versions.get("alice/text-echo:2"))
            assert version.configuration == VersionConfiguration(
                hardware_identifier="cpu", variable_names=[SEEDED]
            )
        finally:
            await resolve(client.aclose() if kind == "async" else client.close())


def test_variable_keeps_unknown_fields_and_tolerates_missing_ones():
    variable = structure({"name": "v", "scope": "org"}, Variable)
    assert variable == Variable(name="v") and variable.extra == {"scope": "org"}
    assert variable.value is None and variable.secret is None


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_a_body_over_a_mebibyte_is_sent_whole_and_resent_on_a_retry(kind):
    # aiohttp warns (ResourceWarning, an error here) of bytes over 1 MiB; a
    # large body goes as a stream, rewound for the retry of the 503.
    value = "v" * (3 << 19)  # 1.5 MiB
    with Emulator(upload_part_size=4 << 20).run_in_thread() as emu:
        client = make_client(kind, emu)
        try:
            await resolve(client.variables.create("big", "BIG", value))
            emu.inject(503, times=1, path="/variables/big")
            updated = await resolve(client.variables.update("big", value=value + "!"))
        finally:
            await resolve(client.aclose() if kind == "async" else client.close())
        patches = [r for r in emu.requests if r.method == "PATCH"]
    assert updated.value == value + "!"
    assert len(patches) == 2  # the 503, then the retry: both whole
    assert all(r.json == {"value": value + "!"} for r in patches)
