"""The deterministic default data set (``Emulator(seed=True)``).

Users ``alice``, ``bob`` and ``carol`` (carol owns nothing). ``alice`` owns, in
creation order: ``text-echo`` (public, 42 predictions, 2 versions),
``fresh-model`` (public, 0 predictions), ``image-gen`` (public, 7
predictions), ``secret-model`` (private). ``bob`` owns ``bob-llm`` (public, 120
predictions) and ``bob-draft`` (private). So for alice, ``sort_by=created_at``
lists three models and ``sort_by=predictions_count`` lists two.

The token's user owns one prediction in each status (ids in
``SEED_PREDICTIONS``); the ``pending``, ``starting`` and ``started`` ones never
finish by themselves, which makes them the ones to cancel in tests. All but
the ``succeeded`` one were created with ``"stream": true`` (that one's
``/stream`` answers 404). It also owns one variable, the secret
``hf-token`` (key ``HF_TOKEN``).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._server import Emulator

_SEED_NAMESPACE = uuid.UUID("0b5c2a4e-3f38-4c7f-8f69-6a2c9a1d7e11")

#: Ids of the seeded predictions of the token's user, by status.
SEED_PREDICTIONS: dict[str, str] = {
    status: str(uuid.uuid5(_SEED_NAMESPACE, f"prediction:{status}"))
    for status in (
        "succeeded",
        "failed",
        "cancelled",
        "abandoned",
        "started",
        "starting",
        "pending",
    )
}

_IMAGE_SCHEMAS: dict[str, Any] = {
    "prediction": {
        "input": {
            "type": "object",
            "properties": {
                "prompt": {"type": "string"},
                "width": {"type": "integer", "default": 512},
                "height": {"type": "integer", "default": 512},
            },
            "required": ["prompt"],
        },
        "output": {"type": "string", "format": "uri"},
    }
}


def seed_emulator(emu: Emulator) -> None:
    emu.add_user(
        "alice",
        display_name="Alice Liddell",
        bio="Falls down rabbit holes; trains small models.",
        urls=["https://alice.example.com"],
        location="Oxford",
        company="Wonderland Labs",
    )
    emu.add_user("bob", display_name="Bob")
    emu.add_user("carol")

    emu.add_hardware("cpu", "CPU", cpus=4, ram_gb=16, description="4 vCPU, 16 GB")
    emu.add_hardware(
        "gpu-t4",
        "NVIDIA T4",
        gpus=1,
        cpus=8,
        ram_per_gpu_gb=16,
        ram_gb=32,
        description="1x T4 16 GB",
    )
    emu.add_hardware(
        "gpu-a100",
        "NVIDIA A100 80GB",
        gpus=1,
        cpus=12,
        ram_per_gpu_gb=80,
        ram_gb=144,
        description="1x A100 80 GB",
    )
    for slug, name in (
        ("text-generation", "Text generation"),
        ("image-generation", "Image generation"),
        ("audio", "Audio"),
        ("video", "Video"),
    ):
        emu.add_category(slug, name)

    emu.add_model(
        "alice",
        "text-echo",
        description="Echoes its prompt back",
        overview="# Text echo\n\nReturns its input unchanged.",
        categories=["text-generation"],
        predictions_count=42,
        source_url="https://github.com/alice/text-echo",
        license_url="https://www.apache.org/licenses/LICENSE-2.0",
    )
    emu.add_version("alice/text-echo", release_notes="First release")
    emu.add_version("alice/text-echo", release_notes="Faster echo")
    emu.add_model(
        "alice", "fresh-model", description="Brand new, never run", versions=1
    )
    emu.add_model(
        "alice",
        "image-gen",
        description="Paints what you describe",
        hardware_identifier="gpu-t4",
        categories=["image-generation"],
        predictions_count=7,
        paper_url="https://arxiv.org/abs/2112.10752",
    )
    emu.add_version(
        "alice/image-gen", release_notes="Initial weights", schemas=_IMAGE_SCHEMAS
    )
    emu.add_model(
        "alice",
        "secret-model",
        visibility="private",
        categories=["text-generation"],
        predictions_count=3,
        versions=1,
    )
    emu.add_model(
        "bob",
        "bob-llm",
        description="A large language model",
        hardware_identifier="gpu-a100",
        categories=["text-generation"],
        predictions_count=120,
        versions=1,
    )
    emu.add_model("bob", "bob-draft", visibility="private", versions=1)

    _seed_predictions(emu)
    emu.add_variable("hf-token", "HF_TOKEN", "hf_seeded_secret", secret=True)


def _seed_predictions(emu: Emulator) -> None:
    ids = SEED_PREDICTIONS
    model = "alice/text-echo"
    emu.add_prediction(
        model,
        id=ids["succeeded"],
        status="succeeded",
        input={"prompt": "hello"},
        output={"prompt": "hello"},
        logs=["Prediction started", "Prediction succeeded"],
        setup_time="0.50s",
        execution_time="1.25s",
        stream=False,  # created without "stream": its /stream answers 404
    )
    emu.add_prediction(
        model,
        id=ids["failed"],
        status="failed",
        input={"prompt": "x" * 50},
        error={
            "source": "external",
            "message": "Input rejected",
            "detail": "prompt is too long",
        },
        logs=["Prediction started", "Prediction failed"],
        setup_time="0.40s",
        execution_time="0.10s",
    )
    emu.add_prediction(
        model,
        id=ids["cancelled"],
        status="cancelled",
        input={"prompt": "never mind"},
        logs=["Prediction started", "Prediction cancelled"],
        setup_time="0.45s",
    )
    emu.add_prediction(
        "alice/image-gen",
        id=ids["abandoned"],
        status="abandoned",
        input={"prompt": "?"},
    )
    emu.add_prediction(
        model,
        id=ids["started"],
        status="started",
        input={"prompt": "long running"},
        logs=["Prediction started"],
        setup_time="0.50s",
    )
    emu.add_prediction(
        model, version=1, id=ids["starting"], status="starting", input={"prompt": "s"}
    )
    emu.add_prediction(
        model, id=ids["pending"], status="pending", input={"prompt": "p"}
    )
    emu.add_prediction(
        "bob/bob-llm",
        owner="bob",
        status="succeeded",
        input={"prompt": "bob's"},
        output="bob's answer",
    )
