"""Where a batch goes: its recorded destinations, else the explicit ones, else a host's hook, else routes.

The customer is known only once a batch is retrieved, so a batch without explicit destinations is
routed at fan-out, in this order:

1. the destinations recorded on the batch (``--to`` when it was recorded, or a first fan-out's choice:
   so a retry or a re-run goes where the first fan-out went);
2. the relay's explicit destinations (``destinations=``, ``MSGRELAY_DESTINATIONS``);
3. the first answer other than None of the ``route_destinations(context)`` hook;
4. the config file's routes (`msgrelay.destinations.RouteTable`: customer and campaign, then customer,
   then the fallback);
5. the relay's default, the built-in ``store``.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from msgrelay.destinations.delivery import RelayContext
from msgrelay.destinations.routes import RouteTable
from msgrelay.errors import ConfigurationError
from msgrelay.plugins import PluginManager

__all__ = ["Choice", "choose_destinations"]


@attrs.frozen
class Choice:
    """The destinations chosen for a batch, whether leads with no message are skipped, and why."""

    destinations: list[str]
    skip_empty: bool = False
    reason: str = "recorded"


def choose_destinations(
    *,
    recorded: Sequence[str] | None,
    explicit: Sequence[str] | None,
    default: Sequence[str],
    context: RelayContext,
    plugins: PluginManager,
    routes: RouteTable,
) -> Choice:
    """The destinations of one batch (see the module docstring for the order).

    Raises:
        ConfigurationError: a ``route_destinations`` answer that is not a list of names.
    """
    if recorded:
        return Choice(list(recorded))
    if explicit:
        return Choice(list(explicit), reason="explicit")
    answer = plugins.hook.route_destinations(context=context)
    if answer is not None:
        if isinstance(answer, str) or not all(isinstance(n, str) and n for n in answer) or not answer:
            raise ConfigurationError(
                f"route_destinations answered {type(answer).__name__} for batch {context.batch_id}: "
                "expected a non-empty list of destination names, or None"
            )
        return Choice(list(dict.fromkeys(answer)), reason="hook")
    route = routes.match(context.customer_id, context.campaign_id)
    if route is not None:
        return Choice(list(route.to), skip_empty=route.skip_empty, reason=route.where or "route")
    return Choice(list(default), reason="default")
