"""Routes for variables and for a version's configuration.

Variables belong to the authenticated user and list in creation order. A
secret's value is kept but always rendered as ``""``. The emulator's own rules
(the service documents none): a name is letters, digits, ``-``, ``_`` and
``.`` (not first), at most 100 characters; a key is an environment variable
name (``[A-Za-z_][A-Za-z0-9_]*``).

A version's configuration names its hardware and the variables its model
gets; anyone who can see the model can read it, only its owner can change it,
and only to hardware that exists and variables the owner has.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from ._records import Model, Variable, Version, utcnow
from ._routing import Call, RouteTable, owned_model, path_int, visible_model
from ._state import Store
from ._validation import (
    _INVALID,
    ApiError,
    Check,
    Errors,
    Loc,
    check_hardware,
    validate_fields,
)

routes = RouteTable()

_NAME = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,99}$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_name(value: Any, loc: Loc, errors: Errors, store: Store) -> Any:
    if not isinstance(value, str):
        errors.add(loc, "Input should be a valid string", "string_type")
        return _INVALID
    if not _NAME.match(value):
        errors.add(
            loc,
            "Name must be letters, digits, '-', '_' or '.' (not first), "
            "at most 100 characters",
            "string_pattern_mismatch",
        )
        return _INVALID
    return value


def _check_key(value: Any, loc: Loc, errors: Errors, store: Store) -> Any:
    if not isinstance(value, str):
        errors.add(loc, "Input should be a valid string", "string_type")
        return _INVALID
    if not _KEY.match(value):
        errors.add(
            loc,
            "Key must be an environment variable name: letters, digits and '_', "
            "not starting with a digit",
            "string_pattern_mismatch",
        )
        return _INVALID
    return value


def _check_value(value: Any, loc: Loc, errors: Errors, store: Store) -> Any:
    if not isinstance(value, str):
        errors.add(loc, "Input should be a valid string", "string_type")
        return _INVALID
    return value


def _check_secret(value: Any, loc: Loc, errors: Errors, store: Store) -> Any:
    if not isinstance(value, bool):
        errors.add(loc, "Input should be a valid boolean", "bool_type")
        return _INVALID
    return value


_CREATE_FIELDS: dict[str, Check] = {
    "name": _check_name,
    "key": _check_key,
    "value": _check_value,
    "secret": _check_secret,
}
_UPDATE_FIELDS: dict[str, Check] = {"key": _check_key, "value": _check_value}


def _own_variable(call: Call) -> Variable:
    variable = call.store.variables_of(call.user).get(call.request.match_info["name"])
    if variable is None:
        raise ApiError(404, "Variable not found")
    return variable


@routes.route("GET", "/variables")
def list_variables(call: Call) -> web.StreamResponse:
    mine = list(call.store.variables_of(call.user).values())
    return call.json(call.paginate(mine, call.render.variable))


@routes.route("POST", "/variables", body=True)
def create_variable(call: Call) -> web.StreamResponse:
    fields = validate_fields(
        call.body,
        _CREATE_FIELDS,
        call.store,
        required=_CREATE_FIELDS.keys(),
        not_nullable=_CREATE_FIELDS.keys(),
    )
    if fields["name"] in call.store.variables_of(call.user):
        raise ApiError(409, f"A variable named {fields['name']!r} already exists")
    variable = call.store.add_variable(call.user, **fields, created_at=utcnow())
    return call.created(call.render.variable(variable))


@routes.route("PATCH", "/variables/{name}", body=True)
def update_variable(call: Call) -> web.StreamResponse:
    variable = _own_variable(call)
    fields = validate_fields(
        call.body, _UPDATE_FIELDS, call.store, not_nullable=_UPDATE_FIELDS.keys()
    )
    for key, value in fields.items():
        setattr(variable, key, value)
    if call.body:
        variable.updated_at = utcnow()
    return call.json(call.render.variable(variable))


@routes.route("DELETE", "/variables/{name}")
def delete_variable(call: Call) -> web.StreamResponse:
    variable = _own_variable(call)
    del call.store.variables_of(call.user)[variable.name]
    return call.deleted()


# -- version configuration -----------------------------------------------------

_CONFIGURATION = "/models/{owner}/{name}/versions/{number}/configuration"


def _version(call: Call, model: Model) -> Version:
    version = model.versions.get(path_int(call, "number"))
    if version is None:
        raise ApiError(404, "Version not found")
    return version


@routes.route("GET", _CONFIGURATION)
def get_configuration(call: Call) -> web.StreamResponse:
    info = call.request.match_info
    model = visible_model(call, info["owner"], info["name"])
    return call.json(call.render.configuration(model, _version(call, model)))


@routes.route("PATCH", _CONFIGURATION, body=True)
def update_configuration(call: Call) -> web.StreamResponse:
    info = call.request.match_info
    model = owned_model(call, info["owner"], info["name"])
    version = _version(call, model)
    mine = call.store.variables_of(call.user)

    def check_names(value: Any, loc: Loc, errors: Errors, store: Store) -> Any:
        if not isinstance(value, list):
            errors.add(loc, "Input should be a valid list", "list_type")
            return _INVALID
        before = len(errors.items)
        for index, name in enumerate(value):
            if not isinstance(name, str):
                errors.add(
                    (*loc, index), "Input should be a valid string", "string_type"
                )
            elif name not in mine:
                errors.add((*loc, index), f"Unknown variable {name!r}", "value_error")
        # Duplicates collapse, keeping first-seen order.
        return list(dict.fromkeys(value)) if len(errors.items) == before else _INVALID

    checks: dict[str, Check] = {
        "hardware_identifier": check_hardware,
        "variable_names": check_names,
    }
    fields = validate_fields(call.body, checks, call.store, not_nullable=checks.keys())
    for key, value in fields.items():
        setattr(version, key, value)
    return call.json(call.render.configuration(model, version))
