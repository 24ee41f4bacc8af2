"""Others' identifiers and profile claims are written back or counted, never dropped in
silence (issue 11, faithful import).

* The model holds the identifiers of a care plan, a session's Encounter, an instrument's
  Observation or QuestionnaireResponse, a referral, a stay, a consent... as iopfhir's own
  keys only: an identifier of anyone else there was dropped without a word. It is now
  counted as ``<Type>.identifier: no place in the IOP model (dropped)`` (once per resource).
* Where the model keeps others' identifiers (a patient's MRN, a practitioner's NPI), it
  keeps their system and value: their ``use``, ``type`` (an MRN's ``MR``), ``period`` and
  ``assigner`` are counted as ``Patient.identifier.type: not kept (dropped)``.
* A ``meta.profile`` the writer does not claim (US Core's) is counted at
  ``<Type>.meta.profile``; iopfhir's own profiles are claimed again and not counted.

Every resource of both examples is given such an identifier; each one is then either in
the re-exported FHIR or counted. Both readers, from NDJSON and from a Bundle.
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from tests.fhir.both_readers import FORMS, read_both, unmapped_delta
from tests.fhir.example_resources import example_resources

from iopfhir.fhir.build import episode_entries

NO_PLACE = "no place in the IOP model (dropped)"
MR = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-"
#: readings that keep others' identifiers (system and value) on their records
KEEPS_IDENTIFIERS = {"Patient", "Practitioner", "Organization", "Location", "RelatedPerson"}
#: R4 types without an ``identifier`` element (counted otherwise: not R4)
NO_IDENTIFIER = {"Provenance"}


def _with_foreign_identifiers() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The examples, and the examples with one more identifier on every resource (a
    value unique to it, with a use and a type)."""
    plain = example_resources()
    more = copy.deepcopy(plain)
    for i, resource in enumerate(more):
        if resource["resourceType"] in NO_IDENTIFIER:
            continue
        idents = resource.get("identifier", [])
        resource["identifier"] = [
            *(idents if isinstance(idents, list) else [idents]),
            {"use": "secondary", "type": MR, "system": "urn:example:probe", "value": f"pv-{i}"},
        ]
    return plain, more


@FORMS
def test_an_identifier_of_others_is_written_back_or_counted(tmp_path: Path, form: str) -> None:
    plain, more = _with_foreign_identifiers()
    delta, result, _ = unmapped_delta(plain, more, tmp_path, form)
    written = b"\n".join(
        orjson.dumps(r) for ep in result.episodes for _u, r in episode_entries(ep, ndjson=True)
    )
    not_written: Counter[str] = Counter()
    kept: Counter[str] = Counter()
    for i, resource in enumerate(more):
        rtype = resource["resourceType"]
        if rtype in NO_IDENTIFIER:
            continue
        if f'"pv-{i}"'.encode() in written:
            kept[rtype] += 1
        else:
            not_written[rtype] += 1
    # every resource whose identifier is not written back counts it, once, by its type
    counted = {
        k.split(".")[0]: n for k, n in delta.items() if k.endswith(f".identifier: {NO_PLACE}")
    }
    assert counted == dict(not_written)
    # those the model keeps are written back; their use and type are said to be dropped
    assert set(kept) == {t for t in KEEPS_IDENTIFIERS if any(r["resourceType"] == t for r in more)}
    assert set(kept).isdisjoint(counted)
    for rtype, n in kept.items():
        assert delta[f"{rtype}.identifier.use: not kept (dropped)"] == n
        assert delta[f"{rtype}.identifier.type: not kept (dropped)"] == n
    # the sessions' Encounters, the instruments' Observations and the care plans are among
    # the resources that only counted (their identifiers are iopfhir's keys)
    assert {"Encounter", "Observation", "QuestionnaireResponse", "CarePlan"} <= set(counted)
    assert sum(delta.values()) == sum(counted.values()) + 2 * sum(kept.values())


@FORMS
def test_a_profile_the_writer_does_not_claim_is_counted(tmp_path: Path, form: str) -> None:
    plain = example_resources()
    more = copy.deepcopy(plain)
    claimed: Counter[str] = Counter()
    for resource in more:
        rtype = resource["resourceType"]
        meta = resource.setdefault("meta", {})
        meta["profile"] = [*meta.get("profile", []), f"{US_CORE}{rtype.lower()}"]
        claimed[rtype] += 1
    delta, _, before = unmapped_delta(plain, more, tmp_path, form)
    # iopfhir's own claims are no loss: the examples read back with none counted
    assert not any(".meta.profile" in k for k in before.unmapped)
    suffix = f".meta.profile: {NO_PLACE}"
    counted = {k.split(".")[0]: n for k, n in delta.items() if k.endswith(suffix)}
    # each resource read counts its claim once; the types no reader takes (Questionnaire,
    # Measure...) are counted whole, by type, as before
    assert counted
    assert all(counted[t] <= claimed[t] for t in counted)
    assert {"Patient", "Encounter", "Observation", "CarePlan", "CareTeam"} <= set(counted)
    assert set(delta) == {f"{t}.meta.profile: {NO_PLACE}" for t in counted}


def test_a_patients_mrn_type_is_counted_where_it_is_read(tmp_path: Path) -> None:
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [
            {"use": "usual", "type": MR, "system": "urn:example:mrn", "value": "M-1"},
            {"system": "urn:example:other", "value": "O-2"},
        ],
        "gender": "female",
    }
    result = read_both([patient], tmp_path, "ndjson")
    assert [(i.system, i.value) for i in result.episodes[0].patient.identifiers] == [
        ("urn:example:mrn", "M-1"),
        ("urn:example:other", "O-2"),
    ]
    assert dict(result.unmapped) == {
        "Patient.identifier.use: not kept (dropped)": 1,
        "Patient.identifier.type: not kept (dropped)": 1,
    }
