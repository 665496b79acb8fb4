"""Routing at fan-out: recorded, then explicit, then the host's hook, then the config routes, then store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import pytest

from msgrelay import UPSCALE, RelayContext
from msgrelay.destinations import Route, RouteTable
from msgrelay.ledger import SQLiteLedger
from msgrelay.plugins import hookspecs
from msgrelay.relay import DeliveryPolicy, Relay
from msgrelay.testing import RelayHarness
from msgrelay.testing.harness import make_request
from tests.helpers import Recorder

ROUTES = RouteTable(
    [
        Route(to=["acme"], customer="acme", campaign="spring"),
        Route(to=["acme", "store"], customer="acme"),
        Route(to=["other"]),
    ]
)


@attrs.define(eq=False)
class HostRoutes:
    """A host keeping routes in its own database: answers for some customers only."""

    table: dict[str, list[str]]
    asked: list[RelayContext] = attrs.field(factory=list)

    @hookspecs.hookimpl
    def route_destinations(self, context: RelayContext) -> Sequence[str] | None:
        self.asked.append(context)
        return self.table.get(context.customer_id or "")


@pytest.fixture
def recorders(register_plugin: Any) -> dict[str, Recorder]:
    """Destinations ``acme`` and ``other``, recording what they get."""
    made = {name: Recorder(name=name) for name in ("acme", "other")}
    for name, recorder in made.items():
        register_plugin(recorder, name=name)
    return made


@pytest.fixture
def relay(msgrelay_harness: RelayHarness) -> Iterator[Relay]:
    """A relay with no explicit destinations (so batches are routed) and the config's ``ROUTES``."""
    made = Relay(
        ledger=msgrelay_harness.ledger,
        plugins=msgrelay_harness.plugins,
        upscale=msgrelay_harness.client,
        policy=DeliveryPolicy(backoff_base=0.01, backoff_max=0.05),
        routes=ROUTES,
    )
    yield made
    made.close()


def _submit(h: RelayHarness, customer: str, campaign: str = "c", **request: Any) -> str:
    generation = attrs.evolve(
        make_request(2, **request), automation_tool_customer_id=customer, automation_tool_campaign_id=campaign
    )
    sid = h.client.request_generation(generation).secure_request_id
    h.client.wait_for_completion(sid, timeout=60.0, initial_interval=0.01)
    return sid


def _got(recorder: Recorder) -> set[str]:
    return {d.context.batch_id for d in recorder.calls}


def test_config_routes_pick_the_most_specific_match(
    msgrelay_harness: RelayHarness, relay: Relay, recorders: dict[str, Recorder]
) -> None:
    """Customer and campaign, then customer, then the fallback; the choice is on the batch and its context."""
    h = msgrelay_harness
    spring, autumn, other = _submit(h, "acme", "spring"), _submit(h, "acme", "autumn"), _submit(h, "globex")
    for sid in (spring, autumn, other):
        assert relay.relay(sid).delivered > 0
    assert _got(recorders["acme"]) == {spring, autumn}
    assert _got(recorders["other"]) == {other}
    assert {r["batch_id"] for r in h.store.rows()} == {autumn}
    assert _destinations(h.ledger, autumn) == ("acme", "store")
    assert {d.context.destinations for d in recorders["acme"].calls if d.context.batch_id == spring} == {
        ("acme",)
    }


def test_the_hook_beats_the_routes_and_explicit_destinations_beat_both(
    msgrelay_harness: RelayHarness, relay: Relay, recorders: dict[str, Recorder], register_plugin: Any
) -> None:
    """The host's answer wins over the config; None defers to it; ``destinations=`` skips both."""
    host = HostRoutes({"acme": ["other"]})
    register_plugin(host, name="host-routes")
    h = msgrelay_harness
    acme, globex, forced = _submit(h, "acme"), _submit(h, "globex"), _submit(h, "acme")
    relay.relay(acme)
    relay.relay(globex)
    relay.relay(forced, destinations=["store"])
    assert _got(recorders["other"]) == {acme, globex}  # acme by the hook, globex by the fallback route
    assert recorders["acme"].calls == []
    assert {r["batch_id"] for r in h.store.rows()} == {forced}
    assert [(c.customer_id, c.destinations) for c in host.asked] == [("acme", ()), ("globex", ())]


def test_a_refanned_batch_goes_where_its_first_fan_out_went(
    msgrelay_harness: RelayHarness, relay: Relay, recorders: dict[str, Recorder]
) -> None:
    """Routes changed after the first fan-out do not move a batch: the recorded destinations are used."""
    h = msgrelay_harness
    sid = _submit(h, "acme")
    relay.relay(sid)
    relay.routes = RouteTable([Route(to=["other"])])
    assert h.ledger.reopen_batch(UPSCALE, sid, now=relay.clock())
    relay.run_pending()
    assert _destinations(h.ledger, sid) == ("acme", "store")
    assert recorders["other"].calls == []
    assert len(recorders["acme"].calls) == 2


def test_skip_empty_records_leads_without_a_message_as_skipped(
    msgrelay_harness: RelayHarness, relay: Relay, recorders: dict[str, Recorder]
) -> None:
    """A lead whose company has no job posts gets no ``hiring_activity`` message: with ``skip_empty`` it
    is stored and its rows are ``skipped`` (shown by destination), not delivered and not lost."""
    relay.routes = RouteTable([Route(to=["acme", "store"], skip_empty=True)])
    h = msgrelay_harness
    request = make_request(3, message_types=("hiring_activity",))
    quiet = attrs.evolve(request.lead_data[1], lead_company="Quiet Labs")
    generation = attrs.evolve(request, lead_data=[request.lead_data[0], quiet, request.lead_data[2]])
    sid = h.client.request_generation(generation).secure_request_id
    h.client.wait_for_completion(sid, timeout=60.0, initial_interval=0.01)
    report = relay.relay(sid)
    assert (report.leads, report.skipped, report.delivered, report.dead) == (3, 1, 4, 0)
    assert sorted(d.lead.external_prospect_id for d in recorders["acme"].calls if d.lead) == [
        "lead-0",
        "lead-2",
    ]
    assert h.ledger.stored_items(UPSCALE, sid) == {"lead-0", "lead-1", "lead-2"}
    by_destination = h.ledger.status()["by_destination"]
    assert by_destination["acme"] == {"delivered": 2, "skipped": 1}
    assert by_destination["store"] == {"delivered": 2, "skipped": 1}
    assert h.ledger.next_due(UPSCALE, sid) is None


def test_without_skip_empty_an_empty_lead_is_delivered(
    msgrelay_harness: RelayHarness, relay: Relay, recorders: dict[str, Recorder]
) -> None:
    """The default: destinations decide what to do with a lead that has no message."""
    relay.routes = RouteTable([Route(to=["acme"])])
    h = msgrelay_harness
    request = make_request(1, message_types=("hiring_activity",))
    generation = attrs.evolve(
        request, lead_data=[attrs.evolve(request.lead_data[0], lead_company="Quiet Labs")]
    )
    sid = h.client.request_generation(generation).secure_request_id
    h.client.wait_for_completion(sid, timeout=60.0, initial_interval=0.01)
    report = relay.relay(sid)
    assert (report.skipped, report.delivered) == (0, 1)
    assert recorders["acme"].calls[0].lead is not None
    assert recorders["acme"].calls[0].lead.messages == {"hiring_activity": None}


def test_a_bad_hook_answer_fails_the_batch_naming_the_hook(
    msgrelay_harness: RelayHarness, relay: Relay, register_plugin: Any
) -> None:
    """An answer that is not a list of names is a configuration error: the batch is dead-lettered."""
    register_plugin(HostRoutes({"acme": "other"}), name="host-routes")  # type: ignore[dict-item]
    sid = _submit(msgrelay_harness, "acme")
    report = relay.relay(sid)
    assert report.batch_failures == 1
    assert "route_destinations answered str" in report.errors[0]
    assert msgrelay_harness.ledger.batch_state(UPSCALE, sid) == "dead"


def _destinations(ledger: SQLiteLedger, sid: str) -> Any:
    """The destinations recorded on a batch."""
    batch = ledger.get_batch(UPSCALE, sid)
    assert batch is not None
    return batch["destinations"]
