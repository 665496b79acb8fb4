"""The Collect half of the sandbox (being built: see issue 4)."""

from __future__ import annotations

import base64
import hmac

from msgrelay.sandbox._router import HttpError, Request, Response, Router


class CollectSandbox:
    """Emulates the Collect API under the sandbox's ``/collect/v1`` prefix."""

    def __init__(self, *, api_key: str) -> None:
        self.api_key = api_key
        self.router = Router()

    def _authenticate(self, request: Request) -> None:
        expected = "Basic " + base64.b64encode(f":{self.api_key}".encode()).decode()
        given = request.header("authorization") or ""
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise HttpError(401, {"error": "Unauthorized -- Your API key is wrong."})

    def dispatch(self, request: Request) -> Response:
        try:
            self._authenticate(request)
        except HttpError as exc:
            return exc.response()
        return self.router.dispatch(request)
