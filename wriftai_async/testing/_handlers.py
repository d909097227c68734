"""Routes for models, versions, users, hardware and categories.

Prediction routes live in ``_predictions``. Ordering rules, documented once:
model lists sort by ``created_at`` ascending unless asked otherwise (ties by
insertion order); with ``sort_by=predictions_count`` only models with at least
one prediction are listed, as the service does; versions list newest first;
users list by ``created_at`` (``sort_by=created_at``, the only key the
official client knows, and ``sort_direction``); hardware and categories list
in creation order.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from ._records import COMPATIBILITY_FLAGS, Model, utcnow
from ._routing import Call, RouteTable, owned_model, path_int, visible_model
from ._state import Store
from ._validation import (
    _INVALID,
    MODEL_FIELDS,
    NOT_NULLABLE,
    ApiError,
    Check,
    Errors,
    Loc,
    check_hardware,
    check_optional_str,
    check_optional_url_list,
    check_slug,
    check_str_list,
    invalid,
    query_enum,
    validate_fields,
)

routes = RouteTable()

_LISTED = frozenset({"public"})


def _sorted_models(call: Call, models: list[Model]) -> list[Model]:
    query = call.query
    sort_by = query_enum(
        query, "sort_by", ("created_at", "predictions_count"), "created_at"
    )
    direction = query_enum(query, "sort_direction", ("asc", "desc"), "asc")
    slugs = set(query.getall("category_slugs", []))
    if slugs:
        models = [m for m in models if slugs.intersection(m.category_slugs)]
    if sort_by == "predictions_count":
        models = [m for m in models if m.predictions_count >= 1]
        models.sort(key=lambda m: (m.predictions_count, m.created_at, m.seq))
    else:
        models.sort(key=lambda m: (m.created_at, m.seq))
    if direction == "desc":
        models.reverse()
    return models


def _model_page(call: Call, models: list[Model]) -> web.Response:
    ordered = _sorted_models(call, models)
    return call.json(call.paginate(ordered, call.render.model))


# -- models --------------------------------------------------------------------


@routes.route("GET", "/models")
def list_models(call: Call) -> web.StreamResponse:
    listed = [m for m in call.store.models.values() if m.visibility in _LISTED]
    return _model_page(call, listed)


@routes.route("GET", "/models/{owner}")
def list_user_models(call: Call) -> web.StreamResponse:
    owner = call.store.users.get(call.request.match_info["owner"])
    if owner is None:
        raise ApiError(404, "User not found")
    listed = [m for m in call.store.models_of(owner) if m.visibility in _LISTED]
    return _model_page(call, listed)


@routes.route("GET", "/user/models")
def list_my_models(call: Call) -> web.StreamResponse:
    return _model_page(call, call.store.models_of(call.user))


@routes.route("GET", "/search/models")
def search_models(call: Call) -> web.StreamResponse:
    needle = _search_term(call)
    found = [
        m
        for m in call.store.models.values()
        if m.visibility in _LISTED
        and (
            needle in m.name.lower()
            or needle in (m.description or "").lower()
            or needle in call.store.owner_of(m).username.lower()
        )
    ]
    return _model_page(call, found)


@routes.route("POST", "/models", body=True)
def create_model(call: Call) -> web.StreamResponse:
    # Older servers required hardware_identifier. The official 0.34 client's
    # CreateModelParams no longer has it (hardware moved to a version's
    # configuration), so the new dialect takes it only as an option.
    required = ("name",) if call.new_style else ("name", "hardware_identifier")
    fields = validate_fields(
        call.body,
        MODEL_FIELDS,
        call.store,
        required=required,
        not_nullable=NOT_NULLABLE,
    )
    name = fields.pop("name")
    if call.store.find_model(call.user.username, name) is not None:
        raise ApiError(409, f"A model named {name!r} already exists")
    hardware = fields.pop("hardware_identifier", None)
    model = call.store.add_model(
        call.user,
        name,
        hardware_identifier=hardware or call.store.default_hardware(),
        created_at=utcnow(),
        # Not documented; private is the cautious default for a new model.
        visibility=fields.pop("visibility", "private"),
        category_slugs=fields.pop("category_slugs", ()),
        **fields,
    )
    return call.created(call.render.model(model, details=True))


@routes.route("GET", "/models/{owner}/{name}")
def get_model(call: Call) -> web.StreamResponse:
    model = visible_model(call, **call.request.match_info)
    return call.json(call.render.model(model, details=True))


@routes.route("PATCH", "/models/{owner}/{name}", body=True)
def update_model(call: Call) -> web.StreamResponse:
    model = owned_model(call, **call.request.match_info)
    fields = validate_fields(
        call.body, MODEL_FIELDS, call.store, not_nullable=NOT_NULLABLE
    )
    new_name = fields.pop("name", model.name)
    if new_name != model.name:
        if call.store.find_model(call.user.username, new_name) is not None:
            raise ApiError(409, f"A model named {new_name!r} already exists")
        call.store.rename_model(model, new_name)
    for key, value in fields.items():
        setattr(model, key, value)
    if call.body:
        model.updated_at = utcnow()
    return call.json(call.render.model(model, details=True))


@routes.route("DELETE", "/models/{owner}/{name}")
def delete_model(call: Call) -> web.StreamResponse:
    model = owned_model(call, **call.request.match_info)
    call.store.delete_model(model)
    return call.deleted()


# -- versions ------------------------------------------------------------------

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def _check_release_notes(value: Any, loc: Loc, errors: Errors, store: Store) -> Any:
    if not isinstance(value, str):
        errors.add(loc, "Input should be a valid string", "string_type")
    return value


def _check_schemas(value: Any, loc: Loc, errors: Errors, store: Store) -> Any:
    prediction = value.get("prediction") if isinstance(value, dict) else None
    if not isinstance(prediction, dict) or not all(
        isinstance(prediction.get(k), dict) for k in ("input", "output")
    ):
        errors.add(
            loc,
            'Expected {"prediction": {"input": {...}, "output": {...}}}',
            "value_error",
        )
    return value


def _check_digest(value: Any, loc: Loc, errors: Errors, store: Store) -> Any:
    if not isinstance(value, str) or not _DIGEST.match(value):
        errors.add(
            loc, "Expected 'sha256:' and 64 hex digits", "string_pattern_mismatch"
        )
    return value


def _check_compatibilities(value: Any, loc: Loc, errors: Errors, store: Store) -> Any:
    if not isinstance(value, dict):
        errors.add(loc, "Input should be a valid dictionary", "dict_type")
        return _INVALID
    before = len(errors.items)
    for key, flag in value.items():
        if key not in COMPATIBILITY_FLAGS:
            errors.add((*loc, key), "Extra inputs are not permitted", "extra_forbidden")
        elif not isinstance(flag, bool):
            errors.add((*loc, key), "Input should be a valid boolean", "bool_type")
    return dict(value) if len(errors.items) == before else _INVALID


def _check_configuration(value: Any, loc: Loc, errors: Errors, store: Store) -> Any:
    if not isinstance(value, dict):
        errors.add(loc, "Input should be a valid dictionary", "dict_type")
        return _INVALID
    fields = validate_fields(
        value,
        {"hardware_identifier": check_hardware, "variable_names": check_str_list},
        store,
        required=("hardware_identifier", "variable_names"),
        not_nullable=("hardware_identifier", "variable_names"),
        loc=loc,
        errors=errors,
    )
    return fields if len(fields) == 2 else _INVALID


_VERSION_FIELDS: dict[str, Check] = {
    "release_notes": _check_release_notes,
    "schemas": _check_schemas,
    "container_image_digest": _check_digest,
}
# The official 0.34 client's CreateModelVersionParams adds these two.
_NEW_VERSION_FIELDS: dict[str, Check] = {
    **_VERSION_FIELDS,
    "compatibilities": _check_compatibilities,
    "configuration": _check_configuration,
}


@routes.route("GET", "/models/{owner}/{name}/versions")
def list_versions(call: Call) -> web.StreamResponse:
    model = visible_model(call, **call.request.match_info)
    versions = sorted(model.versions.values(), key=lambda v: v.number, reverse=True)
    return call.json(call.paginate(versions, lambda v: call.render.version(model, v)))


@routes.route("POST", "/models/{owner}/{name}/versions", body=True)
def create_version(call: Call) -> web.StreamResponse:
    model = owned_model(call, **call.request.match_info)
    checks = _NEW_VERSION_FIELDS if call.new_style else _VERSION_FIELDS
    fields = validate_fields(
        call.body,
        checks,
        call.store,
        required=("schemas", "container_image_digest"),
        not_nullable=checks.keys(),
    )
    compatibilities = fields.pop("compatibilities", {})
    configuration = fields.pop("configuration", None)
    if configuration is not None:
        variables = call.store.variables_of(call.user)
        unknown = [n for n in configuration["variable_names"] if n not in variables]
        if unknown:
            raise invalid(
                ("body", "configuration", "variable_names"),
                f"Unknown variables {unknown!r}",
                "value_error",
            )
    previous = model.latest_version
    if configuration is None and previous is not None:
        # The official client's CreateModelVersionParams: "Omit to inherit
        # configuration from the previous version."
        configuration = {
            "hardware_identifier": previous.hardware_identifier,
            "variable_names": previous.variable_names,
        }
    version = call.store.add_version(model, created_at=utcnow(), **fields)
    version.compatibilities.update(compatibilities)
    if configuration is not None:
        version.hardware_identifier = configuration["hardware_identifier"]
        version.variable_names = list(configuration["variable_names"])
    model.updated_at = version.created_at
    return call.created(call.render.version(model, version, details=True))


def _version_of(call: Call, model: Model) -> Any:
    number = path_int(call, "number")
    version = model.versions.get(number)
    if version is None:
        raise ApiError(404, "Version not found")
    return version


@routes.route("GET", "/models/{owner}/{name}/versions/{number}")
def get_version(call: Call) -> web.StreamResponse:
    info = call.request.match_info
    model = visible_model(call, info["owner"], info["name"])
    version = _version_of(call, model)
    return call.json(call.render.version(model, version, details=True))


@routes.route("DELETE", "/models/{owner}/{name}/versions/{number}")
def delete_version(call: Call) -> web.StreamResponse:
    info = call.request.match_info
    model = owned_model(call, info["owner"], info["name"])
    del model.versions[_version_of(call, model).number]
    return call.deleted()


# -- users ---------------------------------------------------------------------


def _search_term(call: Call) -> str:
    term = call.query.get("q")
    if term is None:
        raise invalid(("query", "q"), "Field required", "missing")
    return term.strip().lower()


@routes.route("GET", "/user")
def get_me(call: Call) -> web.StreamResponse:
    return call.json(call.render.user(call.user, details=True))


@routes.route("PATCH", "/user", body=True)
def update_me(call: Call) -> web.StreamResponse:
    fields: dict[str, Check] = {
        "display_name": check_optional_str,
        "bio": check_optional_str,
        "location": check_optional_str,
        "company": check_optional_str,
        "urls": check_optional_url_list,
    }
    # In the old style "name" is the display name. In the new one it is the
    # username, and the official 0.34 client's UpdateUserParams sends it as
    # "the new name of the user": the account is renamed.
    fields["name"] = check_slug if call.new_style else check_optional_str
    not_nullable = ("name",) if call.new_style else ()
    cleaned = validate_fields(call.body, fields, call.store, not_nullable=not_nullable)
    if "name" in cleaned:
        new_name = cleaned.pop("name")
        if not call.new_style:
            cleaned["display_name"] = new_name
        elif new_name != call.user.username:
            if new_name in call.store.users:
                raise ApiError(409, f"The name {new_name!r} is taken")
            call.store.rename_user(call.user, new_name)
    for key, value in cleaned.items():
        setattr(call.user, key, value)
    if call.body:
        call.user.updated_at = utcnow()
    return call.json(call.render.user(call.user, details=True))


@routes.route("GET", "/users")
def list_users(call: Call) -> web.StreamResponse:
    query_enum(call.query, "sort_by", ("created_at",), "created_at")
    direction = query_enum(call.query, "sort_direction", ("asc", "desc"), "asc")
    users = sorted(
        call.store.users.values(),
        key=lambda u: u.created_at,
        reverse=direction == "desc",
    )
    return call.json(call.paginate(users, call.render.listed_user))


@routes.route("GET", "/users/{username}")
def get_user(call: Call) -> web.StreamResponse:
    user = call.store.users.get(call.request.match_info["username"])
    if user is None:
        raise ApiError(404, "User not found")
    return call.json(call.render.user(user, details=True))


@routes.route("GET", "/search/users")
def search_users(call: Call) -> web.StreamResponse:
    needle = _search_term(call)
    found = [
        u
        for u in sorted(call.store.users.values(), key=lambda u: u.created_at)
        if needle in u.username.lower() or needle in (u.display_name or "").lower()
    ]
    return call.json(call.paginate(found, call.render.listed_user))


# -- hardware and categories ---------------------------------------------------


@routes.route("GET", "/hardware")
def list_hardware(call: Call) -> web.StreamResponse:
    items = list(call.store.hardware.values())
    return call.json(call.paginate(items, call.render.hardware))


@routes.route("GET", "/model_categories")
def list_categories(call: Call) -> web.StreamResponse:
    items = list(call.store.categories.values())
    return call.json(
        call.paginate(items, lambda c: call.render.category(c, details=True))
    )
