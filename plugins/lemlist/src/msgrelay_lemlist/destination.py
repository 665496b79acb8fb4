"""The lemlist destination: each lead added to one campaign, its messages as custom variables.

For a batch (`LemlistDestination.deliver_many`):

1. every lead is checked first (an email or a LinkedIn URL; texts within LinkedIn's limits); a lead
   that fails is a permanent failure of its own and nothing is sent for it;
2. the campaign is read once (``GET /campaigns/{id}``): a *running* campaign sends to a lead as soon
   as it is added, so unless running is allowed nothing is added and every lead fails with
   `CampaignRunningError` (permanent: dead-lettered at once, saying why);
3. one ``POST /campaigns/{id}/leads/`` per lead, paced to 20 requests per 2 s per key. lemlist has
   no batch call that takes custom variables;
4. ``Lead already in the campaign`` (a retry after a lost answer, or a re-run) is not a failure: the
   lead is looked up (by email, else in the campaign's leads by LinkedIn URL) and its variables are
   updated with ``PATCH /leads/{id}/variables``, so a retry never adds a lead twice.

A failure that concerns the key, the campaign or lemlist itself (401, 429, 5xx, a timeout) stops the
batch: the leads not yet sent fail with `NotSentError` and are retried with it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from msgrelay import Delivery
from msgrelay.destinations import RegisterDestination
from msgrelay.errors import NotFoundError, Problem, ValidationError
from msgrelay.upscale import Lead
from msgrelay_lemlist.client import CAMPAIGN_LEADS_PAGE, LemlistClient
from msgrelay_lemlist.errors import CampaignRunningError, NotSentError, ends_batch
from msgrelay_lemlist.mapping import canonical_linkedin, lead_body, variables
from msgrelay_lemlist.settings import LemlistSettings

__all__ = ["DESTINATION_TYPE", "RUNNING", "LemlistDestination"]

logger = logging.getLogger("msgrelay.lemlist")

#: The destination type (and the name of the environment-configured instance).
DESTINATION_TYPE = "lemlist"
#: The campaign status in which an added lead is sent to at once.
RUNNING = "running"
#: Pages of a campaign's leads read at most when looking a LinkedIn-only lead up.
_MAX_PAGES = 20


class LemlistDestination:
    """Adds each delivered lead to one lemlist campaign.

    Args:
        settings: the key, the campaign and the rest (`LemlistSettings.from_env` / ``from_mapping``).
        client: the API client to use (default: one built from ``settings``, paced per key).
    """

    def __init__(self, settings: LemlistSettings, *, client: LemlistClient | None = None) -> None:
        self.settings = settings
        self.client = client if client is not None else LemlistClient(settings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> LemlistDestination:
        """A destination configured from ``MSGRELAY_LEMLIST_*`` (see `LemlistSettings.from_env`)."""
        return cls(LemlistSettings.from_env(environ), **kwargs)

    def __repr__(self) -> str:
        return f"<LemlistDestination {self.settings.campaign_id} at {self.settings.base_url}>"

    # --- the destination protocol ------------------------------------------------------------------
    def deliver(self, delivery: Delivery) -> None:
        """Add one lead; return once it is in the campaign with its texts, raise otherwise."""
        failure = self.deliver_many([delivery]).get(delivery.key)
        if failure is not None:
            raise failure

    def deliver_many(self, deliveries: Sequence[Delivery]) -> dict[str, BaseException]:
        """Add each lead in order; the failures by delivery key (see the module docstring)."""
        failures: dict[str, BaseException] = {}
        bodies: list[tuple[Delivery, Lead, dict[str, str]]] = []
        for delivery in deliveries:
            try:
                lead = _lead_of(delivery)
                bodies.append((delivery, lead, lead_body(lead)))
            except ValidationError as exc:
                failures[delivery.key] = exc
        if not bodies:
            return failures
        try:
            self._check_campaign()
        except Exception as exc:  # the campaign gate fails every lead the same way
            failures.update({delivery.key: exc for delivery, _, _ in bodies})
            return failures
        stop: BaseException | None = None
        for delivery, lead, body in bodies:
            if stop is not None:
                failures[delivery.key] = NotSentError(stop)
                continue
            try:
                self._add(lead, body)
            except Exception as exc:  # any failure is that delivery's; the relay decides on a retry
                failures[delivery.key] = exc
                logger.debug("lemlist: lead %s failed: %s", lead.external_prospect_id, exc)
                if ends_batch(exc):
                    stop = exc
        return failures

    def check(self) -> str:
        """Validate the key and the campaign with cheap reads; one line saying what was verified.

        Raises:
            msgrelay.errors.MsgrelayError: the key is refused, the campaign is missing, or it is running
                and running is not allowed; the message names the setting to fix.
        """
        team = self.client.get_team()
        campaign = self._check_campaign()
        name = campaign.get("name")
        label = f" ({name})" if isinstance(name, str) and name else ""
        return (
            f"lemlist: key accepted (team {team.get('name') or team.get('_id') or '?'}), campaign "
            f"{self.settings.campaign_id}{label} is {campaign.get('status') or 'of unknown status'}"
        )

    def register_as(self, register: RegisterDestination, name: str = DESTINATION_TYPE) -> None:
        """Register this destination under ``name`` (from a ``register_destinations`` hook)."""
        register(name, self.deliver, deliver_many=self.deliver_many)

    # --- the steps ---------------------------------------------------------------------------------
    def _check_campaign(self) -> dict[str, Any]:
        campaign = self.client.get_campaign(self.settings.campaign_id)
        if campaign.get("status") == RUNNING and not self.settings.allow_running:
            raise CampaignRunningError(
                self.settings.campaign_id, setting=self.settings.source("allow_running")
            )
        return campaign

    def _add(self, lead: Lead, body: dict[str, str]) -> None:
        created = self.client.add_lead(self.settings.campaign_id, body)
        if created is not None:
            return
        # Already in the campaign: a retry after an answer we never got, or a re-run. Update its texts.
        lead_id = self._find(lead, body)
        if lead_id is None:
            raise ValidationError(
                Problem(
                    f"lead {lead.external_prospect_id}",
                    "lemlist says it is already in the campaign, but it cannot be found to update its "
                    "texts (no email, and no lead of the campaign has its LinkedIn URL)",
                ),
                subject="lemlist lead",
            )
        self.client.update_variables(lead_id, variables(lead))

    def _find(self, lead: Lead, body: Mapping[str, str]) -> str | None:
        """The id of the campaign's lead for this person: by email, else by canonical LinkedIn URL."""
        email = body.get("email")
        if email is not None:
            try:
                found = self.client.find_lead(email)
            except NotFoundError:
                found = None
            # The same email may be a lead of another campaign: only this campaign's lead is ours.
            ours = found is not None and found.get("campaignId") in (None, self.settings.campaign_id)
            if found is not None and ours and isinstance(found.get("_id"), str):
                return str(found["_id"])
        linkedin = body.get("linkedinUrl")
        if linkedin is None:
            return None
        for page in range(_MAX_PAGES):
            leads = self.client.campaign_leads(self.settings.campaign_id, offset=page * CAMPAIGN_LEADS_PAGE)
            for candidate in leads:
                url = candidate.get("linkedinUrl")
                if isinstance(url, str) and canonical_linkedin(url) == linkedin:
                    lead_id = candidate.get("_id")
                    return str(lead_id) if lead_id else None
            if len(leads) < CAMPAIGN_LEADS_PAGE:
                return None
        return None

    # --- lifetime ----------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()

    def __enter__(self) -> LemlistDestination:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _lead_of(delivery: Delivery) -> Lead:
    if delivery.lead is None:
        raise ValidationError(
            Problem("lead", "lemlist receives Upscale leads; a Collect message has no lead to add"),
            subject=f"lemlist delivery {delivery.key}",
        )
    return delivery.lead
