"""The sandbox's sequence catalogue: every template ``GET /sequences/get_sequences`` can answer with.

One template per combination of the four filters (`SEQUENCE_FILTERS`); a request that names any
filter gets the templates matching all of them, the unnamed ones at their first (default) value.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from msgrelay.upscale.models import (
    CONNECTION_REQUEST,
    FIRST_FOLLOW_UP,
    HIRING_ACTIVITY,
    SHARE_MATERIAL,
    STAGE_AMBITION,
)
from msgrelay.web.routing import HttpError

__all__ = ["SEQUENCE_CATALOG", "SEQUENCE_FILTERS", "select_sequences"]

SEQUENCE_FILTERS: dict[str, tuple[str, ...]] = {
    "sequence_length": ("medium", "short", "long"),
    "campaign_objective": ("meeting", "brand_awareness", "event_attendance"),
    "cadence_profile": ("normal", "rapid", "long_term"),
    "saturated_markets": ("false", "true"),
}
_LENGTHS = {"short": 2, "medium": 3, "long": 5}
_WAIT_DAYS = {"rapid": 2, "normal": 5, "long_term": 21}
_FOLLOW_UPS = (FIRST_FOLLOW_UP, SHARE_MATERIAL, STAGE_AMBITION, HIRING_ACTIVITY)


def _catalog() -> list[dict[str, Any]]:
    templates = []
    for length, objective, cadence, saturated in itertools.product(*SEQUENCE_FILTERS.values()):
        kinds = ([CONNECTION_REQUEST] if saturated == "true" else []) + list(_FOLLOW_UPS)
        kinds = kinds[: _LENGTHS[length]]
        templates.append(
            {
                "name": f"{length.title()} {objective.replace('_', ' ')}, {cadence.replace('_', ' ')} cadence"
                + (", saturated market" if saturated == "true" else ""),
                "sequence_length": length,
                "campaign_objective": objective,
                "cadence_profile": cadence,
                "saturated_markets": saturated == "true",
                "steps": [
                    {"step": i + 1, "messageType": kind, "wait_days": 0 if i == 0 else _WAIT_DAYS[cadence]}
                    for i, kind in enumerate(kinds)
                ],
            }
        )
    return templates


SEQUENCE_CATALOG = _catalog()


def select_sequences(query: Mapping[str, str]) -> list[dict[str, Any]]:
    """The templates matching the filters in ``query``, or every one when it names none.

    Raises:
        HttpError: 422 for a filter value that is not one of its allowed values.
    """
    filters = {name: query.get(name) for name in SEQUENCE_FILTERS}
    templates = SEQUENCE_CATALOG
    if any(value is not None for value in filters.values()):
        wanted: dict[str, Any] = {}
        for name, allowed in SEQUENCE_FILTERS.items():
            value = filters[name]
            if value is None or value == "default":
                value = allowed[0]
            if value not in allowed:
                raise HttpError(422, {"error": f"{name} must be one of {', '.join(allowed)}"})
            wanted[name] = value
        templates = [t for t in templates if all(str(t[k]).lower() == v for k, v in wanted.items())]
    return templates
