"""Error responses → exceptions: the status table and OperationOutcome parsing.

:data:`STATUS_ERRORS` is the one status → exception table. :func:`error_for_response`
builds the exception for an error response, with the server's ``OperationOutcome``
issues (severity, code, diagnostics, expression) in ``issues`` and shown in the message.
Diagnostics are server text and are shown (shortened); request bodies, query strings and
credentials never are: the URL in the message is cut at ``?`` by ``ClientError``.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from iopfhir.errors import (
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
)

from .transport import Request, Response

__all__ = [
    "STATUS_ERRORS",
    "error_for_response",
    "error_type_for_status",
    "issues_from_body",
    "parse_retry_after",
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

_MAX_DIAGNOSTICS = 300
_MAX_ISSUES_SHOWN = 3


def error_type_for_status(status: int) -> type[ServerError]:
    """The exception class for an error status (``>= 400``)."""
    if status in STATUS_ERRORS:
        return STATUS_ERRORS[status]
    if status >= 500:
        return ServerUnavailable
    return ServerError


def issues_from_body(body: bytes) -> list[Issue]:
    """The issues of an ``OperationOutcome`` body; ``[]`` for anything else."""
    if not body:
        return []
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return []
    if not isinstance(data, dict) or data.get("resourceType") != "OperationOutcome":
        return []
    raw = data.get("issue")
    if not isinstance(raw, list):
        return []
    out: list[Issue] = []
    for element in raw:
        if isinstance(element, dict):
            issue = Issue.from_fhir(element)
            if len(issue.message) > _MAX_DIAGNOSTICS:
                issue = Issue(
                    issue.severity,
                    issue.code,
                    issue.message[:_MAX_DIAGNOSTICS] + "…",
                    issue.path,
                    issue.source,
                )
            out.append(issue)
    return out


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


def error_for_response(
    request: Request, response: Response, *, now: Callable[[], float] | None = None
) -> ServerError:
    """The exception for an error response to ``request``."""
    cls = error_type_for_status(response.status)
    issues = issues_from_body(response.body)
    message = f"HTTP {response.status}"
    if issues:
        shown = "; ".join(str(i) for i in issues[:_MAX_ISSUES_SHOWN])
        more = len(issues) - _MAX_ISSUES_SHOWN
        message += f": {shown}" + (f" (+{more} more)" if more > 0 else "")
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
    )


def outcome_issues(resource: dict[str, Any]) -> list[Issue]:
    """The issues of an ``OperationOutcome`` already parsed to a dict."""
    raw = resource.get("issue")
    if resource.get("resourceType") != "OperationOutcome" or not isinstance(raw, list):
        return []
    return [Issue.from_fhir(e) for e in raw if isinstance(e, dict)]
