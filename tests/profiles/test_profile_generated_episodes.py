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
    # none: the builder writes data-absent-reasons for a missing patient name / gender and
    # session kind, and claims no profile for member-less teams and foreign 'other' plans
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
