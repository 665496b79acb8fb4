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
    "HTTP_WAIT",
    "MAX_HTTP_WAIT",
    "ErrorBody",
    "ErrorDetail",
    "HttpWait",
    "ProblemItem",
    "http_waits",
    "input_model",
    "openapi_document",
    "output_model",
    "step_schema",
]

StepFunction = Callable[..., Mapping[str, Any]]

#: The longest a step may wait over HTTP, in seconds. A step holds one of the server's threads, which
#: also answer the vendor's webhooks (answered within 10 s or retried), so a workflow wanting longer
#: calls ``retrieve`` again until ``complete`` is true.
MAX_HTTP_WAIT = 25.0


class HttpWait:
    """Marks a step input as seconds the step may block (``Annotated[float | str, HTTP_WAIT]``).

    Over HTTP such an input is at most `MAX_HTTP_WAIT`, and when left out it is the smaller of its
    default and that maximum; ``msgrelay step`` and Python callers keep the step's own default.
    """

    def __repr__(self) -> str:
        return "HTTP_WAIT"


HTTP_WAIT = HttpWait()

#: Every ``error.type`` the steps API answers with, and its HTTP status. Stable: workflows branch on it.
ERROR_TYPES: Mapping[str, int] = {
    "bad_request": 400,  # the body is not a JSON object
    "configuration_error": 400,  # no API key for the vendor, in the inputs or the server's environment
    "unauthorized": 401,  # no or a wrong bearer token
    "unknown_step": 404,
    "submission_in_doubt": 409,  # sent before with an unknown outcome; check, then send with force
    "payload_too_large": 413,  # the body is over the limit; nothing was read or sent
    "invalid_input": 422,  # an input breaks a rule; nothing was sent to the vendor
    "vendor_rejected": 422,  # the vendor refused the input (its 400 / 422)
    "vendor_error": 502,  # the vendor answered with another error status
    "vendor_unreachable": 502,  # no answer from the vendor (connection, timeout)
    "wait_timeout": 502,  # the generation did not complete in time
    "busy": 503,  # every thread kept for steps is busy (the rest answer webhooks); retry shortly
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
        "submission_in_doubt",
        "payload_too_large",
        "invalid_input",
        "vendor_rejected",
        "vendor_error",
        "vendor_unreachable",
        "wait_timeout",
        "busy",
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


def http_waits(step: StepFunction) -> dict[str, float]:
    """The step's inputs marked `HTTP_WAIT`, each with its default in seconds (inf when it has none)."""
    hints = typing.get_type_hints(step, include_extras=True)
    params = inspect.signature(step).parameters
    waits = {}
    for key, hint in hints.items():
        if typing.get_origin(hint) is typing.Annotated and HTTP_WAIT in hint.__metadata__:
            default = params[key].default
            waits[key] = float("inf") if default is inspect.Parameter.empty else float(default)
    return waits


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


_BASE_URL_NOTE = (
    "Over HTTP only together with api_key: the server's own vendor keys go only to its configured base URL."
)


def _http_wait_note(default: float) -> str:
    fallback = min(default, MAX_HTTP_WAIT)
    return (
        f"Seconds, at most {MAX_HTTP_WAIT:g} over HTTP (default {fallback:g}); to wait longer, call "
        "retrieve again until complete is true."
    )


def _describe_http_inputs(schema: dict[str, Any], step: StepFunction) -> dict[str, Any]:
    """The input schema with the HTTP face's own rules said on the inputs they touch."""
    properties = dict(schema.get("properties", {}))
    notes = {key: _http_wait_note(default) for key, default in http_waits(step).items()}
    if "base_url" in properties:
        notes["base_url"] = _BASE_URL_NOTE
    for key, note in notes.items():
        properties[key] = {**properties[key], "description": note}
    return {**schema, "properties": properties}


def _ok_response(output_ref: dict[str, Any]) -> dict[str, Any]:
    # ?format=records spreads the output into one object per lead (its scalar fields on each), and
    # ?format=n8n wraps each of those as {"json": ...}; the default is the output itself.
    record = {"type": "object", "description": "one lead (or Collect message) with the output's scalars"}
    item = {"type": "object", "properties": {"json": record}, "required": ["json"]}
    return {
        "description": "the step's output; with ?format=records a list of records, with ?format=n8n a "
        'list of n8n items ({"json": record})',
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        output_ref,
                        {"type": "array", "items": record, "title": "records"},
                        {"type": "array", "items": item, "title": "n8n items"},
                    ]
                }
            }
        },
    }


def openapi_document(steps: Mapping[str, StepFunction], *, server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``POST /v1/steps/{name}`` for every step.

    Args:
        steps: the steps by name.
        server_url: the public base URL to advertise, when one is configured (``serve --public-url``);
            else the document names the relative server ``/``, never a URL taken from request headers,
            which anyone can set.
    """
    inputs = {name: input_model(name, step) for name, step in steps.items()}
    outputs = {name: output_model(step) for name, step in steps.items()}
    types = [*inputs.values(), *outputs.values(), ErrorBody]
    refs, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    for name, model in inputs.items():
        components[model.__name__] = _describe_http_inputs(_close(components[model.__name__]), steps[name])
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
                    "200": _ok_response(out_refs[name]),
                    "400": _error_response("the body is not a JSON object, or no vendor API key"),
                    "401": _error_response("no or a wrong bearer token"),
                    "404": _error_response("no such step (error.type unknown_step)"),
                    "409": _error_response(
                        "generate: sent before with an unknown outcome (error.type submission_in_doubt); "
                        "check it was not charged, then send again with force"
                    ),
                    "413": _error_response("the body is over the limit (error.type payload_too_large)"),
                    "422": _error_response("an input breaks a rule (error.problems has wire paths)"),
                    "500": _error_response("the step failed unexpectedly; the server log has the details"),
                    "502": _error_response("the vendor failed or did not answer"),
                    "503": _error_response(
                        "every thread kept for steps is busy (error.type busy); retry after Retry-After"
                    ),
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
        "servers": [{"url": server_url or "/"}],
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
