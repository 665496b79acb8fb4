"""Schemas generated from the steps' signatures: JSON Schema per step, and the OpenAPI 3.1 document.

A step is a function of keyword arguments whose return annotation is a `TypedDict`. Its inputs become
a `TypedDict` built from the signature (a parameter without a default is required), and msgspec writes
the JSON Schema of both; so the document cannot drift from the code. The steps come in as a mapping
(``msgrelay.steps.STEPS``), since the steps sit above this layer and call into it, not the reverse.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal, NotRequired, TypedDict

import msgspec

from msgrelay._version import __version__

__all__ = [
    "ERROR_TYPES",
    "ErrorBody",
    "ErrorDetail",
    "ProblemItem",
    "input_model",
    "openapi_document",
    "output_model",
    "step_schema",
]

StepFunction = Callable[..., Mapping[str, Any]]

#: Every ``error.type`` the steps API answers with, and its HTTP status. Stable: workflows branch on it.
ERROR_TYPES: Mapping[str, int] = {
    "bad_request": 400,  # the body is not a JSON object
    "configuration_error": 400,  # no API key for the vendor, in the inputs or the server's environment
    "unauthorized": 401,  # no or a wrong bearer token
    "unknown_step": 404,
    "invalid_input": 422,  # an input breaks a rule; nothing was sent to the vendor
    "vendor_rejected": 422,  # the vendor refused the input (its 400 / 422)
    "vendor_error": 502,  # the vendor answered with another error status
    "vendor_unreachable": 502,  # no answer from the vendor (connection, timeout)
    "wait_timeout": 502,  # the generation did not complete in time
    "internal_error": 500,
}


class ProblemItem(TypedDict):
    """One thing wrong with an input, named by its wire path (``leads[3].linkedin``)."""

    path: str
    message: str


class ErrorDetail(TypedDict):
    """What went wrong: a stable ``type``, one line of ``message``, the input ``problems`` if any."""

    type: Literal[
        "bad_request",
        "configuration_error",
        "unauthorized",
        "unknown_step",
        "invalid_input",
        "vendor_rejected",
        "vendor_error",
        "vendor_unreachable",
        "wait_timeout",
        "internal_error",
    ]
    message: str
    problems: list[ProblemItem]
    vendor_status: NotRequired[int]


class ErrorBody(TypedDict):
    """The body of every error answer of the steps API."""

    error: ErrorDetail


def _model_name(step: str, suffix: str) -> str:
    return "".join(part.capitalize() for part in step.replace("_", "-").split("-")) + suffix


def input_model(name: str, step: StepFunction, *, partial: bool = False) -> Any:
    """A `TypedDict` of the step's inputs, named ``<Step>Input``; ``partial`` makes every key optional.

    Args:
        name: the step's name (``collect-create``).
        step: the step function.
        partial: for checking the types of the inputs given without requiring the rest.
    """
    hints = typing.get_type_hints(step)
    hints.pop("return", None)
    params = inspect.signature(step).parameters
    fields = {
        key: hint if params[key].default is inspect.Parameter.empty and not partial else NotRequired[hint]
        for key, hint in hints.items()
    }
    # The functional form with a computed name: mypy wants a literal, which a generated model cannot be.
    model: Any = TypedDict(_model_name(name, "Input"), fields)  # type: ignore[misc]
    model.__doc__ = f"The inputs of step {name!r}: {inspect.getdoc(step) or ''}".strip()
    return model


def output_model(step: StepFunction) -> Any:
    """The step's return annotation (a `TypedDict`)."""
    return typing.get_type_hints(step)["return"]


def _close(schema: dict[str, Any]) -> dict[str, Any]:
    # Unknown inputs are refused (a typo must not pass for an optional input left out), so say so.
    return {**schema, "additionalProperties": False}


def step_schema(name: str, step: StepFunction) -> dict[str, Any]:
    """The JSON Schema (2020-12) of one step: ``{"input": ..., "output": ..., "$defs": ...}``."""
    inp = input_model(name, step)
    (in_ref, out_ref), defs = msgspec.json.schema_components(
        [inp, output_model(step)], ref_template="#/$defs/{name}"
    )
    defs[inp.__name__] = _close(defs[inp.__name__])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"msgrelay step {name}",
        "input": in_ref,
        "output": out_ref,
        "$defs": defs,
    }


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }


def openapi_document(steps: Mapping[str, StepFunction], *, server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``POST /v1/steps/{name}`` for every step.

    Args:
        steps: the steps by name.
        server_url: the base URL to advertise (the one the request came to), if known.
    """
    inputs = {name: input_model(name, step) for name, step in steps.items()}
    outputs = {name: output_model(step) for name, step in steps.items()}
    types = [*inputs.values(), *outputs.values(), ErrorBody]
    refs, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    for model in inputs.values():
        components[model.__name__] = _close(components[model.__name__])
    in_refs = dict(zip(inputs, refs[: len(inputs)], strict=True))
    out_refs = dict(zip(outputs, refs[len(inputs) : len(inputs) + len(outputs)], strict=True))
    paths: dict[str, Any] = {}
    for name, step in steps.items():
        summary, _, details = (inspect.getdoc(step) or name).partition("\n")
        paths[f"/v1/steps/{name}"] = {
            "post": {
                "operationId": name.replace("-", "_"),
                "summary": summary,
                "description": details.strip() or summary,
                "tags": ["steps"],
                "parameters": [
                    {
                        "name": "format",
                        "in": "query",
                        "required": False,
                        "description": "json (default), records (one object per lead, for Zapier) or "
                        'n8n ([{"json": ...}] items)',
                        "schema": {"type": "string", "enum": ["json", "records", "n8n"]},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": in_refs[name]}},
                },
                "responses": {
                    "200": {
                        "description": "the step's output (with ?format=records or n8n, a list of them)",
                        "content": {"application/json": {"schema": out_refs[name]}},
                    },
                    "400": _error_response("the body is not a JSON object, or no vendor API key"),
                    "401": _error_response("no or a wrong bearer token"),
                    "422": _error_response("an input breaks a rule (error.problems has wire paths)"),
                    "502": _error_response("the vendor failed or did not answer"),
                },
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "msgrelay steps",
            "version": __version__,
            "description": "The low-code steps of msgrelay over HTTP: JSON in, JSON out. Every error "
            "answers with ErrorBody; branch on error.type.",
        },
        "servers": [{"url": server_url}] if server_url else [],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the value of MSGRELAY_API_TOKEN on the server",
                }
            },
        },
    }
