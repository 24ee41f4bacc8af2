"""Error responses → exceptions: the status table and OperationOutcome parsing.

:data:`STATUS_ERRORS` is the one status → exception table. :func:`error_for_response`
builds the exception for an error response. Its message is one line: the status, the
issue severities and codes with their expressions and a short, scrubbed excerpt of the
server's text (:mod:`.redact`: no credentials, no value the request carried, no quoted
text or long digit runs), then the request as ``METHOD origin/path-template``. A body
that is not an ``OperationOutcome`` (HTML, plain text) is summarised by its media type
and size, never quoted. The server's ``OperationOutcome`` itself is kept, unchanged, on
``ServerError.outcome``; ``issues`` hold its issues scrubbed.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from iopfhir.errors import (
    MAX_CLIENT_MESSAGE,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    Issue,
    MethodNotAllowed,
    NotFound,
    PreconditionFailed,
    ServerError,
    ServerUnavailable,
    TooManyRequests,
    Unauthorized,
    UnprocessableEntity,
    one_line,
    request_label,
)

from .redact import scrub_issues
from .transport import Request, Response

__all__ = [
    "STATUS_ERRORS",
    "error_for_response",
    "error_type_for_status",
    "issues_from_body",
    "outcome_of",
    "parse_retry_after",
    "server_issues",
]

#: HTTP status → the exception raised for it. Other 4xx raise plain ``ServerError``;
#: every 5xx raises ``ServerUnavailable`` (with the real ``status``).
STATUS_ERRORS: dict[int, type[ServerError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    410: Gone,
    412: PreconditionFailed,
    422: UnprocessableEntity,
    429: TooManyRequests,
}

_MAX_ISSUES_SHOWN = 3
# An error body larger than this is not parsed for an OperationOutcome (summarised only).
_MAX_OUTCOME_BYTES = 1024 * 1024
_MEDIA_TYPE = re.compile(r"[a-z0-9.+-]{1,40}/[a-z0-9.+-]{1,60}")


def error_type_for_status(status: int) -> type[ServerError]:
    """The exception class for an error status (``>= 400``)."""
    if status in STATUS_ERRORS:
        return STATUS_ERRORS[status]
    if status >= 500:
        return ServerUnavailable
    return ServerError


def outcome_of(body: bytes) -> dict[str, Any] | None:
    """The ``OperationOutcome`` in an error body, as sent; ``None`` for anything else."""
    if not body or len(body) > _MAX_OUTCOME_BYTES:
        return None
    try:
        data = orjson.loads(body)
    except (orjson.JSONDecodeError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("resourceType") != "OperationOutcome":
        return None
    return data


def server_issues(outcome: dict[str, Any] | None, request: Request | None) -> list[Issue]:
    """The issues of a server's ``OperationOutcome``, scrubbed of credentials and of the
    values ``request`` carried: fit for a message, a log or a report."""
    raw = outcome.get("issue") if isinstance(outcome, dict) else None
    if not isinstance(raw, list):
        return []
    read = [Issue.from_fhir(element) for element in raw if isinstance(element, dict)]
    return scrub_issues(read, request)


def issues_from_body(body: bytes, request: Request | None = None) -> list[Issue]:
    """The scrubbed issues of an ``OperationOutcome`` body; ``[]`` for anything else."""
    return server_issues(outcome_of(body), request)


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date).

    ``now`` is the current wall-clock time (epoch seconds), injected so tests need no
    real clock. Returns ``None`` for a missing or unreadable value, ``0.0`` for a date
    in the past.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - datetime.fromtimestamp(now, UTC).timestamp())


def _summary(issues: list[Issue], budget: int) -> str:
    # The count of issues not shown survives any shortening: it is appended last.
    more = len(issues) - _MAX_ISSUES_SHOWN
    tail = f" (+{more} more)" if more > 0 else ""
    each = max(40, (budget - len(tail)) // min(len(issues), _MAX_ISSUES_SHOWN))
    shown = "; ".join(one_line(str(i), each) for i in issues[:_MAX_ISSUES_SHOWN])
    return one_line(shown, max(40, budget - len(tail))) + tail


def _body_summary(response: Response) -> str:
    if not response.body:
        return ""
    ctype = response.content_type
    kind = ctype if ctype and _MEDIA_TYPE.fullmatch(ctype) else "unknown type"
    return f"{kind} body, {len(response.body)} bytes, not shown"


def error_for_response(
    request: Request, response: Response, *, now: Callable[[], float] | None = None
) -> ServerError:
    """The exception for an error response to ``request`` (see the module docstring)."""
    cls = error_type_for_status(response.status)
    outcome = outcome_of(response.body)
    issues = server_issues(outcome, request)
    message = f"HTTP {response.status}"
    # What is left of the message's length once the status and the request are named.
    budget = MAX_CLIENT_MESSAGE - len(message) - len(request_label(request.method, request.url)) - 5
    detail = _summary(issues, budget) if issues else "" if outcome else _body_summary(response)
    if detail:
        message += f": {detail}"
    retry_after = None
    if response.status in (429, 503):
        import time

        retry_after = parse_retry_after(
            response.headers.get("Retry-After"), now=(now or time.time)()
        )
    return cls(
        message,
        status=response.status,
        method=request.method,
        url=request.url,
        issues=issues,
        retry_after=retry_after,
        outcome=outcome,
    )
