"""The client side of HTTP: one session with timeouts and retries, the mapping of answers and failures
to msgrelay errors, redaction, and the retry rule.

Public for destination plugins: build a `Transport`, or make your own `requests` calls on a session
given `enforce_deadlines` with ``timeout=Timeout(...).for_requests()`` (so each ends at its total
deadline) and map them with `error_for_response` / `map_request_exception`; redact with `redact_url` /
`redact_text`, and classify a failure with `is_permanent` / `server_wait`, the rule the relay itself applies.
"""

__all__ = [
    "DEFAULT_TIMEOUT",
    "NO_RETRIES",
    "REDACTED",
    "DeadlineExceeded",
    "RetryPolicy",
    "Secret",
    "Timeout",
    "Transport",
    "default_deadline",
    "enforce_deadlines",
    "error_for_response",
    "is_permanent",
    "jittered_backoff",
    "map_request_exception",
    "parse_retry_after",
    "redact_text",
    "redact_url",
    "resolve_api_key",
    "resolve_base_url",
    "server_wait",
    "user_agent",
    "vendor_message",
]

from msgrelay.transport.deadline import DeadlineExceeded, enforce_deadlines
from msgrelay.transport.endpoint import resolve_api_key, resolve_base_url
from msgrelay.transport.mapping import error_for_response, map_request_exception, vendor_message
from msgrelay.transport.redact import REDACTED, Secret, redact_text, redact_url
from msgrelay.transport.retry import (
    NO_RETRIES,
    RetryPolicy,
    is_permanent,
    jittered_backoff,
    parse_retry_after,
    server_wait,
)
from msgrelay.transport.session import DEFAULT_TIMEOUT, Timeout, Transport, default_deadline, user_agent
