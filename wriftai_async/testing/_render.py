"""Stored records to JSON, in the "old" or the "new" response style.

The real service renamed fields over time (``username`` became ``name``,
``hardware`` left the model, hardware memory fields changed names, ...). Both
shapes are produced here, and only here, so the rest of the emulator stays
style-agnostic.

The "new" shapes follow the official ``wriftai`` 0.34.0 client's types
(``common_types.py``, ``hardware.py``, ``model_categories.py``,
``predictions.py``): where they and ``/work/shared/wriftai-api.md`` disagree,
the official client is the evidence followed, being the service's own client.
"""

from __future__ import annotations

from typing import Any

from ._records import (
    Category,
    Hardware,
    Model,
    Prediction,
    User,
    Variable,
    Version,
    format_timestamp,
)
from ._state import Store

JSONDict = dict[str, Any]


def _ts(value: Any) -> str | None:
    return format_timestamp(value) if value is not None else None


class Renderer:
    """Renders records for one store, in that store's configured style."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._new = store.settings.style == "new"

    def user(self, user: User, *, details: bool = False) -> JSONDict:
        if self._new:
            out: JSONDict = {
                "account_id": user.id,
                "name": user.username,
                "avatar_url": user.avatar_url,
            }
        else:
            out = {
                "id": user.id,
                "username": user.username,
                "avatar_url": user.avatar_url,
            }
        if details:
            out["display_name" if self._new else "name"] = user.display_name
            out.update(
                bio=user.bio,
                urls=list(user.urls) if user.urls is not None else None,
                location=user.location,
                company=user.company,
                created_at=_ts(user.created_at),
                updated_at=_ts(user.updated_at),
            )
        return out

    def listed_user(self, user: User) -> JSONDict:
        """A user in ``GET /users`` and ``GET /search/users``.

        New dialect: the official client's ``User`` (its profile fields
        without ``urls``, which only ``UserWithDetails`` has); a model's
        ``owner`` stays the shorter ``BaseUser``. Older servers listed the
        short form.
        """
        if not self._new:
            return self.user(user)
        out = self.user(user, details=True)
        del out["urls"]
        return out

    def hardware(self, item: Hardware) -> JSONDict:
        out: JSONDict = {
            "identifier": item.identifier,
            "name": item.name,
            "gpus": item.gpus,
            "cpus": item.cpus,
        }
        if self._new:
            out["vram_gb"] = item.gpus * item.ram_per_gpu_gb
            out["ram_gib"] = item.ram_gb
        else:
            out["ram_per_gpu_gb"] = item.ram_per_gpu_gb
            out["ram_gb"] = item.ram_gb
        out["created_at"] = _ts(item.created_at)
        if self._new:
            out["description"] = item.description
        return out

    def category(self, category: Category, *, details: bool = False) -> JSONDict:
        out: JSONDict = {"name": category.name, "slug": category.slug}
        if details and self._new:
            # The listing's ``ModelCategoryWithDetails`` adds a description.
            out["description"] = category.description
        return out

    def version(
        self, model: Model, version: Version, *, details: bool = False
    ) -> JSONDict:
        out: JSONDict = {
            "number": version.number,
            "release_notes": version.release_notes,
            "created_at": _ts(version.created_at),
            "container_image_digest": version.container_image_digest,
        }
        if self._new:
            out["size"] = version.size
            out["configuration"] = self.configuration(model, version)
            out["compatibilities"] = dict(version.compatibilities)
        if details:
            out["schemas"] = version.schemas
            if self._new:
                # The service's recorded answer to a version's get sends the
                # flags at the top level; the official ModelVersionWithDetails
                # nests them under "compatibilities". Both are sent.
                out.update(version.compatibilities)
        return out

    @staticmethod
    def configuration(model: Model, version: Version) -> JSONDict:
        return {
            "hardware_identifier": version.hardware_identifier
            or model.hardware_identifier,
            "variable_names": list(version.variable_names),
        }

    @staticmethod
    def variable(variable: Variable) -> JSONDict:
        return {
            "name": variable.name,
            "key": variable.key,
            # The service never sends a secret's value back.
            "value": "" if variable.secret else variable.value,
            "secret": variable.secret,
            "created_at": _ts(variable.created_at),
            "updated_at": _ts(variable.updated_at),
        }

    def model(self, model: Model, *, details: bool = False) -> JSONDict:
        store = self._store
        out: JSONDict = {
            "id": model.id,
            "name": model.name,
            "created_at": _ts(model.created_at),
            "updated_at": _ts(model.updated_at),
            "visibility": model.visibility,
            "description": model.description,
            "owner": self.user(store.owner_of(model)),
            "predictions_count": model.predictions_count,
            "categories": [
                self.category(store.categories[slug])
                for slug in model.category_slugs
                if slug in store.categories
            ],
            "source_url": model.source_url,
            "license_url": model.license_url,
            "paper_url": model.paper_url,
        }
        if self._new:
            out["cover_image_url"] = model.cover_image_url
        else:
            hardware = store.hardware.get(model.hardware_identifier)
            out["hardware"] = {
                "identifier": model.hardware_identifier,
                "name": hardware.name if hardware else model.hardware_identifier,
            }
        if details:
            latest = model.latest_version
            out["overview"] = model.overview
            out["latest_version"] = (
                self.version(model, latest, details=True) if latest else None
            )
        return out

    def prediction(self, prediction: Prediction, *, details: bool = False) -> JSONDict:
        model = self._store.models.get(prediction.model_id)
        owner = (
            self._store.owner_of(model).username if model else prediction.model_owner
        )
        out: JSONDict = {
            "id": prediction.id,
            "status": prediction.status,
            "created_at": _ts(prediction.created_at),
            "updated_at": _ts(prediction.updated_at),
            "setup_time": prediction.setup_time,
            "execution_time": prediction.execution_time,
            "model": {
                "owner": owner,
                "name": model.name if model else prediction.model_name,
                "version_number": prediction.version_number,
            },
        }
        if details:
            out.update(
                input=prediction.input,
                output=prediction.output,
                error=prediction.error,
                logs=prediction.logs,
            )
            if self._new:
                out["metrics"] = self._metrics(prediction)
                out["stream"] = prediction.stream
        return out

    @staticmethod
    def _metrics(prediction: Prediction) -> JSONDict | None:
        if prediction.execution_time is None:
            return None
        return {"predict_time": float(prediction.execution_time.rstrip("s"))}
