"""What ``FhirClient`` and ``AsyncFhirClient`` hold alike: their settings and their URLs.

:class:`ClientBase` checks the base URL and keeps the settings the send flow reads on
every request (:class:`~._flow.Settings`: auth, retry, timeout, size bound, redirects,
plain HTTP) and the headers sent with every request; it builds and resolves URLs on the
server's origin. Each client adds its own transport, sleep and calls on top.

Imports the client's lower modules only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from . import _calls as calls
from ._syntax import Criteria
from .auth import Auth, NoAuth
from .retry import Retry
from .security import check_base_url
from .transport import DEFAULT_TOTAL_TIMEOUT, Headers, Timeout

__all__ = ["ClientBase", "as_timeout"]


def as_timeout(timeout: Timeout | float | None) -> Timeout:
    """A :class:`Timeout` from what a client is given (``None``: the defaults)."""
    if timeout is None:
        return Timeout()
    if isinstance(timeout, Timeout):
        return timeout
    # One number bounds each wait; the whole exchange keeps the default overall deadline
    # unless that number is longer.
    return Timeout(timeout, timeout, max(DEFAULT_TOTAL_TIMEOUT, timeout))


class ClientBase:
    """The settings and URLs of a client bound to one server base URL."""

    def _configure(
        self,
        base_url: str,
        *,
        auth: Auth | None,
        retry: Retry | None,
        timeout: Timeout | float | None,
        max_response_bytes: int,
        allow_insecure_http: bool,
        max_redirects: int,
        headers: Mapping[str, str] | None,
        clock: Callable[[], float],
    ) -> None:
        self.base_url = check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        self.allow_insecure_http = allow_insecure_http
        self.timeout = as_timeout(timeout)
        self.max_response_bytes = max_response_bytes
        self.auth: Auth = auth if auth is not None else NoAuth()
        self.retry = retry if retry is not None else Retry()
        self.max_redirects = max_redirects
        self._extra_headers = Headers(headers or {})
        self._clock = clock

    @property
    def extra_headers(self) -> Headers:
        """The headers given to the client, sent with every request."""
        return self._extra_headers

    def url(self, *segments: str, params: Criteria | list[tuple[str, str]] | None = None) -> str:
        """``base/seg1/seg2?params``; segments are not re-encoded (validate them first)."""
        return calls.join_url(self.base_url, segments, params)

    def resolve(self, url_or_path: str) -> str:
        """An absolute URL for ``url_or_path``, refusing one on another origin.

        Relative references (``Patient/1/_history/2``, a ``Location`` header) resolve
        against the base URL.
        """
        return calls.resolve_url(self.base_url, url_or_path)
