"""The retry policy value: which requests are safe to repeat, backoff, budget, Retry-After."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from email.utils import format_datetime

import orjson
import pytest

from iopfhir.client import Retry, parse_retry_after
from iopfhir.errors import (
    ConnectTimeout,
    ReadTimeout,
    ResponseTooLarge,
    RetryExhausted,
    ServerUnavailable,
    TransportError,
)

from .support import BASE, req


def bundle(kind: str, *entries: dict[str, object]) -> bytes:
    return orjson.dumps(
        {"resourceType": "Bundle", "type": kind, "entry": [{"request": e} for e in entries]}
    )


GET = {"method": "GET", "url": "Patient?identifier=a|1"}
PUT = {"method": "PUT", "url": "Patient/1"}
COND_CREATE = {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=a|1"}
CREATE = {"method": "POST", "url": "Patient"}
DELETE = {"method": "DELETE", "url": "Patient/1"}
PATCH = {"method": "PATCH", "url": "Patient/1"}

SAFETY = [
    ("GET read", req("GET", f"{BASE}/Patient/1"), True),
    ("HEAD", req("HEAD", f"{BASE}/Patient/1"), True),
    ("GET search", req("GET", f"{BASE}/Patient?name=x"), True),
    ("PUT update", req("PUT", f"{BASE}/Patient/1", b"{}"), True),
    ("PUT conditional update", req("PUT", f"{BASE}/Patient?identifier=a|1", b"{}"), True),
    ("POST plain create", req("POST", f"{BASE}/Patient", b"{}"), False),
    ("POST conditional create", req("POST", f"{BASE}/Patient", b"{}", If_None_Exist="x=1"), True),
    ("POST _search", req("POST", f"{BASE}/Patient/_search", b"name=x"), True),
    ("POST $validate", req("POST", f"{BASE}/Patient/$validate", b"{}"), True),
    ("POST $everything", req("POST", f"{BASE}/Patient/1/$everything", b""), True),
    ("POST other operation", req("POST", f"{BASE}/Patient/$merge", b"{}"), False),
    ("DELETE", req("DELETE", f"{BASE}/Patient/1"), False),
    ("PATCH", req("PATCH", f"{BASE}/Patient/1", b"[]"), False),
    (
        "transaction of GET/PUT/cond create",
        req("POST", BASE, bundle("transaction", GET, PUT, COND_CREATE)),
        True,
    ),
    ("batch of GET/PUT", req("POST", BASE, bundle("batch", GET, PUT)), True),
    (
        "transaction with a plain create",
        req("POST", BASE, bundle("transaction", PUT, CREATE)),
        False,
    ),
    ("transaction with a delete", req("POST", BASE, bundle("transaction", PUT, DELETE)), False),
    ("transaction with a patch", req("POST", BASE, bundle("transaction", PATCH)), False),
    (
        "transaction entry without request",
        req(
            "POST",
            BASE,
            orjson.dumps(
                {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": {}}]}
            ),
        ),
        False,
    ),
    ("message bundle", req("POST", BASE, bundle("message", GET)), False),
    ("POST to base, not JSON", req("POST", BASE, b"<Bundle/>"), False),
    ("POST to base, empty", req("POST", BASE, b""), False),
]


@pytest.mark.parametrize(
    ("request_", "safe"), [(r, s) for _, r, s in SAFETY], ids=[name for name, _, _ in SAFETY]
)
def test_retry_safety_table(request_, safe):
    assert Retry().is_retry_safe(request_) is safe


def test_delete_becomes_safe_when_the_policy_says_so():
    policy = Retry(idempotent_methods=frozenset({"GET", "HEAD", "PUT", "DELETE"}))
    assert policy.is_retry_safe(req("DELETE", f"{BASE}/Patient/1"))
    assert not Retry().is_retry_safe(req("DELETE", f"{BASE}/Patient/1"))


@pytest.mark.parametrize(
    ("status", "retried"),
    [
        (429, True),
        (502, True),
        (503, True),
        (504, True),
        (500, False),
        (501, False),
        (400, False),
        (404, False),
        (409, False),
        (412, False),
    ],
)
def test_retryable_statuses(status, retried):
    assert Retry().is_retryable_status(status) is retried


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (TransportError("reset"), True),
        (ConnectTimeout("slow"), True),
        (ReadTimeout("slow"), True),
        (ResponseTooLarge("big"), False),
        (ServerUnavailable("x", status=500), False),
    ],
)
def test_retryable_errors(error, retried):
    assert Retry().is_retryable_error(error) is retried


def test_policy_is_immutable_and_increment_returns_a_copy():
    policy = Retry(total=2)
    request = req("GET", f"{BASE}/Patient/1")
    after = policy.increment(request, TransportError("reset"))
    assert policy.history == ()
    assert len(after.history) == 1
    assert after.history[0].method == "GET"
    assert after.history[0].path == "/r4/Patient/1"
    assert after.history[0].error == "TransportError"
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.total = 5  # type: ignore[misc]


def test_increment_raises_when_exhausted_and_wraps_the_last_error():
    request = req("GET", f"{BASE}/Patient/1?name=secret")
    policy = Retry(total=2)
    policy = policy.increment(request, TransportError("a"))
    policy = policy.increment(request, TransportError("b"))
    last = ServerUnavailable("HTTP 503", status=503)
    with pytest.raises(RetryExhausted) as info:
        policy.increment(request, last)
    assert info.value.last is last
    assert "3 attempts" in str(info.value)
    assert "secret" not in str(info.value)


def test_history_keeps_the_path_without_query():
    policy = Retry().increment(req("GET", f"{BASE}/Patient?name=Smith"), TransportError("x"))
    assert policy.history[0].path == "/r4/Patient"


def test_backoff_is_exponential_capped_and_jittered_by_the_injected_random():
    request = req("GET", f"{BASE}/Patient/1")
    policy = Retry(total=10, backoff_factor=1.0, backoff_max=5.0, jitter=0.0)
    delays = []
    for _ in range(5):
        policy = policy.increment(request, TransportError("x"))
        delays.append(policy.backoff())
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]

    half = Retry(total=3, backoff_factor=2.0, jitter=0.5, random=lambda: 1.0)
    half = half.increment(request, TransportError("x")).increment(request, TransportError("x"))
    assert half.backoff() == pytest.approx(4.0 * 0.5)
    none = Retry(total=3, backoff_factor=2.0, jitter=0.5, random=lambda: 0.0)
    none = none.increment(request, TransportError("x"))
    assert none.backoff() == pytest.approx(2.0)


def test_delay_prefers_retry_after_and_gives_up_on_a_too_long_hint():
    policy = Retry(max_retry_after=60, jitter=0.0, backoff_factor=1.0)
    policy = policy.increment(req("GET", f"{BASE}/x"), TransportError("x"))
    assert policy.delay(7.0) == 7.0
    assert policy.delay(None) == 1.0
    assert policy.delay(61.0) is None
    assert (
        Retry(respect_retry_after=False, jitter=0.0, backoff_factor=1.0)
        .increment(req("GET", f"{BASE}/x"), TransportError("x"))
        .delay(30.0)
        == 1.0
    )


def test_deadline():
    assert Retry(deadline=10).within_deadline(elapsed=4, delay=6)
    assert not Retry(deadline=10).within_deadline(elapsed=4, delay=6.5)
    assert Retry(deadline=None).within_deadline(elapsed=1e9, delay=1e9)


@pytest.mark.parametrize("kwargs", [{"total": -1}, {"jitter": 1.5}, {"backoff_factor": -1}])
def test_invalid_policies_are_refused(kwargs):
    with pytest.raises(ValueError):
        Retry(**kwargs)


NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 5 ", 5.0),
        (format_datetime(datetime(2025, 3, 1, 12, 0, 30, tzinfo=UTC), usegmt=True), 30.0),
        ("Sat, 01 Mar 2025 11:59:00 GMT", 0.0),
        ("soon", None),
        ("-5", None),
        (None, None),
    ],
)
def test_parse_retry_after(header, seconds):
    assert parse_retry_after(header, now=NOW) == seconds
