"""The patient's consent to disclose 42 CFR Part 2 records: :class:`Consent` and its
:class:`Provision` s, and the rule that decides whether a consent covers a disclosure.

A consent (FHIR ``Consent``, scope patient-privacy, policy 42 CFR Part 2) has a status,
the day it was given, an optional period and provisions. Each provision permits or
denies disclosure to some recipient organizations (keys of organizations of the
episode; none named: any recipient), for some purposes of use (v3 PurposeOfUse codes,
``TREAT``, ``HPAYMT``...; none: any purpose), within a period, of some data (by its
sensitivity: ``substance-use`` and/or ``mental-health``; none: all Part 2 data; a permit
covers data only if it covers every sensitivity the data carries).
Revocation is status ``inactive`` with the day it was revoked (``revoked``).

:func:`Consent.decision` answers for one disclosure: a deny provision that applies wins,
else a permit that applies permits; an inactive, draft or not yet given consent, or a
date outside its period, permits nothing. :func:`consent_problems` checks the keys a
consent names. Imports only :mod:`iopfhir.domain.common` and the terminology data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Literal

from pydantic import Field, field_validator, model_validator

from iopfhir.domain.common import Day, Key, Model, Period, when
from iopfhir.terminology.security import purpose_codes

__all__ = ["Consent", "ConsentStatus", "DataClass", "Provision", "consent_problems"]

ConsentStatus = Literal["draft", "proposed", "active", "rejected", "inactive", "entered-in-error"]
#: The sensitivity of the data a provision is about (DS4P: ETH / PSY).
DataClass = Literal["substance-use", "mental-health"]


def _in(period: Period | None, at: dt.date | dt.datetime) -> bool:
    """Whether ``at`` falls in ``period`` (a date bound counts as the whole day)."""
    if period is None:
        return True
    day = at.date() if isinstance(at, dt.datetime) else at
    start, end = period.start, period.end
    if isinstance(start, dt.datetime) and isinstance(at, dt.datetime):
        if when(at) < when(start):
            return False
    elif day < (start.date() if isinstance(start, dt.datetime) else start):
        return False
    if end is None:
        return True
    if isinstance(end, dt.datetime) and isinstance(at, dt.datetime):
        return when(at) <= when(end)
    return day <= (end.date() if isinstance(end, dt.datetime) else end)


class Provision(Model):
    """One rule of a consent: permit or deny disclosure to whom, why, when, of what."""

    type: Literal["permit", "deny"]
    #: organization keys of the episode (empty: any recipient)
    recipients: list[Key] = Field(default_factory=list)
    #: v3 PurposeOfUse codes (empty: any purpose)
    purposes: list[str] = Field(default_factory=list)
    period: Period | None = None
    #: the data it is about, by sensitivity (empty: all Part 2 data)
    data: list[DataClass] = Field(default_factory=list)

    @field_validator("purposes")
    @classmethod
    def _known_purposes(cls, value: list[str]) -> list[str]:
        known = purpose_codes()
        for i, code in enumerate(value):
            if code not in known:
                raise ValueError(f"@{i}: not a known purpose of use")
        return value

    def applies(
        self,
        recipient: str | None,
        purpose: str,
        at: dt.date | dt.datetime,
        data: Iterable[str],
    ) -> bool:
        """Whether this provision speaks of a disclosure to ``recipient`` (an organization
        key) for ``purpose`` on ``at`` of data with the sensitivities ``data``: a permit
        limited to some data classes applies only to data with no other sensitivity (data
        that is also mental-health data is not covered by a permit for substance-use data
        alone), a deny applies to data with any of its classes."""
        if self.recipients and recipient not in self.recipients:
            return False
        if self.purposes and purpose not in self.purposes:
            return False
        if not _in(self.period, at):
            return False
        if not self.data:
            return True
        # a permit must cover every sensitivity the data has; a deny needs only one
        if self.type == "permit":
            return set(data) <= set(self.data)
        return bool(set(self.data) & set(data))


class Consent(Model):
    """A patient's consent to disclose Part 2 records (FHIR ``Consent``)."""

    key: Key
    status: ConsentStatus = "active"
    #: the day the patient gave (signed) it
    date: Day
    policy: Literal["42CFRPart2"] = "42CFRPart2"
    #: when it is in force (absent: from ``date`` on)
    period: Period | None = None
    #: the day it was revoked (with status ``inactive``)
    revoked: Day | None = None
    provisions: list[Provision] = Field(default_factory=list)

    @model_validator(mode="after")
    def _revocation(self) -> Consent:
        if self.revoked is not None and self.status != "inactive":
            raise ValueError("@revoked: a revoked consent has status inactive")
        if self.revoked is not None and self.revoked < self.date:
            raise ValueError("@revoked: is before the day the consent was given")
        return self

    def in_force(self, at: dt.date | dt.datetime) -> bool:
        """Active, given on or before ``at``, and ``at`` within its period."""
        day = at.date() if isinstance(at, dt.datetime) else at
        return self.status == "active" and self.date <= day and _in(self.period, at)

    def decision(
        self,
        recipient: str | None,
        purpose: str,
        at: dt.date | dt.datetime,
        data: Iterable[str] = (),
    ) -> bool:
        """Whether this consent permits the disclosure (deny provisions win)."""
        if not self.in_force(at):
            return False
        data = list(data)
        applying = [p for p in self.provisions if p.applies(recipient, purpose, at, data)]
        if any(p.type == "deny" for p in applying):
            return False
        return any(p.type == "permit" for p in applying)


def consent_problems(
    consents: Sequence[Consent], organizations: Iterable[str]
) -> Iterator[tuple[str, str]]:
    """(JSON path, message) for every consent key that is repeated and every recipient that
    names no organization of the episode (``organizations``: their keys)."""
    orgs = set(organizations)
    seen: set[str] = set()
    for c, consent in enumerate(consents):
        if consent.key in seen:
            yield f"$.consents[{c}].key", "duplicate key among consents"
        seen.add(consent.key)
        for p, provision in enumerate(consent.provisions):
            for r, key in enumerate(provision.recipients):
                if key not in orgs:
                    path = f"$.consents[{c}].provisions[{p}].recipients[{r}]"
                    yield path, "names no organization of the episode"
