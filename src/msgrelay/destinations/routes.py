"""Routes: which destinations a batch goes to, by its customer and campaign.

A `RouteTable` holds the config file's ``[[routes]]``. A batch matches the most specific route: one
naming its customer and campaign, then one naming its customer only, then the fallback (a route with
no match keys). No match means the caller's default (the built-in ``store``).
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = ["Route", "RouteTable"]


def _names(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _routes(value: Iterable[Route]) -> tuple[Route, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class Route:
    """One ``[[routes]]`` entry.

    Attributes:
        to: the destination names, in order.
        customer: the ``automation_tool_customer_id`` it matches (None: any; the fallback).
        campaign: the ``automation_tool_campaign_id`` it narrows to (only with a customer).
        skip_empty: leads with no generated message are recorded as skipped, not delivered.
        where: how the route is named in messages (``routes.toml [[routes]] #2``).
    """

    to: tuple[str, ...] = attrs.field(converter=_names)
    customer: str | None = None
    campaign: str | None = None
    skip_empty: bool = False
    where: str = attrs.field(default="", eq=False)

    @property
    def match_key(self) -> tuple[str | None, str | None]:
        """``(customer, campaign)``: two routes with the same key cannot both be meant."""
        return (self.customer, self.campaign)


@attrs.frozen
class RouteTable:
    """Routes by their match keys (at most one per key; the loader refuses a repeat)."""

    routes: tuple[Route, ...] = attrs.field(default=(), converter=_routes)

    def match(self, customer_id: str | None, campaign_id: str | None) -> Route | None:
        """The most specific route for a batch: customer and campaign, then customer, then fallback."""
        by_key = {route.match_key: route for route in self.routes}
        candidates: list[tuple[str | None, str | None]] = []
        if customer_id is not None:
            if campaign_id is not None:
                candidates.append((customer_id, campaign_id))
            candidates.append((customer_id, None))
        candidates.append((None, None))
        for key in candidates:
            if key in by_key:
                return by_key[key]
        return None

    def destinations(self) -> set[str]:
        """Every destination name a route names."""
        return {name for route in self.routes for name in route.to}

    def __bool__(self) -> bool:
        return bool(self.routes)
