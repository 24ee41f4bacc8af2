"""The retry policy as an immutable value, in the manner of urllib3's ``Retry``.

:class:`Retry` answers two questions and does no I/O and no sleeping:

* *may this request be repeated?* (:meth:`Retry.is_retry_safe`) — only requests whose
  repetition cannot create a second resource or apply a change twice: GET/HEAD/OPTIONS,
  PUT, POST ``[type]/_search``, POSTs of read-only operations such as ``$validate``, a
  conditional create (POST with ``If-None-Exist``), and a transaction/batch Bundle
  POSTed to the base whose every entry is itself safe (GET/HEAD, PUT or a conditional
  create). A plain POST create is never retried.
* *how long to wait before attempt N?* (:meth:`Retry.backoff`) — exponential backoff,
  capped, with jitter from an injectable ``random``; ``Retry-After`` (seconds or
  HTTP-date) wins when the server sends it.

:meth:`Retry.increment` returns a new policy with one more history entry, and raises
:class:`~iopfhir.errors.RetryExhausted` when the retry budget is spent. The total time
bound (``deadline``) is checked by the caller, who owns the clock
(:meth:`Retry.within_deadline`).
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import orjson

from iopfhir.errors import ClientError, ResponseTooLarge, RetryExhausted, TransportError

from .transport import Request

__all__ = [
    "DEFAULT_RETRY_STATUSES",
    "IDEMPOTENT_METHODS",
    "SAFE_OPERATIONS",
    "Retry",
    "RetryEvent",
]

#: Methods whose repetition has the same effect as one request (RFC 9110 §9.2.2),
#: minus DELETE: a FHIR conditional delete may match a different resource the second time.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT"})

#: Statuses that mean "try again later" and are worth retrying.
DEFAULT_RETRY_STATUSES = frozenset({429, 502, 503, 504})

#: Operations that only read, so a POST invoking them may be repeated.
SAFE_OPERATIONS = frozenset(
    {
        "$validate",
        "$everything",
        "$expand",
        "$lookup",
        "$validate-code",
        "$translate",
        "$subsumes",
        "$meta",
        "$summary",
        "$lastn",
        "$stats",
    }
)


@dataclass(frozen=True, slots=True)
class RetryEvent:
    """One failed attempt: the method, the path (no query) and what went wrong."""

    method: str
    path: str
    status: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    """How many times, after which failures, and how long to wait between attempts.

    ``total`` retries at most (so ``total + 1`` attempts); ``deadline`` bounds the time
    from the first attempt to the start of the last one (``None``: no bound).
    Delay before retry *n* (1-based) is ``min(backoff_max, backoff_factor * 2**(n-1))``
    scaled by ``1 - jitter * random()``; a ``Retry-After`` hint replaces it (up to
    ``max_retry_after``; a longer hint gives up rather than wait).
    """

    total: int = 3
    backoff_factor: float = 0.5
    backoff_max: float = 30.0
    jitter: float = 0.5
    deadline: float | None = 120.0
    max_retry_after: float = 120.0
    retry_statuses: frozenset[int] = DEFAULT_RETRY_STATUSES
    retry_connection_errors: bool = True
    respect_retry_after: bool = True
    idempotent_methods: frozenset[str] = IDEMPOTENT_METHODS
    history: tuple[RetryEvent, ...] = ()
    random: Callable[[], float] = field(default=_random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.total < 0 or self.backoff_factor < 0 or self.backoff_max < 0:
            raise ValueError("retry counts and delays must not be negative")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter is a fraction between 0 and 1")

    @classmethod
    def disabled(cls) -> Retry:
        """A policy that never retries."""
        return cls(total=0)

    # -- what may be retried -------------------------------------------------------

    def is_retry_safe(self, request: Request) -> bool:
        """True when sending ``request`` twice cannot do more than sending it once."""
        method = request.method
        if method in self.idempotent_methods:
            return True
        if method != "POST":
            return False
        if "If-None-Exist" in request.headers:
            return True
        segments = [s for s in urlsplit(request.url).path.split("/") if s]
        last = segments[-1] if segments else ""
        if last == "_search" or last in SAFE_OPERATIONS:
            return True
        return self._is_safe_bundle(request.body)

    def _is_safe_bundle(self, body: bytes) -> bool:
        if not body:
            return False
        try:
            bundle: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            return False
        if bundle.get("type") not in ("transaction", "batch"):
            return False
        entries = bundle.get("entry") or []
        if not isinstance(entries, list):
            return False
        for entry in entries:
            req = entry.get("request") if isinstance(entry, dict) else None
            if not isinstance(req, dict):
                return False
            method = str(req.get("method", "")).upper()
            if method in ("GET", "HEAD", "PUT"):
                continue
            if method == "POST" and req.get("ifNoneExist"):
                continue
            return False
        return True

    def is_retryable_status(self, status: int) -> bool:
        """True for statuses that mean "later" (429, 502, 503, 504 by default)."""
        return status in self.retry_statuses

    def is_retryable_error(self, error: ClientError) -> bool:
        """True for connection-level failures (not for an oversized body)."""
        if isinstance(error, ResponseTooLarge):
            return False
        return self.retry_connection_errors and isinstance(error, TransportError)

    # -- stepping ------------------------------------------------------------------

    @property
    def attempts_left(self) -> int:
        """Retries still allowed."""
        return self.total - len(self.history)

    def increment(self, request: Request, error: ClientError) -> Retry:
        """The policy after one more failed attempt; raises ``RetryExhausted`` when spent."""
        status = getattr(error, "status", None)
        event = RetryEvent(request.method, request.path, status, type(error).__name__)
        if self.attempts_left <= 0:
            raise RetryExhausted(
                f"gave up after {len(self.history) + 1} attempts, last: {error.reason}",
                last=error,
            ) from error
        return replace(self, history=(*self.history, event))

    def backoff(self) -> float:
        """Delay before the next retry, from the number of retries taken so far."""
        n = len(self.history)
        if n == 0:
            return 0.0
        base = min(self.backoff_max, self.backoff_factor * (2 ** (n - 1)))
        return float(base * (1.0 - self.jitter * self.random()))

    def delay(self, retry_after: float | None) -> float | None:
        """Seconds to sleep before the next retry; ``None`` when the hint is too long."""
        if retry_after is not None and self.respect_retry_after:
            if retry_after > self.max_retry_after:
                return None
            return retry_after
        return self.backoff()

    def within_deadline(self, elapsed: float, delay: float) -> bool:
        """True when waiting ``delay`` more after ``elapsed`` seconds stays inside ``deadline``."""
        return self.deadline is None or elapsed + delay <= self.deadline
