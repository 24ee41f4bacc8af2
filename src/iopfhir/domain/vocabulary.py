"""Coded fields of the IOP model, validated against the package terminology.

Each type is a string restricted to the keys of one terminology table; the JSON Schema
of the input format lists those keys as an ``enum``, so an unknown code is reported with
its path by the schema check, and again by pydantic if a model is built in code.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, Field

from iopfhir.terminology import code_system, codes, instruments

__all__ = [
    "ActivityStatus",
    "AftercareService",
    "ContactMethod",
    "DischargeDisposition",
    "EpisodeStatus",
    "InstrumentId",
    "Modality",
    "ProgramType",
    "ReferralSource",
    "Relationship",
    "RoleKey",
    "SessionKind",
    "SessionStatus",
    "Setting",
]


def _restricted(label: str, allowed: Iterable[str]) -> Any:
    keys = tuple(sorted(allowed))

    def check(value: str) -> str:
        if value not in keys:
            # the value is input: the message names what was expected, not what was given
            raise ValueError(f"unknown {label}; expected one of {list(keys)}")
        return value

    return Annotated[str, AfterValidator(check), Field(json_schema_extra={"enum": list(keys)})]


def _from_system(name: str, label: str) -> Any:
    return _restricted(label, code_system(name)["concepts"])


if TYPE_CHECKING:  # to a type checker these are plain strings
    RoleKey = str
    Relationship = str
    SessionKind = str
    Modality = str
    ProgramType = str
    ReferralSource = str
    DischargeDisposition = str
    AftercareService = str
    InstrumentId = str
else:
    RoleKey = _restricted("team role", codes()["roles"])
    Relationship = _restricted("relationship", codes()["relationships"])
    SessionKind = _from_system("session-kind", "session kind")
    Modality = _from_system("modality", "modality")
    ProgramType = _from_system("program-type", "program type")
    ReferralSource = _from_system("referral-source", "referral source")
    DischargeDisposition = _from_system("discharge-disposition", "disposition")
    AftercareService = _from_system("aftercare-service", "aftercare service")
    InstrumentId = _restricted("instrument", instruments())

# Statuses are FHIR's own value sets where one fits, so mapping is one-to-one.
EpisodeStatus = Literal[
    "planned", "waitlist", "active", "onhold", "finished", "cancelled", "entered-in-error"
]
ActivityStatus = Literal[
    "not-started",
    "scheduled",
    "in-progress",
    "on-hold",
    "completed",
    "cancelled",
    "stopped",
    "unknown",
    "entered-in-error",
]
SessionStatus = Literal["scheduled", "attended", "no-show", "cancelled"]
Setting = Literal["in-person", "telehealth"]
ContactMethod = Literal["phone", "video", "in-person", "text"]
