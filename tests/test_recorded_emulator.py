"""The service's recordings, asked of our emulator: same status, same shape.

Each recorded case (the async one of each pair: the sync twin sends the same
requests) runs as in ``test_recorded_exchanges``, and every API request our
client sends is also sent to a fresh ``Emulator()`` in its default dialect,
holding :func:`world`: the users, models, versions, predictions and
variables the recordings name. Its answer must have the recorded status and
every recorded key with a value of the recorded JSON type, recursively
(extra keys are fine; see :func:`compare`). What the replay adapts, and why,
is in :data:`ADAPTATIONS`; a case that needs a world of its own is in
:data:`CASE_WORLDS`.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import pytest_asyncio
import yarl
from multidict import CIMultiDict

from wriftai_async.testing import Emulator

from . import recorded_replay as replay
from .official_recordings import (
    Case,
    RecordingsUnavailable,
    integration_dir,
    load_cases,
)

try:
    _FOUND = integration_dir()
    _DIRECTORY: Path | None = _FOUND
    CASES: list[Case] = [c for c in load_cases(_FOUND) if c.is_async]
    _UNAVAILABLE: str | None = None
except RecordingsUnavailable as exc:  # fails the test below, never skips
    _DIRECTORY, CASES, _UNAVAILABLE = None, [], str(exc)

#: Everything the replay does to a recorded request or answer before the
#: comparison, with its reason (one table).
ADAPTATIONS: dict[str, str] = {
    "tokens": "the recordings have one account per model owner: a request "
    "under /models/{owner}/ carries that owner's token, any other the "
    "token of test_name (the account whose models /user/models lists)",
    "cursors": "a recorded cursor (or a stream's after_id) was issued by the "
    "recording's service; the emulator's are its own, so the first page (the "
    "stream from its start) is asked for instead",
    "ids": "an id the emulator chose (a created prediction, an upload) stands "
    "for the recording's in the requests that follow in the same case",
    "storage": "the upload part PUTs go to the storage host, not the API: "
    "their bytes are stored on the emulator's own upload plan before the "
    "completion, whose ETags become the emulator's",
    "faults": "a recorded 429, 5xx or 400 with no cause in the request is a "
    "fault of the moment: it is injected (emu.inject) and its answer "
    "compared (the 429 must say x-ratelimit-reset)",
    "create-status": "POST /predictions: 202 while the prediction runs, 200 "
    "once it ended (test_create_prediction_wait records both); "
    "test_create_prediction's route records 200 for a pending one, the "
    "default of its fixture (its callback returns 202, which the fixture "
    "ignores), so 200 or 202 match there",
    "free-form": "input, output, schemas, metrics and configuration values "
    "are free-form JSON in the official types (JsonValue): only their "
    "presence is compared",
    "nullable": "a recorded null says nothing of the field's type: any value "
    "matches it; a null matches a recorded value where the official types "
    "declare the field nullable (X | None), e.g. a page's next_cursor on the "
    "last page or a new model's cover_image_url",
    "typo": "the recorded versions.create answer spells 'compatibilties' "
    "(sic): compared as 'compatibilities', as the official type spells it",
    "streams": "an event stream is compared by its status and content type, "
    "and its events' names",
}
_FREE_FORM = frozenset(
    {"input", "output", "schemas", "metrics", "data", "detail", "configuration"}
)


def _nullable_keys() -> frozenset[str]:
    """Keys some official TypedDict declares ``X | None`` (or Optional)."""
    import typing

    import wriftai
    import wriftai.pagination

    modules = [wriftai.pagination]
    for name in (
        "common_types",
        "predictions",
        "variables",
        "model_versions",
        "hardware",
        "model_categories",
        "users",
        "uploads",
        "authenticated_user",
        "models",
    ):
        modules.append(__import__(f"wriftai.{name}", fromlist=["_"]))
    keys = set()
    for module in modules:
        for value in vars(module).values():
            annotations = getattr(value, "__annotations__", None)
            if not isinstance(value, type) or not annotations:
                continue
            hints = typing.get_type_hints(value)
            for key, hint in hints.items():
                if "None" in repr(hint) or "Optional" in repr(hint):
                    keys.add(key)
    return frozenset(keys)


NULLABLE = _nullable_keys()
_SCHEMAS = {
    "prediction": {
        "input": {"type": "object", "properties": {"prompt": {"type": "string"}}},
        "output": {"type": "object"},
    }
}
_DIGEST = "sha256:" + "ab" * 32
_TOKEN = "token-test_name"
PREDICTION_ID = "c12258c4-ed83-4d7b-a784-8ed55412325a"


def _profile(name: str) -> dict[str, Any]:
    return {
        "display_name": f"{name} display",
        "avatar_url": f"https://cdn.example/{name}.png",
        "bio": "bio",
        "urls": ["https://example.com"],
        "location": "Karachi",
        "company": "WriftAI",
        "token": f"token-{name}",
    }


def world(*, version: bool = True, stream_prediction: bool = True) -> Emulator:
    """What the recordings name, in an emulator (not started)."""
    emu = Emulator(
        access_token="token-nobody",  # each user below has its own token
        username="nobody",
        seed=False,
        prediction_duration=0.05,
        cancel_delay=0.05,
        max_prefer_wait=1.0,
        webhook_retry_delay=0.01,
    )
    for name in (
        "test_name",
        "deepseek-ai",
        "abc",
        "test_owner",
        "owner",
        "user_123",
        "dummy_query_user",
    ):
        emu.add_user(name, **_profile(name))
    for identifier in ("string", "gpu-h100"):
        emu.add_hardware(identifier, identifier, gpus=1, description="hardware")
    for slug in ("slug-1", "slug-2", "slug-3"):
        emu.add_category(slug, slug, description="category")
    models = {
        "deepseek-ai/deepseek-r1": ("deepseek-r1 model", version),
        "abc/textgenerator": ("text generator", True),
        "test_owner/dummy_model": ("dummy model", True),
        "test_name/dummy_query-model": ("matches dummy_query", True),
        "owner/name": ("echo", True),
    }
    for ref, (description, with_version) in models.items():
        owner, name = ref.split("/")
        emu.add_model(
            owner,
            name,
            description=description,
            overview="overview",
            hardware_identifier="string",
            categories=("slug-1", "slug-2", "slug-3"),
            predictions_count=1,
            source_url="https://example.com/source",
            license_url="https://example.com/license",
            paper_url="https://example.com/paper",
            cover_image_url="https://example.com/cover.png",
        )
        if with_version:
            emu.add_version(
                ref,
                release_notes="notes",
                schemas=_SCHEMAS,
                container_image_digest=_DIGEST,
                variable_names=("name_1", "name_2") if owner == "abc" else (),
            )
    emu.add_variable("test_name", "KEY", "value", owner="test_name")
    for owner, names in (
        ("abc", ("name_1", "name_2")),
        ("deepseek-ai", ("key_1", "key_2")),
    ):
        for name in names:
            emu.add_variable(name, name.upper(), "v", owner=owner)
    emu.add_prediction(
        "owner/name",
        owner="test_name",
        status="started",
        id=PREDICTION_ID,
        setup_time="1s",
        execution_time="1s",
    )
    if stream_prediction:
        emu.add_prediction(
            "owner/name",
            owner="test_name",
            status="succeeded",
            id="pred-123",
            output={"text": "done"},
            setup_time="1s",
            execution_time="1s",
            stream=True,
        )
    return emu


@dataclass
class Mismatch:
    request: str
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.request}: {self.where}: {self.what}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def compare(recorded: Any, got: Any, where: str = "$") -> list[tuple[str, str]]:
    """Where ``got`` lacks a recorded key or has another JSON type."""
    problems: list[tuple[str, str]] = []
    want, have = _kind(recorded), _kind(got)
    if want == "null":
        return []  # ADAPTATIONS["nullable"]
    if want == "integer" and have == "number":
        have = "integer-valued number" if float(got).is_integer() else have
    if want == "number" and have == "integer":
        have = "number"  # an int is a number
    if want != have:
        return [(where, f"recorded {want}, got {have} ({got!r:.80})")]
    if want == "object":
        for key, value in recorded.items():
            name = key
            if key == "compatibilties":  # ADAPTATIONS["typo"]
                name = "compatibilities"
            if name not in got:
                problems.append((f"{where}.{key}", "missing"))
            elif got[name] is None and key in NULLABLE:
                continue  # ADAPTATIONS["nullable"]
            elif key not in _FREE_FORM:  # ADAPTATIONS["free-form"]
                problems += compare(value, got[name], f"{where}.{key}")
    elif want == "array" and recorded:
        if not got:
            problems.append((where, "recorded items, got an empty list"))
        for index, item in enumerate(got):
            problems += compare(recorded[0], item, f"{where}[{index}]")
    return problems


@dataclass
class Forward:
    """Sends each recorded request our client made to the emulator too."""

    emu: Emulator
    unauthenticated: bool = False
    #: recorded id -> the emulator's (ADAPTATIONS["ids"])
    ids: dict[str, str] = field(default_factory=dict)
    #: recorded part URL -> (recorded upload id, part index)
    part_of: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: recorded upload id -> its parts' bytes, by index
    parts: dict[str, dict[int, bytes]] = field(default_factory=dict)
    #: recorded upload id -> the emulator's plan and the upload's MIME type
    plans: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    mismatches: list[Mismatch] = field(default_factory=list)
    compared: int = 0
    session: aiohttp.ClientSession | None = None

    def _token(self, path: str) -> str | None:
        if self.unauthenticated:
            return None
        segments = path.split("/")
        if len(segments) > 3 and segments[1] == "models":
            return f"token-{segments[2]}"  # ADAPTATIONS["tokens"]
        return _TOKEN

    async def _send(
        self,
        method: str,
        url: str | yarl.URL,
        *,
        params: list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> tuple[int, CIMultiDict[str], bytes]:
        if self.session is None:
            self.session = aiohttp.ClientSession()
        async with self.session.request(
            method, url, params=params, headers=headers, data=data
        ) as response:
            body = await response.read()
            return response.status, response.headers.copy(), body

    async def __call__(self, entry: replay.Entry) -> None:
        try:
            await self._forward(entry)
        except Exception as exc:  # a broken replay must fail the case, loudly
            where = f"{entry.method} {httpx.URL(entry.url).path}"
            self.mismatches.append(
                Mismatch(where, "replay", f"{type(exc).__name__}: {exc}")
            )

    async def _forward(self, entry: replay.Entry) -> None:
        url = httpx.URL(entry.url)
        if url.host != "api.wrift.ai":
            self._store_part(entry)  # ADAPTATIONS["storage"]
            return
        path = url.path.removeprefix("/v1")
        segments = [self.ids.get(s, s) for s in path.split("/")]
        path = "/".join(segments)
        params = [
            (k, v)
            for k, v in url.params.multi_items()
            if k not in ("cursor", "after_id")  # ADAPTATIONS["cursors"]
        ]
        headers = {
            k: v
            for k, v in entry.headers.items()
            if k.lower() in ("content-type", "prefer", "validate-input", "accept")
        }
        token = self._token(path)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        body = entry.body
        if path.endswith("/complete") and segments[1] == "uploads":
            body = await self._complete(url.path.split("/")[3], body)
            path = "/".join([*segments[:2], self.ids.get(segments[2], segments[2])])
            path += "/complete"
        status = entry.status or 0
        if status == 429 or status >= 500 or status == 400:
            self.emu.inject(status, method=entry.method, path=path)  # "faults"
        got_status, got_headers, got_body = await self._send(
            entry.method,
            self.emu.base_url + path,
            params=params or None,
            headers=headers,
            data=body or None,
        )
        self.compared += 1
        where = f"{entry.method} {url.path}"
        allowed = {status}
        if (entry.method, url.path) == ("POST", "/v1/predictions") and status in (
            200,
            202,
        ):
            allowed = {200, 202}  # ADAPTATIONS["create-status"]
        if got_status not in allowed:
            self.mismatches.append(
                Mismatch(where, "status", f"recorded {status}, got {got_status}")
            )
            return
        if status == 429 and "x-ratelimit-reset" not in got_headers:
            self.mismatches.append(Mismatch(where, "headers", "no x-ratelimit-reset"))
        recorded_type = entry.content_type.split(";")[0].strip()
        if recorded_type == "text/event-stream":  # ADAPTATIONS["streams"]
            self._compare_stream(where, got_headers, got_body)
            return
        if status == 204:
            if got_body:
                self.mismatches.append(Mismatch(where, "body", "a body after 204"))
            return
        try:
            answer = json.loads(got_body)
        except ValueError:
            self.mismatches.append(
                Mismatch(where, "body", f"not JSON: {got_body[:80]!r}")
            )
            return
        for at, what in compare(entry.answer, answer):
            self.mismatches.append(Mismatch(where, at, what))
        self._learn(entry, answer)

    def _compare_stream(
        self, where: str, headers: CIMultiDict[str], body: bytes
    ) -> None:
        content_type = headers.get("Content-Type", "")
        if not content_type.startswith("text/event-stream"):
            self.mismatches.append(Mismatch(where, "content-type", content_type))
            return
        names = {
            line.split(":", 1)[1].strip()
            for line in body.decode().splitlines()
            if line.startswith("event:")
        }
        if not names or not names <= {"init", "output", "error", "done"}:
            self.mismatches.append(Mismatch(where, "events", repr(sorted(names))))

    def _learn(self, entry: replay.Entry, answer: Any) -> None:
        recorded = entry.answer
        if not (isinstance(recorded, dict) and isinstance(answer, dict)):
            return
        theirs, ours = recorded.get("id"), answer.get("id")
        if isinstance(theirs, str) and isinstance(ours, str):
            self.ids[theirs] = ours
        if httpx.URL(entry.url).path == "/v1/uploads" and isinstance(
            recorded.get("urls"), list
        ):
            for index, part_url in enumerate(recorded["urls"]):
                self.part_of[part_url] = (str(theirs), index)
            mime = json.loads(entry.body).get("mime_type", "application/octet-stream")
            self.plans[str(theirs)] = (answer, mime)

    def _store_part(self, entry: replay.Entry) -> None:
        found = self.part_of.get(entry.url)
        if entry.method == "PUT" and found is not None:
            upload_id, index = found
            self.parts.setdefault(upload_id, {})[index] = entry.body

    async def _complete(self, recorded_id: str, body: bytes) -> bytes:
        """Store the parts on the emulator's plan; the body with its ETags."""
        parts = self.parts.get(recorded_id, {})
        content = b"".join(parts[i] for i in sorted(parts))
        plan_and_mime = self.plans.get(recorded_id)
        if plan_and_mime is None:
            # An upload made before the case (CASE_WORLDS): made here.
            mime = "application/octet-stream"
            _, _, raw = await self._send(
                "POST",
                self.emu.base_url + "/uploads",
                headers={"Authorization": f"Bearer {_TOKEN}"},
                data=json.dumps({"size": len(content), "mime_type": mime}).encode(),
            )
            plan_and_mime = (json.loads(raw), mime)
        plan, mime = plan_and_mime
        self.ids[recorded_id] = plan["id"]
        size = plan["part_size"]
        etags = []
        for index, part_url in enumerate(plan["urls"]):
            chunk = content[index * size : (index + 1) * size]
            stored, headers, answer = await self._send(
                "PUT",
                yarl.URL(part_url, encoded=True),  # presigned: sent verbatim
                headers={"Content-Type": mime},
                data=chunk,
            )
            assert stored == 200, (stored, answer)
            etags.append(headers["ETag"])
        return json.dumps({**json.loads(body), "etags": etags}).encode()


def _made_upload(content: bytes) -> Callable[[Forward], None]:
    def prepare(forward: Forward) -> None:
        forward.parts["some-upload-id"] = {0: content}

    return prepare


#: Cases that need a world of their own: (world arguments, forward set-up).
CASE_WORLDS: dict[str, tuple[dict[str, Any], Callable[[Forward], None] | None]] = {
    # The recording answers 404: the version it asks for does not exist.
    "test_api.py::test_request_raises_404_error*": ({"version": False}, None),
    # A refusal of a bad token: the request is sent without one.
    "test_predictions.py::test_create_prediction_stream_raises_http_errors[401*": (
        {},
        lambda forward: setattr(forward, "unauthenticated", True),
    ),
    "test_predictions.py::test_stream_prediction_raises_http_errors[401*": (
        {},
        lambda forward: setattr(forward, "unauthenticated", True),
    ),
    # The recording answers 404: no such prediction.
    "test_predictions.py::test_stream_prediction_raises_http_errors[404*": (
        {"stream_prediction": False},
        None,
    ),
    # The recording completes an upload it made before the case.
    "test_uploads.py::test_complete*": ({}, _made_upload(b"12")),
}


def _case_world(case: Case) -> tuple[dict[str, Any], Callable[[Forward], None] | None]:
    for pattern, found in CASE_WORLDS.items():
        if fnmatch.fnmatchcase(case.id, pattern):
            return found
    return {}, None


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def harness() -> AsyncIterator[replay.Harness]:
    assert _DIRECTORY is not None
    async with replay.running_harness(_DIRECTORY) as harness:
        yield harness


async def _on(loop: asyncio.AbstractEventLoop, coroutine: Any) -> Any:
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, loop))


def test_the_recordings_were_fetched() -> None:
    assert _UNAVAILABLE is None, _UNAVAILABLE
    assert len(CASES) == 135


@pytest.mark.asyncio(loop_scope="module")
# Without the recordings, one case that fails with the reason (never a skip).
@pytest.mark.parametrize(
    "case", CASES or [None], ids=[c.id for c in CASES] or ["recordings-unavailable"]
)
async def test_the_emulator_answers_as_recorded(
    case: Case, harness: replay.Harness, tmp_path: Path
) -> None:
    assert case is not None, _UNAVAILABLE
    arguments, prepare = _case_world(case)
    emu = world(**arguments)
    loop = harness.server.loop
    await _on(loop, emu.start())
    forward = Forward(emu)
    if prepare is not None:
        prepare(forward)
    try:
        await replay.run_case(case, harness, tmp_path, forward=forward)
    finally:
        if forward.session is not None:
            await _on(loop, forward.session.close())
        await _on(loop, emu.close())
    assert not forward.mismatches, "\n".join(map(str, forward.mismatches))
    assert forward.compared, "no API request was compared"
