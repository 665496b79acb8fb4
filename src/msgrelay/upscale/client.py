"""`UpscaleClient`: one method per Upscale Outreach operation.

Vendor reference: https://www.upscaleoutreach.com/api-docs
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, TypeVar

import attrs
import requests

from msgrelay import errors
from msgrelay.config import (
    DEFAULT_UPSCALE_BASE_URL,
    UPSCALE_API_KEY,
    UPSCALE_BASE_URL,
)
from msgrelay.transport.endpoint import resolve_api_key, resolve_base_url
from msgrelay.transport.redact import Secret, redact_url
from msgrelay.transport.retry import RetryPolicy
from msgrelay.transport.session import Timeout, Transport
from msgrelay.upscale import convert
from msgrelay.upscale.models import (
    Credits,
    GenerationRequest,
    GenerationTicket,
    Progress,
    RetrieveResult,
    SequenceTemplate,
)
from msgrelay.upscale.validation import validate_generation_request, validate_secure_request_id

logger = logging.getLogger(__name__)
T = TypeVar("T")


class ApiKeyAuth(requests.auth.AuthBase):
    """Sends the key in the ``Api-Key`` header; never shows it in a repr."""

    def __init__(self, api_key: str | Secret) -> None:
        self._api_key = api_key if isinstance(api_key, Secret) else Secret(api_key)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Api-Key"] = self._api_key.reveal()
        return request

    def __repr__(self) -> str:
        return "<ApiKeyAuth Api-Key=REDACTED>"


@attrs.frozen(kw_only=True)
class PathLayout:
    """Where each operation lives under the base URL (the vendor's docs show two generations)."""

    request_generation: str = "/messages/request_message_generation"
    retrieve_messages: str = "/messages/retrieve_messages"
    get_sequences: str = "/sequences/get_sequences"
    check_credits: str = "/account/check_credits"


#: The current layout (docs "Gen B"), the default.
GROUPED = PathLayout()
#: The older layout (docs "Gen A").
FLAT = PathLayout(request_generation="/request_message_generation", retrieve_messages="/retrieve_messages")

ProgressCallback = Callable[[Progress], None]


class UpscaleClient:
    """A client for the Upscale Outreach message-generation API.

    Args:
        api_key: the key; defaults to ``$UPSCALE_API_KEY``.
        base_url: the API root; defaults to ``$UPSCALE_BASE_URL``, then the vendor's.
        timeout: a `Timeout`, one number, or ``(connect, read)`` seconds; always set. Each call, its
            retries and the waits between them included, ends at the timeout's total deadline,
            however slowly the server trickles its answer (`Timeout.total`; default
            ``connect + 2 * read`` s).
        retry: the `RetryPolicy` for GETs (a generation POST is never resent once it may have
            reached the server).
        paths: `GROUPED` (default) or `FLAT`.
        user_agent_extra: appended to the User-Agent, e.g. ``"my-crm-sync/2.1"``.
        trust_env: let `requests` read proxy settings from the environment.
        session: a `requests.Session` to reuse.
        sleep / clock: injected for tests (polling and backoff waits).

    Example:
        >>> with UpscaleClient() as client:  # doctest: +SKIP
        ...     ticket = client.request_generation(request)
        ...     result = client.wait_for_completion(ticket.secure_request_id)
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: Timeout | float | tuple[float, float] | None = None,
        retry: RetryPolicy | None = None,
        paths: PathLayout = GROUPED,
        user_agent_extra: str | None = None,
        trust_env: bool = True,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        key = Secret(resolve_api_key(api_key, UPSCALE_API_KEY, service="Upscale Outreach"))
        self.base_url = resolve_base_url(base_url, UPSCALE_BASE_URL, DEFAULT_UPSCALE_BASE_URL)
        self.paths = paths
        digest = hashlib.sha256(key.reveal().encode()).hexdigest()[:16]  # identifies the key, reveals nothing
        self._account = f"{self.base_url.rstrip('/')}#{digest}"
        self._sleep = sleep
        self._clock = clock
        self.transport = Transport(
            base_url=self.base_url,
            auth=ApiKeyAuth(key),
            secrets=(key,),
            timeout=timeout,
            retry=retry,
            user_agent_extra=user_agent_extra,
            trust_env=trust_env,
            session=session,
            sleep=sleep,
        )

    @property
    def account(self) -> str:
        """Which account this client acts for: the base URL and a digest of the API key (never the key).

        Part of a submission's identity, so a re-run against another server or key is sent there.
        """
        return self._account

    def __repr__(self) -> str:
        return f"<UpscaleClient {self.base_url}>"

    def __enter__(self) -> UpscaleClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release pooled connections."""
        self.transport.close()

    def _decode(self, response: requests.Response, cls: type[T]) -> T:
        with decoding(response):
            return convert.structure(self.transport.decode(response), cls)

    def request_generation(self, request: GenerationRequest) -> GenerationTicket:
        """Submit leads for generation; returns the ticket with ``secure_request_id``.

        https://www.upscaleoutreach.com/api-docs/request-message-generation

        Raises `ValidationError` (before sending) for any broken rule. The POST is sent once: a
        timeout after sending raises `msgrelay.errors.TimeoutError` with ``may_have_reached_server``
        rather than risk paying twice.
        """
        validate_generation_request(request)
        response = self.transport.request(
            "POST", self.paths.request_generation, json=convert.unstructure(request)
        )
        ticket = self._decode(response, GenerationTicket)
        logger.info("generation requested: %s (%d leads)", ticket.secure_request_id, len(request.lead_data))
        return ticket

    def retrieve_messages(self, secure_request_id: str) -> RetrieveResult:
        """Fetch what has been generated so far: partial (202) or complete (200). Both are results.

        https://www.upscaleoutreach.com/api-docs/retrieve-messages
        """
        request_id = validate_secure_request_id(secure_request_id)
        response = self.transport.request(
            "GET",
            self.paths.retrieve_messages,
            params={"request_message_generation_secure_request_id": request_id},
        )
        with decoding(response):
            return convert.decode_retrieve(response.content, response.status_code)

    def wait_for_completion(
        self,
        secure_request_id: str,
        *,
        timeout: float = 600.0,
        on_progress: ProgressCallback | None = None,
        initial_interval: float = 2.0,
        max_interval: float = 30.0,
        backoff: float = 1.5,
    ) -> RetrieveResult:
        """Poll `retrieve_messages` with growing intervals until the batch is complete.

        Args:
            timeout: seconds to wait in all; then `WaitTimeoutError` (with the last partial result).
            on_progress: called after every poll with a `Progress`.
            initial_interval / max_interval / backoff: the first wait, the longest, the growth factor.
        """
        deadline = self._clock() + timeout
        interval = initial_interval
        while True:
            result = self.retrieve_messages(secure_request_id)
            progress = progress_of(result, secure_request_id)
            if on_progress is not None:
                on_progress(progress)
            if result.is_complete:
                return result
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise errors.WaitTimeoutError(
                    f"generation {secure_request_id} not complete after {timeout:g} s "
                    f"({progress.generated} of {progress.requested} messages)",
                    last=result,
                )
            self._sleep(min(interval, remaining))
            interval = min(interval * backoff, max_interval)

    def check_credits(self) -> Credits:
        """The account's monthly allowance, credits used and remaining.

        https://www.upscaleoutreach.com/api-docs/check-credits
        """
        return self._decode(self.transport.request("GET", self.paths.check_credits), Credits)

    def get_sequences(
        self,
        *,
        sequence_length: str | None = None,
        campaign_objective: str | None = None,
        cadence_profile: str | None = None,
        saturated_markets: bool | None = None,
    ) -> list[SequenceTemplate]:
        """Sequence templates. With no filter, all of them.

        Beware the vendor's rule: give any filter and the others take their defaults (``medium``,
        ``meeting``, ``normal``, ``false``), so ``sequence_length="short"`` alone is not "all short ones".

        https://www.upscaleoutreach.com/api-docs/get-sequences
        """
        params: dict[str, str] = {}
        if sequence_length is not None:
            params["sequence_length"] = sequence_length
        if campaign_objective is not None:
            params["campaign_objective"] = campaign_objective
        if cadence_profile is not None:
            params["cadence_profile"] = cadence_profile
        if saturated_markets is not None:
            params["saturated_markets"] = "true" if saturated_markets else "false"
        response = self.transport.request("GET", self.paths.get_sequences, params=params or None)
        with decoding(response):
            body: Any = self.transport.decode(response)
            # The shape is undocumented: accept a bare list or {"sequences": [...]}.
            items = body.get("sequences", body) if isinstance(body, dict) else body
            if not isinstance(items, list):
                raise errors.ValidationError(errors.Problem("sequences", "expected a list of sequences"))
            return [
                convert.structure(item, SequenceTemplate, root=f"sequences[{i}]")
                for i, item in enumerate(items)
            ]


@contextlib.contextmanager
def decoding(response: requests.Response) -> Iterator[None]:
    """Turn a body that breaks the contract into `ResponseDecodeError` (with its wire path)."""
    where = {"method": response.request.method or "GET", "url": redact_url(response.url)}
    try:
        yield
    except errors.ValidationError as exc:
        problem = exc.problems[0]
        raise errors.ResponseDecodeError(problem.message, path=problem.path, **where) from None
    except ValueError as exc:  # orjson / msgspec: not JSON at all
        raise errors.ResponseDecodeError(f"body is not JSON ({exc})", **where) from None


def progress_of(result: RetrieveResult, secure_request_id: str) -> Progress:
    """A `Progress` from a retrieve result's metadata (counting messages when counts are absent)."""
    meta = result.metadata
    requested = meta.requested_message_count
    generated = meta.generated_message_count
    if requested is None:
        requested = len(result.leads) * max(len(result.message_types), 1)
    if generated is None:
        generated = sum(1 for lead in result.leads for text in lead.messages.values() if text is not None)
    return Progress(
        secure_request_id=secure_request_id,
        generated=generated,
        requested=requested,
        complete=result.is_complete,
    )
