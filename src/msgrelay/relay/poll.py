"""No reliance on the webhook: submissions whose batch never arrived are polled, then relayed or given up.

A submission recorded in the ledger with its ``secure_request_id`` waits for its batch. The completion
webhook may never come (no webhook secret on the account, the vendor's attempts exhausted, a receiver
that was down), so whatever runs the relay in the background (`msgrelay.relay.RelayWorker`, in
``msgrelay serve``) polls it: first ``MSGRELAY_POLL_AFTER`` seconds after submission (default 900),
then at growing intervals, one retrieve per interval. When the generation is complete the batch is
put in the inbox exactly as a webhook would, and relayed the same way. A webhook arriving meanwhile
wins: its batch is in the inbox, and polling stops. After ``MSGRELAY_POLL_GIVE_UP`` seconds (default
172800) the batch is dead-lettered with the reason (``relay --retry-dead`` re-drives it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from msgrelay.config import MSGRELAY_POLL_AFTER, MSGRELAY_POLL_GIVE_UP, read_env
from msgrelay.destinations.delivery import UPSCALE
from msgrelay.errors import ConfigurationError, NotFoundError
from msgrelay.ledger.base import POLL_DEAD, POLL_DONE, Ledger, Submission
from msgrelay.plugins.dispatch import describe_error
from msgrelay.relay.metrics import POLLS
from msgrelay.upscale.models import RetrieveResult

__all__ = ["DEFAULT_POLL_AFTER", "DEFAULT_POLL_GIVE_UP", "Poller", "poll_settings"]

DEFAULT_POLL_AFTER = 900.0
DEFAULT_POLL_GIVE_UP = 172_800.0
#: Each interval is this much longer than the one before, up to `MAX_INTERVAL`.
GROWTH = 1.5
MAX_INTERVAL = 3600.0


def _seconds(name: str, default: float, environ: Mapping[str, str] | None) -> float:
    raw = read_env(name, environ)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise ConfigurationError(f"{name} must be more than 0 seconds, got {raw!r}")
    return value


def poll_settings(environ: Mapping[str, str] | None = None) -> tuple[float, float]:
    """``(poll_after, give_up)`` in seconds from ``MSGRELAY_POLL_AFTER`` and ``MSGRELAY_POLL_GIVE_UP``."""
    return (
        _seconds(MSGRELAY_POLL_AFTER, DEFAULT_POLL_AFTER, environ),
        _seconds(MSGRELAY_POLL_GIVE_UP, DEFAULT_POLL_GIVE_UP, environ),
    )


class Poller:
    """Polls due submissions once each: complete → inbox; still running → later; too old → dead letter.

    Args:
        ledger: where submissions wait and batches are recorded.
        retrieve: one retrieve call (`UpscaleClient.retrieve_messages`), no waiting.
        account: the account ``retrieve`` acts for (`UpscaleClient.account`); a submission made from
            another account (another server, another key) is not polled with this one, since the
            vendor would answer 401 or 404 for a batch that is fine. None: poll every submission.
        clock: seconds since the epoch.
        poll_after: seconds from submission to the first poll.
        give_up: seconds from submission after which the batch is dead-lettered.
        lease: seconds a claimed poll is held from other workers.
        limit: submissions polled per call of `run_due`.
    """

    def __init__(
        self,
        *,
        ledger: Ledger,
        retrieve: Callable[[str], RetrieveResult],
        clock: Callable[[], float],
        account: Callable[[], str] | None = None,
        poll_after: float = DEFAULT_POLL_AFTER,
        give_up: float = DEFAULT_POLL_GIVE_UP,
        lease: float = 60.0,
        limit: int = 50,
    ) -> None:
        self.ledger = ledger
        self.retrieve = retrieve
        self.account = account
        self.clock = clock
        self.poll_after = poll_after
        self.give_up = give_up
        self.lease = lease
        self.limit = limit

    def interval(self, polls: int) -> float:
        """Seconds from poll number ``polls`` (1 after the first) to the next: growing, capped."""
        return min(self.poll_after * GROWTH**polls, max(MAX_INTERVAL, self.poll_after))

    def run_due(self) -> int:
        """Poll every due submission once; returns how many batches reached the inbox."""
        claimed = self.ledger.claim_polls(
            now=self.clock(), poll_after=self.poll_after, lease=self.lease, limit=self.limit
        )
        return sum(self.poll(submission) for submission in claimed)

    def poll(self, submission: Submission) -> bool:
        """One retrieve of ``submission``'s batch; True when it was complete and is now in the inbox."""
        sid = submission.secure_request_id
        assert sid is not None  # only submissions with an id wait for a batch
        reason: str
        try:
            mine = self.account() if self.account is not None else ""
            if mine and submission.account and submission.account != mine:
                # Another account's batch: not ours to poll (whoever runs that account's relay does).
                self.ledger.schedule_poll(
                    submission.key,
                    next_poll_at=self.clock() + self.interval(submission.polls + 1),
                    now=self.clock(),
                )
                return False
            result = self.retrieve(sid)
        except Exception as exc:  # recorded and polled again until `give_up`; dead at once only on a 404
            reason = describe_error(exc)
            POLLS.labels(outcome="failed").inc()
            # A missing key or one refused now (a setup being fixed) is worth polling again; an id the
            # vendor does not know will never complete.
            if isinstance(exc, NotFoundError):
                self._dead(submission, f"polling {sid} failed: {reason}")
                return False
        else:
            POLLS.labels(outcome="complete" if result.is_complete else "partial").inc()
            now = self.clock()
            if result.is_complete:
                self.ledger.record_event(UPSCALE, sid, event=None, destinations=None, now=now)
                self.ledger.finish_poll(submission.key, state=POLL_DONE, now=now)
                return True
            reason = result.metadata.status_message or "generation still in progress"
        now = self.clock()
        if now - submission.created_at >= self.give_up:
            hours = self.give_up / 3600
            self._dead(
                submission,
                f"no completion webhook, and not complete {hours:g} h after submission "
                f"({submission.polls + 1} polls): {reason}",
            )
            return False
        self.ledger.schedule_poll(
            submission.key, next_poll_at=now + self.interval(submission.polls + 1), now=now
        )
        return False

    def _dead(self, submission: Submission, error: str) -> None:
        now = self.clock()
        assert submission.secure_request_id is not None
        self.ledger.dead_letter_batch(UPSCALE, submission.secure_request_id, error=error, now=now)
        self.ledger.finish_poll(submission.key, state=POLL_DEAD, now=now)
