"""An optional transport on ``httpx`` (install ``iopfhir[httpx]``).

Registered as the ``httpx`` plugin of the ``iopfhir.transports`` entry-point group, so
``FhirClient(base, transport="httpx")`` finds it. Same contract as the default transport:
pooled connections, explicit timeouts, TLS verification on unless explicitly turned off
(with a logged warning), no redirects, a bounded streaming read; every ``httpx``
exception is mapped to :mod:`iopfhir.errors` here.
"""

from __future__ import annotations

import httpx

from iopfhir.client.security import check_tls_verification
from iopfhir.client.transport import (
    DEFAULT_MAX_RESPONSE_BYTES,
    Headers,
    Request,
    Response,
    Timeout,
    read_bounded,
)
from iopfhir.errors import (
    ConnectTimeout,
    ReadTimeout,
    TransportError,
)

__all__ = ["HttpxTransport"]


class HttpxTransport:
    """A :class:`~iopfhir.client.transport.Transport` on a pooled ``httpx.Client``."""

    def __init__(
        self,
        *,
        verify: bool | str = True,
        allow_unverified_tls: bool = False,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        http2: bool = False,
        client: httpx.Client | None = None,
    ) -> None:
        check_tls_verification(verify, allow_unverified_tls=allow_unverified_tls)
        self.max_response_bytes = max_response_bytes
        self._client = client or httpx.Client(
            verify=verify, follow_redirects=False, http2=http2, trust_env=True
        )

    def handle(self, request: Request, *, timeout: Timeout) -> Response:
        """Send one request; no redirects, no retries; the body is read under the bound."""
        limit = self.max_response_bytes
        try:
            with self._client.stream(
                request.method,
                request.url,
                headers=list(request.headers.items()),
                content=request.body or None,
                timeout=httpx.Timeout(timeout.read, connect=timeout.connect),
            ) as raw:
                body = read_bounded(
                    raw.iter_bytes(), raw.headers.get("Content-Length"), limit, request
                )
                return Response(
                    raw.status_code,
                    Headers(raw.headers.multi_items()),
                    body,
                    request.url,
                )
        except httpx.ConnectTimeout as exc:
            raise ConnectTimeout(
                "connection timed out", method=request.method, url=request.url
            ) from exc
        except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout) as exc:
            raise ReadTimeout(
                "server did not answer in time", method=request.method, url=request.url
            ) from exc
        except httpx.ConnectError as exc:
            raise TransportError(
                f"connection failed ({type(exc).__name__})", method=request.method, url=request.url
            ) from exc
        except httpx.HTTPError as exc:
            raise TransportError(
                f"connection broken ({type(exc).__name__})", method=request.method, url=request.url
            ) from exc

    def close(self) -> None:
        """Close the underlying ``httpx.Client``."""
        self._client.close()
