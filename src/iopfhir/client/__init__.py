"""The FHIR HTTP client layer: transports, auth flows, retry policy, errors, search.

Layout (imports point down the list; only :mod:`iopfhir.errors` from outside)::

    transport.py           Request / Response / Timeout / Headers and the Transport protocol
    requests_transport.py  the default transport (requests, pooled, bounded, no redirects)
    memory.py              in-memory transports for tests
    auth.py                auth-flow protocol (Pending: wait for another flow's token); NoAuth,
                           BearerAuth, BasicAuth
    smart.py               SMART Backend Services (client_credentials + private_key_jwt)
    retry.py               the retry policy value (what is safe to repeat, backoff)
    redact.py              server text scrubbed of credentials and of what the request carried
    outcome.py             status → exception table, OperationOutcome → issues, Retry-After
    security.py            URL rules: https or loopback, same-origin credentials
    _syntax.py             FHIR REST syntax: type/id checks, criteria, ETags, Location
    _responses.py          response bodies → resources; WriteResult
    _paging.py             next links, followed on the server's origin only
    _flow.py               the one send loop as a sans-IO flow: retry → auth → redirects;
                           run blocking (run_flow) or awaited (arun_flow)
    _sending.py            the blocking send and the FHIR JSON request
    _calls.py              every interaction as a sans-IO call: request + reading the answer
    search.py              the immutable search builder (sees the client as a protocol)
    client.py              FhirClient: every interaction, a thin composition of the above
    aio/                   AsyncFhirClient, AsyncSearch, async transports: the same calls
                           and flow, awaited

Nothing here imports the domain, mapping, validation, sync or CLI packages.
"""

from ._paging import next_link
from ._responses import WriteResult
from ._syntax import FHIR_JSON, Resource, parse_location
from .aio import (
    AsyncFhirClient,
    AsyncMemoryTransport,
    AsyncSearch,
    AsyncStreamingTransport,
    AsyncTransport,
)
from .auth import Auth, AuthFlow, BasicAuth, BearerAuth, NoAuth, Pending
from .client import FhirClient
from .memory import MemoryTransport, json_response
from .outcome import (
    STATUS_ERRORS,
    error_for_response,
    error_type_for_status,
    parse_retry_after,
    server_issues,
)
from .redact import request_values, scrub
from .requests_transport import RequestsTransport
from .retry import DEFAULT_RETRY_STATUSES, IDEMPOTENT_METHODS, Retry, RetryEvent
from .search import Search
from .security import check_tls_verification, check_url, is_loopback_host, same_origin
from .smart import SmartBackendAuth, Token
from .transport import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TOTAL_TIMEOUT,
    BodySink,
    BodyWriter,
    Deadline,
    Headers,
    Request,
    Response,
    StreamingTransport,
    Timeout,
    Transport,
    origin_of,
)

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_RETRY_STATUSES",
    "DEFAULT_TOTAL_TIMEOUT",
    "FHIR_JSON",
    "IDEMPOTENT_METHODS",
    "STATUS_ERRORS",
    "AsyncFhirClient",
    "AsyncMemoryTransport",
    "AsyncSearch",
    "AsyncStreamingTransport",
    "AsyncTransport",
    "Auth",
    "AuthFlow",
    "BasicAuth",
    "BearerAuth",
    "BodySink",
    "BodyWriter",
    "Deadline",
    "FhirClient",
    "Headers",
    "MemoryTransport",
    "NoAuth",
    "Pending",
    "Request",
    "RequestsTransport",
    "Resource",
    "Response",
    "Retry",
    "RetryEvent",
    "Search",
    "SmartBackendAuth",
    "StreamingTransport",
    "Timeout",
    "Token",
    "Transport",
    "WriteResult",
    "check_tls_verification",
    "check_url",
    "error_for_response",
    "error_type_for_status",
    "is_loopback_host",
    "json_response",
    "next_link",
    "origin_of",
    "parse_location",
    "parse_retry_after",
    "request_values",
    "same_origin",
    "scrub",
    "server_issues",
]
