"""Low-code steps: JSON in, JSON out, for Zapier, n8n, Pipedream and Windmill.

Each step is a plain function of JSON-typed keyword arguments that returns a JSON-serialisable dict;
credentials come as arguments or from the environment, and nothing prompts. Zapier passes every value
as a string, so list arguments also accept ``"a,b,c"`` and a JSON array in a string.

* Pipedream: ``def handler(pd): return steps.generate(**pd.inputs)``
* Windmill: ``def main(secure_request_id: str): return steps.relay(secure_request_id=secure_request_id)``
  (every step takes keyword arguments only)
* Zapier (Code by Zapier): ``output = steps.run_step("retrieve", input_data)``
* n8n, or anything that runs a command: ``echo '{"secure_request_id": "..."}' | msgrelay step retrieve``
* anything that calls HTTP: ``POST /v1/steps/{name}`` on ``msgrelay serve`` (see `msgrelay.web.steps_api`)

Each step's return annotation is a `TypedDict`, so its output schema is generated like its inputs'
(`msgrelay.web.openapi`).
"""

__all__ = [
    "STEPS",
    "collect_create",
    "collect_delete",
    "collect_messages",
    "collect_update",
    "credits",
    "generate",
    "relay",
    "retrieve",
    "run_step",
    "status",
    "wait",
]

from msgrelay.steps.collect import collect_create, collect_delete, collect_messages, collect_update
from msgrelay.steps.runner import STEPS, run_step
from msgrelay.steps.upscale import credits, generate, relay, retrieve, status, wait
