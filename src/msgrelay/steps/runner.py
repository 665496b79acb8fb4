"""Steps by name, and `run_step`: what ``msgrelay step NAME``, the HTTP steps API and Code by Zapier call."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from msgrelay.errors import Problem, ValidationError
from msgrelay.steps.collect import collect_create, collect_delete, collect_messages, collect_update
from msgrelay.steps.upscale import credits, generate, relay, retrieve, status, wait

__all__ = ["STEPS", "run_step"]


STEPS: Mapping[str, Callable[..., Mapping[str, Any]]] = {
    "generate": generate,
    "retrieve": retrieve,
    "wait": wait,
    "relay": relay,
    "status": status,
    "credits": credits,
    "collect-messages": collect_messages,
    "collect-list": collect_messages,
    "collect-create": collect_create,
    "collect-update": collect_update,
    "collect-delete": collect_delete,
}


def run_step(name: str, inputs: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """Run a step by name with a dict of inputs; unknown or missing inputs are one `ValidationError`."""
    step = STEPS.get(name)
    if step is None:
        raise ValidationError(
            Problem("step", f"unknown step {name!r}; known: {', '.join(STEPS)}"), subject="step"
        )
    given = dict(inputs or {})
    params = inspect.signature(step).parameters
    problems = [Problem(key, "not an input of this step") for key in given if key not in params]
    problems += [
        Problem(key, "required")
        for key, param in params.items()
        if param.default is inspect.Parameter.empty and key not in given
    ]
    if problems:
        raise ValidationError(problems, subject=f"inputs of step {name!r}")
    return step(**given)
