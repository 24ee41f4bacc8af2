"""Random valid episodes (tests/strategies.py) built to FHIR meet the profiles, except for
the known mismatches below, each of which names the side that must change.

A new kind of error fails this test: either the profiles claim something the data cannot
meet (fix the FSH) or the builder emits something new that breaks a profile (fix the
builder, or add the case here with the side that must change).
"""

from __future__ import annotations

import re
import sys
from functools import cache
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from profile_support import load_package

from iopfhir.domain import Episode
from iopfhir.fhir.bundle import transaction_bundle
from iopfhir.validation import Validator

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.strategies import episodes  # noqa: E402

#: message pattern -> why it is allowed and which side must change
KNOWN_MISMATCHES: dict[str, str] = {
    r"^Patient\.gender: minimum required = 1": (
        "domain Patient.gender is optional; US Core requires gender: the builder should "
        "write _gender with a data-absent-reason extension (or 'unknown')"
    ),
    r"^Patient\.name: minimum required = 1": (
        "domain Patient.name is optional; US Core requires a name: the builder should write "
        "a name holding only a data-absent-reason extension"
    ),
    r"^Encounter\.type: minimum required = 1": (
        "a session without kind/kind_code has no Encounter.type; US Core requires one: the "
        "builder should write a type with a data-absent-reason extension (as for CareTeam roles)"
    ),
    r"^CareTeam\.participant: minimum required = 1": (
        "domain Team.members may be empty; US Core requires a participant: the domain should "
        "require one member (or the builder not claim iop-careteam for an empty team)"
    ),
    r"^Slice 'CarePlan\.category:iopKind': a matching slice is required": (
        "the builder claims iop-careplan-treatment for foreign plans of kind 'other', which "
        "have no care-plan-kind code: it should claim no profile for them"
    ),
}
_PATTERNS = [re.compile(p) for p in KNOWN_MISMATCHES]
_TARGET = "does not conform to the target profile"


@cache
def _validator() -> Validator:
    # differentials only: see test_profile_validation for the snapshot issue
    return Validator(
        [
            {k: v for k, v in r.items() if k != "snapshot"}
            if r["resourceType"] == "StructureDefinition"
            else r
            for r in load_package().values()
        ]
    )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(episodes())
def test_generated_episodes_meet_the_profiles(episode: Episode) -> None:
    report = _validator().validate(transaction_bundle([episode]))
    errors = [i for i in report.issues if i.severity in ("error", "fatal")]
    known = [i for i in errors if any(p.search(i.message) for p in _PATTERNS)]
    unexpected = [
        f"{i.path}: {i.message}"
        for i in errors
        if i not in known
        # a reference to a resource that misses its profile fails too (transitively), so
        # target-profile errors are expected exactly when a known mismatch is present
        and not (known and _TARGET in i.message)
    ]
    assert unexpected == []
