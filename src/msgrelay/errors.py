"""One exception tree for the whole package.

Branches follow what the caller does next::

    MsgrelayError
    ├── ConfigurationError          fix the setup (missing key, bad base URL); never retried
    ├── ValidationError             fix the input; raised before any request is sent
    │   └── SubmissionChangedError      a re-run differs from the submission it matches (``--force``)
    ├── ApiError                    the vendor answered with an error status
    │   ├── RedirectError           3xx: not followed (the key would go along); check the base URL
    │   ├── ClientError             4xx: resending the same request will not help
    │   │   ├── BadRequestError         400 / 422: the vendor rejected the input (`.paths`)
    │   │   ├── AuthenticationError     401
    │   │   ├── InsufficientCreditsError 402
    │   │   ├── PermissionDeniedError   403
    │   │   ├── NotFoundError           404
    │   │   └── ConflictError           409
    │   └── RetryableApiError       worth retrying later
    │       ├── RateLimitedError        429 (`.retry_after`)
    │       └── ServerError             5xx
    ├── TransportError              no usable HTTP answer: connection refused, reset, timed out
    │   └── TimeoutError
    ├── WaitTimeoutError            an asynchronous result did not complete in time (``.last``)
    ├── ResponseDecodeError         the vendor answered 2xx with a body we cannot read
    └── LedgerError                 the ledger (or the built-in store's file) cannot be used; nothing
        │                           accepted is lost: retry once the cause is fixed
        ├── LedgerBusyError             another process held the write lock past the busy timeout
        ├── LedgerFullError             the disk (or the database's size limit) is full
        ├── LedgerReadOnlyError         the file, its folder or the database refuses writes
        ├── LedgerCorruptError          not a database, or a malformed one: restore or move it aside
        └── LedgerUnavailableError      cannot be opened or reached (permissions, I/O, PostgreSQL down)

`ApiError` keeps the `requests.Response` as `.response`; its text never holds a credential, because
URLs are redacted before they reach an exception (see `msgrelay.transport.redact_url`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    import requests

__all__ = [
    "MAX_PROBLEMS",
    "PLUGIN_FAILURES",
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "ClientError",
    "ConfigurationError",
    "ConflictError",
    "InsufficientCreditsError",
    "LedgerBusyError",
    "LedgerCorruptError",
    "LedgerError",
    "LedgerFullError",
    "LedgerReadOnlyError",
    "LedgerUnavailableError",
    "MsgrelayError",
    "NotFoundError",
    "PermissionDeniedError",
    "Problem",
    "RateLimitedError",
    "RedirectError",
    "ResponseDecodeError",
    "RetryableApiError",
    "ServerError",
    "SubmissionChangedError",
    "TimeoutError",
    "TransportError",
    "ValidationError",
    "WaitTimeoutError",
    "first_problems",
]


class MsgrelayError(Exception):
    """Base of every error msgrelay raises on purpose."""


#: What a plugin's hook or destination may raise without stopping the relay: everything but
#: KeyboardInterrupt (a person's Ctrl+C). A plugin calling ``sys.exit()`` is a failed call, recorded and
#: retried like any other, not the end of ``serve``'s background relaying.
PLUGIN_FAILURES: tuple[type[BaseException], ...] = (Exception, SystemExit, GeneratorExit)


class ConfigurationError(MsgrelayError):
    """The client or host is set up wrongly: a missing API key, a malformed base URL, a bad option."""


#: How many problems an error lists (and a validator collects) before it says "and N more": a hostile
#: input of a million bad items must not cost a million objects, nor a page of text nobody reads.
MAX_PROBLEMS = 20


@attrs.frozen
class Problem:
    """One thing wrong with an input, named by its wire path (``lead_data[2].first_name``).

    Attributes:
        path: the wire path.
        message: what is wrong, and how to fix it where that is not obvious.
        where: where the input came from, when a file holds it (``leads.csv line 4``).
    """

    path: str
    message: str
    where: str = ""

    def __str__(self) -> str:
        place = f"{self.path} ({self.where})" if self.where else self.path
        return f"{place}: {self.message}" if place else self.message


def first_problems(problems: Iterable[Problem], limit: int = MAX_PROBLEMS) -> tuple[list[Problem], int]:
    """The first ``limit`` problems, and how many more there were (counted, not kept)."""
    iterator = iter(problems)
    kept = list(itertools.islice(iterator, limit))
    return kept, sum(1 for _ in iterator)


class ValidationError(MsgrelayError, ValueError):
    """The input breaks the vendor's documented rules. Raised before any request leaves the process.

    Every problem found is listed, not only the first, each with its wire path; past `MAX_PROBLEMS`
    the text says how many more there were.

    Args:
        problems: the problems (all of them, or the first ones found).
        subject: what was checked (``leads file``), for the first line.
        more: how many further problems were found but not kept.
    """

    def __init__(self, problems: list[Problem] | Problem, *, subject: str = "input", more: int = 0) -> None:
        self.problems: list[Problem] = [problems] if isinstance(problems, Problem) else list(problems)
        self.subject = subject
        self.more = more
        super().__init__(self._format())

    @property
    def paths(self) -> list[str]:
        """The wire paths of every problem, in the order found."""
        return [p.path for p in self.problems]

    def _format(self) -> str:
        count = len(self.problems) + self.more
        head = f"invalid {self.subject}: {count} problem{'s' if count != 1 else ''}"
        shown = self.problems[:MAX_PROBLEMS]
        hidden = count - len(shown)
        tail = f"\n  - and {hidden} more" if hidden else ""
        return head + "".join(f"\n  - {p}" for p in shown) + tail


class SubmissionChangedError(ValidationError):
    """A generation request matches one sent before (same account, customer, campaign, lead ids and
    message types) but other fields differ: nothing was sent, rather than hand back the old batch.

    Attributes:
        secure_request_id: the id of the submission sent before.
        submitted_at: when it was recorded, ``YYYY-MM-DD HH:MM:SS UTC``.
        problems: one per differing field, by wire path (``automation_tool_campaign_name``,
            ``lead_data[3].first_name``); `paths` lists them.
        force_switch: how the caller's face sends anyway, named in the message (the CLI's ``--force``
            by default; the steps say their ``force`` input).
    """

    def __init__(
        self,
        problems: list[Problem],
        *,
        secure_request_id: str,
        submitted_at: str,
        more: int = 0,
        force_switch: str = "--force (force=True in Python)",
    ) -> None:
        self.secure_request_id = secure_request_id
        self.submitted_at = submitted_at
        self.force_switch = force_switch
        super().__init__(problems, subject="generation request", more=more)

    def _format(self) -> str:
        fields = ", ".join(self.paths) + (f" and {self.more} more" if self.more else "")
        return (
            f"this generation request matches submission {self.secure_request_id} sent {self.submitted_at} "
            f"(same account, customer, campaign, lead ids and message types) but differs in {fields}; "
            f"nothing was sent. Rerun with {self.force_switch} to send a new batch; "
            "Upscale de-duplicates by lead id (external_prospect_id) and message type, "
            "so new messages need new lead ids"
        )


class ApiError(MsgrelayError):
    """The vendor answered with an error status.

    Attributes:
        status: the HTTP status code.
        method: the HTTP method of the request.
        url: the request URL, with every credential redacted.
        vendor_message: the vendor's own words (``{"error": "..."}``), or the raw body text.
        response: the `requests.Response`, for anything else.
    """

    def __init__(
        self,
        *,
        status: int,
        method: str,
        url: str,
        vendor_message: str,
        response: requests.Response | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.url = url
        self.vendor_message = vendor_message
        self.response = response
        detail = f": {vendor_message}" if vendor_message else ""
        super().__init__(f"{status} {self.reason} from {method} {url}{detail}")

    reason = "error"


class RedirectError(ApiError):
    """3xx: the API pointed elsewhere. Not followed, since the key would go along: check the base URL."""

    reason = "unexpected redirect"


class ClientError(ApiError):
    """A 4xx answer: the same request will fail again."""

    reason = "client error"


class BadRequestError(ClientError):
    """The vendor rejected the input (400 or 422).

    Upscale joins several problems into one string (``lead_data[0].first_name is required ...``);
    `paths` lists the ``lead_data[i].field`` paths found in it, so a caller can flag those leads.
    """

    reason = "rejected"

    @property
    def paths(self) -> list[str]:
        """Wire paths named in the vendor's message, such as ``lead_data[3].linkedin``, in order."""
        found: list[str] = []
        for match in re.finditer(r"[a-z_]+\[\d+\]\.[A-Za-z_]+|\b[a-z]+(?:_[a-z]+)+\b", self.vendor_message):
            path = match.group(0)
            if path not in found:
                found.append(path)
        return found


class AuthenticationError(ClientError):
    """401: the API key is missing, wrong or revoked."""

    reason = "unauthorized"


class InsufficientCreditsError(ClientError):
    """402: the account has too few credits for the whole request; nothing was generated."""

    reason = "insufficient credits"


class PermissionDeniedError(ClientError):
    """403: the key may not see this object."""

    reason = "forbidden"


class NotFoundError(ClientError):
    """404: no such object, or not visible with this key."""

    reason = "not found"


class ConflictError(ClientError):
    """409: the request conflicts with the object's current state."""

    reason = "conflict"


class RetryableApiError(ApiError):
    """An answer that may succeed later (429, 5xx). Raised once the client's retries are spent."""

    reason = "retryable error"


class RateLimitedError(RetryableApiError):
    """429: too many requests. `retry_after` holds the server's wait in seconds, when it sent one."""

    reason = "rate limited"
    retry_after: float | None = None


class ServerError(RetryableApiError):
    """5xx: the vendor failed or is down for maintenance."""

    reason = "server error"


class TransportError(MsgrelayError):
    """No usable HTTP answer: DNS, connection refused or reset, TLS, or a timeout.

    `may_have_reached_server` tells whether the request may have been processed (important for POST).
    """

    def __init__(self, message: str, *, method: str, url: str, may_have_reached_server: bool) -> None:
        self.method = method
        self.url = url
        self.may_have_reached_server = may_have_reached_server
        super().__init__(f"{message} ({method} {url})")


class TimeoutError(TransportError):
    """The connect or read timeout elapsed."""


class WaitTimeoutError(MsgrelayError):
    """Waiting for an asynchronous result took longer than allowed. ``last`` is the latest partial result."""

    def __init__(self, message: str, *, last: Any = None) -> None:
        self.last = last
        super().__init__(message)


class ResponseDecodeError(MsgrelayError):
    """A 2xx answer whose body is not the JSON shape the contract describes.

    `path` names where in the body the problem is (``campaign.leads_data[12].external_prospect_id``).
    """

    def __init__(self, message: str, *, method: str, url: str, path: str = "") -> None:
        self.method = method
        self.url = url
        self.path = path
        where = f" at {path}" if path else ""
        super().__init__(f"cannot decode response of {method} {url}{where}: {message}")


class LedgerError(MsgrelayError):
    """The ledger, or another database file msgrelay keeps (the built-in store), cannot be used.

    The message is one line: what is wrong, with the file (or the PostgreSQL DSN without its password),
    and how to fix it. Nothing accepted is lost: a write that failed was not committed, so the receiver
    answers 503 and the vendor retries, and a command can simply be run again once the cause is fixed.

    Attributes:
        where: the file, or the DSN without its password.
    """

    def __init__(self, message: str, *, where: str) -> None:
        self.where = where
        super().__init__(message)


class LedgerBusyError(LedgerError):
    """Another process held the write lock for longer than the busy timeout."""


class LedgerFullError(LedgerError):
    """The disk is full (or the database reached its size limit): nothing more can be written."""


class LedgerReadOnlyError(LedgerError):
    """The file, its folder or the database refuses writes (permissions, a read-only mount)."""


class LedgerCorruptError(LedgerError):
    """The file is not a database, or a malformed one: restore a backup or move it aside."""


class LedgerUnavailableError(LedgerError):
    """The ledger cannot be opened or reached: a missing folder, permissions, an I/O error, a
    PostgreSQL server that is down or refuses the credentials."""
