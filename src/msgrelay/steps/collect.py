"""The Collect steps: list, create, update and delete a request's messages."""

from __future__ import annotations

from typing import Any

from msgrelay.collect.client import CollectClient
from msgrelay.collect.convert import encode as encode_collect
from msgrelay.collect.drafts import changes_from_wire, new_message_from_wire
from msgrelay.steps.inputs import bad, parse_json
from msgrelay.steps.outputs import CollectDeleteOutput, CollectMessageOutput, CollectMessagesOutput

__all__ = ["collect_create", "collect_delete", "collect_messages", "collect_update"]


def collect_messages(
    *, request_id: str, channel: str | None = None, api_key: str | None = None, base_url: str | None = None
) -> CollectMessagesOutput:
    """A Collect request's messages, as the API's JSON (``{"messages": [...]}``)."""
    with CollectClient(api_key, base_url) as client:
        messages = client.list_messages(request_id, channel=channel or None)
    return {"request_id": request_id, "messages": [encode_collect(m) for m in messages]}


def _wire_message(name: str, value: dict[str, Any] | str) -> dict[str, Any]:
    data = parse_json(name, value) if isinstance(value, str) else value
    if not isinstance(data, dict):
        raise bad(name, "expected a JSON object")
    return data


def collect_create(
    *,
    request_id: str,
    message: dict[str, Any] | str,
    api_key: str | None = None,
    base_url: str | None = None,
) -> CollectMessageOutput:
    """Add a message to a Collect request; ``message`` is the API's shape (``channel``, ``title``, ...)."""
    draft = new_message_from_wire(_wire_message("message", message))
    with CollectClient(api_key, base_url) as client:
        created = client.create_message(request_id, draft)
    return {"request_id": request_id, "message": encode_collect(created)}


def collect_update(
    *,
    request_id: str,
    message_id: str,
    changes: dict[str, Any] | str,
    channel: str | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
) -> CollectMessageOutput:
    """Change some fields of a Collect message; absent keys are left alone, ``null`` clears."""
    wanted = changes_from_wire(_wire_message("changes", changes))
    with CollectClient(api_key, base_url) as client:
        updated = client.update_message(request_id, message_id, wanted, channel=channel or None)
    return {"request_id": request_id, "message": encode_collect(updated)}


def collect_delete(
    *, request_id: str, message_id: str, api_key: str | None = None, base_url: str | None = None
) -> CollectDeleteOutput:
    """Delete a Collect message."""
    with CollectClient(api_key, base_url) as client:
        deleted = client.delete_message(request_id, message_id)
    return {"request_id": request_id, "message_id": message_id, "deleted": deleted}


#: The steps by name, as ``msgrelay step NAME`` and `run_step` know them.
