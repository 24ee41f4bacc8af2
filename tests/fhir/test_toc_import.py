"""Reading a transition-of-care document back (``iopfhir.fhir.read.document``): ``toc`` then
``import`` gives back the episode's referral, problems, medications, allergies, scores,
plan, goals and team; a C-CDA-on-FHIR-shaped document is read by its section codes; a
document that cannot be read is refused naming the section and its FHIRPath, never a value.

Expected values are derived from the source episode and from the document itself (which
resources each section lists, by iopfhir's business identifiers), never written out here.
Both readers (``read_fhir`` and the streaming ``read_fhir_streamed``) are run on every case.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from iopfhir.domain import Episode
from iopfhir.errors import FhirInputError
from iopfhir.fhir.conventions import parse_identifier
from iopfhir.fhir.document import toc_document
from iopfhir.fhir.read import ImportResult, read_fhir, read_fhir_streamed
from iopfhir.fhir.read.document import section_kind
from iopfhir.synth.episode import synth_episodes

MOMENTS = ("discharge", "referral")
#: synthetic episodes beside the examples and the rich episode of ``conftest``
SYNTH = 4


def _read_both(doc: dict[str, Any]) -> ImportResult:
    """The in-memory read; the streaming read must give the same episodes and counts."""
    result = read_fhir(copy.deepcopy(doc))
    streamed = read_fhir_streamed(copy.deepcopy(doc))
    assert streamed.episodes == result.episodes
    assert streamed.unmapped == result.unmapped
    assert streamed.ignored == result.ignored
    return result


def _section_keys(doc: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Section kind → identifier kind → the local keys of the resources it lists (our
    business identifiers), from the document itself."""
    by_url = {e["fullUrl"]: e["resource"] for e in doc["entry"]}
    out: dict[str, dict[str, list[str]]] = {}
    for section in doc["entry"][0]["resource"]["section"]:
        kind = section_kind(section["code"]["coding"][0]["code"])
        assert kind is not None
        keys = out.setdefault(kind, {})
        for ref in section.get("entry", []):
            resource = by_url[ref["reference"]]
            idents = resource.get("identifier", [])
            for ident in [idents] if isinstance(idents, dict) else idents:
                parsed = parse_identifier(ident.get("system"), ident.get("value"))
                if parsed is not None:
                    keys.setdefault(parsed[0], []).append(parsed[2])
    return out


def _scores(episode: Episode, keys: set[str] | None = None) -> list[Any]:
    """Measures without the forms they were read from (a document carries the forms its
    sections need; the answers, total and score are what must come back)."""
    return [
        (m.model_copy(update={"forms": None}), m.score)
        for m in episode.measures
        if keys is None or m.key in keys
    ]


def _episodes() -> Iterator[tuple[str, Episode]]:
    yield from ((f"synth-{i}", e) for i, e in enumerate(synth_episodes(SYNTH, seed=7)))


@pytest.fixture(scope="module")
def sources(example_episodes: list[Episode], rich_episode: Episode) -> list[Episode]:
    return [*example_episodes, rich_episode, *(e for _n, e in _episodes())]


def test_there_are_sources(sources: list[Episode]) -> None:
    # the examples, the rich episode and the synthetic ones, each with a referral
    assert len(sources) == 3 + SYNTH
    assert all(e.referral is not None for e in sources)


@pytest.mark.parametrize("index", range(3 + SYNTH))
def test_discharge_document_round_trip(sources: list[Episode], index: int) -> None:
    source = sources[index]
    doc = toc_document(source, at="discharge")
    result = _read_both(doc)
    (got,) = result.episodes
    assert got.key == source.key
    assert got.referral == source.referral  # source, date, reason, stay, its clinicians
    assert got.diagnoses == source.diagnoses
    assert got.medications == source.medications
    assert got.prescriptions == source.prescriptions
    assert got.allergies == source.allergies
    assert _scores(got) == _scores(source)
    assert got.care_plans == source.care_plans  # treatment, relapse-prevention, aftercare
    assert got.other_goals == source.other_goals
    assert got.teams == source.teams
    assert got.part2 == source.part2
    # the inpatient stay is the referral's, never one of the IOP's sessions
    assert [s.key for s in got.sessions] == [s.key for s in source.sessions]
    assert not result.unmapped  # our own document reads back whole


@pytest.mark.parametrize("index", range(3 + SYNTH))
def test_referral_document_round_trip(sources: list[Episode], index: int) -> None:
    source = sources[index]
    doc = toc_document(source, at="referral")
    listed = _section_keys(doc)
    result = _read_both(doc)
    (got,) = result.episodes
    assert source.referral is not None
    # no EpisodeOfCare in a referral document: the referral comes from its section
    assert got.referral == source.referral
    assert got.referral is not None and got.referral.stay == source.referral.stay
    assert got.sessions == []  # the stay Encounter is not a session

    def kept(items: list[Any], section: str, kind: str) -> list[Any]:
        keys = set(listed.get(section, {}).get(kind, []))
        return [x for x in items if x.key in keys]

    assert got.diagnoses == kept(source.diagnoses, "problems", "condition")
    assert got.medications == kept(source.medications, "medications", "medicationstatement")
    assert got.prescriptions == kept(source.prescriptions, "medications", "medicationrequest")
    assert got.allergies == kept(source.allergies, "allergies", "allergyintolerance")
    assessed = listed.get("assessments", {})
    measure_keys = {k.split("/")[0] for kind in assessed.values() for k in kind}
    assert _scores(got) == _scores(source, measure_keys)
    plans = {
        *listed.get("plan-of-care", {}).get("careplan", []),
        *listed.get("relapse-prevention", {}).get("careplan", []),
    }
    assert got.care_plans == [p for p in source.care_plans if p.key in plans]
    # the team at referral: the stay's clinicians (their PractitionerRoles), as they were
    team = listed.get("care-team", {}).get("practitionerrole", [])
    assert team, "the referral document names the referring clinicians"
    by_key = {p.key: p for p in got.practitioners}
    for key in team:
        assert by_key[key] == next(p for p in source.practitioners if p.key == key)
    assert not result.unmapped


# -- a C-CDA-on-FHIR-shaped hospital document ------------------------------------------------

BASE = "https://hospital.example/fhir"
LOINC = "http://loinc.org"


def _res(rtype: str, rid: str, **body: Any) -> dict[str, Any]:
    return {
        "fullUrl": f"{BASE}/{rtype}/{rid}",
        "resource": {"resourceType": rtype, "id": rid, **body},
    }


def _section(code: str, refs: list[str], div: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "title": f"Section {code}",
        "code": {"coding": [{"system": LOINC, "code": code}]},
    }
    if div is not None:
        out["text"] = {
            "status": "additional",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{div}</div>',
        }
    if refs:
        out["entry"] = [{"reference": r} for r in refs]
    return out


def ccda_document() -> dict[str, Any]:
    """A hospital discharge summary shaped as C-CDA on FHIR: C-CDA section codes, relative
    references, a medication List, the hospital stay as the Composition's encounter."""
    pt = {"reference": "Patient/p1"}
    coded = {"coding": [{"system": "http://snomed.info/sct", "code": "35489007"}]}
    entries = [
        _res(
            "Patient", "p1", name=[{"family": "Quill", "given": ["Avery"]}], birthDate="1980-02-03"
        ),
        _res("Organization", "h1", name="County Hospital"),
        _res("Practitioner", "dr1", name=[{"family": "Osei"}]),
        _res(
            "Encounter",
            "stay1",
            status="finished",
            **{
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "IMP",
                }
            },
            subject=pt,
            participant=[{"individual": {"reference": "Practitioner/dr1"}}],
            period={"start": "2026-01-02T10:00:00Z", "end": "2026-01-09T12:00:00Z"},
            serviceProvider={"reference": "Organization/h1"},
        ),
        _res(
            "Condition",
            "c1",
            code=coded,
            subject=pt,
            clinicalStatus={"coding": [{"code": "active"}]},
        ),
        _res(
            "Condition",
            "c2",
            code={"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F10.20"}]},
            subject=pt,
        ),
        _res(
            "MedicationStatement",
            "m1",
            status="active",
            subject=pt,
            medicationCodeableConcept={
                "coding": [
                    {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "312941"}
                ]
            },
        ),
        _res(
            "MedicationRequest",
            "rx1",
            status="active",
            intent="order",
            subject=pt,
            authoredOn="2026-01-09",
            medicationCodeableConcept={
                "coding": [
                    {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "835829"}
                ]
            },
        ),
        _res(
            "List",
            "ml",
            status="current",
            mode="snapshot",
            subject=pt,
            entry=[{"item": {"reference": "MedicationRequest/rx1"}}],
        ),
        _res(
            "AllergyIntolerance",
            "a1",
            patient=pt,
            clinicalStatus={
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                        "code": "active",
                    }
                ]
            },
            code={"coding": [{"system": "http://snomed.info/sct", "code": "91936005"}]},
        ),
        _res("CarePlan", "cp1", status="active", intent="plan", subject=pt, title="Discharge plan"),
        _res(
            "Observation",
            "bp",
            status="final",
            code={"coding": [{"system": LOINC, "code": "85354-9"}]},
            subject=pt,
        ),
    ]
    composition = {
        "resourceType": "Composition",
        "id": "doc1",
        "status": "final",
        "type": {"coding": [{"system": LOINC, "code": "18842-5"}]},
        "subject": pt,
        "encounter": {"reference": "Encounter/stay1"},
        "date": "2026-01-09",
        "author": [{"reference": "Practitioner/dr1"}],
        "title": "Discharge summary",
        "section": [
            _section("42349-1", [], "Step-down to intensive outpatient care"),
            _section("11450-4", ["Condition/c1", "Condition/c2"], "Two problems"),
            _section("10160-0", ["MedicationStatement/m1"]),
            _section("10183-2", ["List/ml"]),
            _section("48765-2", ["AllergyIntolerance/a1"]),
            _section("18776-5", ["CarePlan/cp1"]),
            _section("8716-3", ["Observation/bp"], "Vital signs"),
        ],
    }
    return {
        "resourceType": "Bundle",
        "identifier": {
            "system": "urn:ietf:rfc:3986",
            "value": "urn:uuid:7d3c3f64-0000-4000-8000-000000000001",
        },
        "type": "document",
        "timestamp": "2026-01-09T12:00:00Z",
        "entry": [{"fullUrl": f"{BASE}/Composition/doc1", "resource": composition}, *entries],
    }


def _listed(doc: dict[str, Any], kind: str, rtype: str) -> list[str]:
    """ids of the ``rtype`` resources the sections of ``kind`` list (through Lists too)."""
    by_ref = {
        f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"]
        for e in doc["entry"]
    }
    out = []
    for section in doc["entry"][0]["resource"]["section"]:
        if section_kind(section["code"]["coding"][0]["code"]) != kind:
            continue
        for ref in section.get("entry", []):
            target = by_ref[ref["reference"]]
            items = (
                [by_ref[i["item"]["reference"]] for i in target.get("entry", [])]
                if target["resourceType"] == "List"
                else [target]
            )
            out += [t["id"] for t in items if t["resourceType"] == rtype]
    return out


def test_ccda_shaped_document_is_read_by_its_sections() -> None:
    doc = ccda_document()
    result = _read_both(doc)
    (got,) = result.episodes
    resources = {e["resource"]["id"]: e["resource"] for e in doc["entry"]}
    assert [d.key for d in got.diagnoses] == _listed(doc, "problems", "Condition")
    assert [m.key for m in got.medications] == _listed(doc, "medications", "MedicationStatement")
    assert [p.key for p in got.prescriptions] == _listed(doc, "medications", "MedicationRequest")
    assert [a.key for a in got.allergies] == _listed(doc, "allergies", "AllergyIntolerance")
    plans = _listed(doc, "aftercare", "CarePlan") + _listed(doc, "plan-of-care", "CarePlan")
    assert [p.key for p in got.care_plans] == plans
    # the Composition's inpatient encounter is the referral's stay, not a session
    assert got.sessions == []
    stay = resources["stay1"]
    referral = got.referral
    assert referral is not None
    assert referral.source == "inpatient"  # class IMP
    assert referral.stay is not None
    assert referral.stay.start.isoformat().startswith(stay["period"]["start"][:10])
    assert [p.practitioner for p in referral.stay_participants] == ["dr1"]
    assert referral.organization == "h1"  # the stay's serviceProvider
    assert referral.date is not None
    assert referral.date.isoformat() == doc["entry"][0]["resource"]["date"]
    # the reason is the section's own narrative (text.status additional)
    assert referral.reason == "Step-down to intensive outpatient care"
    # the vital-signs section has no place in the model (its Observation is read by type,
    # and ignored); the problems section's own narrative is not kept: both said
    assert result.unmapped["Composition.section: a section the IOP model has no place for"] == 1
    assert result.unmapped["Composition.section.text: the section's own narrative (not kept)"] == 1
    # a finished stay with an end is written back finished: its status is held, not counted
    assert not [reason for reason in result.unmapped if reason.startswith("Encounter.status")]
    assert result.ignored["Observation"] == 1


def test_a_referral_request_in_the_section_is_the_referral() -> None:
    doc = ccda_document()
    sr = {
        "resourceType": "ServiceRequest",
        "id": "ref1",
        "status": "completed",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "2026-01-08",
        "requester": {"reference": "Practitioner/dr1"},
        "reasonCode": [{"text": "Needs structured day programme"}],
    }
    doc["entry"].append({"fullUrl": f"{BASE}/ServiceRequest/ref1", "resource": sr})
    doc["entry"][0]["resource"]["section"][0]["entry"] = [{"reference": "ServiceRequest/ref1"}]
    (got,) = _read_both(doc).episodes
    referral = got.referral
    assert referral is not None
    assert referral.date is not None and referral.date.isoformat() == sr["authoredOn"]
    assert referral.reason == sr["reasonCode"][0]["text"]  # the request's, not the narrative
    assert referral.requester == "dr1"
    # the request names no encounter: the document's stay is the referral's
    assert referral.stay is not None
    assert got.requests == []  # used as the referral, not read again as a request
    assert got.sessions == []


def test_a_generated_narrative_is_not_a_reason() -> None:
    doc = ccda_document()
    doc["entry"][0]["resource"]["section"][0]["text"]["status"] = "generated"
    (got,) = _read_both(doc).episodes
    assert got.referral is not None and got.referral.reason is None


def test_an_outpatient_encounter_of_a_non_referring_document_stays_a_session() -> None:
    doc = ccda_document()
    stay = next(e["resource"] for e in doc["entry"] if e["resource"]["id"] == "stay1")
    stay["class"]["code"] = "AMB"
    (got,) = _read_both(doc).episodes
    assert got.referral is None
    assert [s.key for s in got.sessions] == ["stay1"]


# -- documents that cannot be read ---------------------------------------------------------------


def _patient_values(doc: dict[str, Any]) -> list[str]:
    """Strings of the document that must never appear in a message: the patient's data,
    the references, the section titles, every narrative."""
    out: list[str] = []

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif (
            isinstance(value, str)
            and key
            in (
                "family",
                "given",
                "value",
                "birthDate",
                "reference",
                "title",
                "div",
                "text",
                "fullUrl",
            )
            and len(value) >= 4
        ):
            out.append(value)

    walk(doc)
    return out


def _refused(doc: dict[str, Any]) -> str:
    """The message both readers refuse ``doc`` with (the same one); it leaks nothing."""
    with pytest.raises(FhirInputError) as memory:
        read_fhir(copy.deepcopy(doc))
    with pytest.raises(FhirInputError) as streamed:
        read_fhir_streamed(copy.deepcopy(doc))
    message = str(memory.value)
    assert str(streamed.value) == message
    for value in _patient_values(doc):
        assert value not in message
    return message


@pytest.fixture
def ours(example_episodes: list[Episode]) -> dict[str, Any]:
    return toc_document(example_episodes[0], at="referral")


def test_refused_when_the_composition_is_not_first(ours: dict[str, Any]) -> None:
    ours["entry"][0], ours["entry"][1] = ours["entry"][1], ours["entry"][0]
    message = _refused(ours)
    assert "Bundle.entry[0].resource:" in message
    assert "starts with its Composition" in message


def test_a_document_without_a_subject_is_read_by_its_resources(
    ours: dict[str, Any],
) -> None:
    # R4's Composition.subject is 0..1: such a document is read, its resources by their
    # own patients, and its Composition (no patient's) counted
    whole = _read_both(copy.deepcopy(ours))
    del ours["entry"][0]["resource"]["subject"]
    result = _read_both(ours)
    assert result.unmapped["Composition: no patient"] == 1
    assert [e.patient for e in result.episodes] == [e.patient for e in whole.episodes]
    assert [len(e.diagnoses) for e in result.episodes] == [len(e.diagnoses) for e in whole.episodes]
    # the referral its reason-for-referral section gave is not read: no patient's section
    assert result.episodes[0].referral != whole.episodes[0].referral


def test_refused_when_the_subject_is_not_inside(ours: dict[str, Any]) -> None:
    ours["entry"][0]["resource"]["subject"] = {"reference": "Patient/Rivera-MRN-448812"}
    message = _refused(ours)
    assert "Bundle.entry[0].resource.subject: the subject does not resolve" in message


def test_a_document_about_no_patient_is_read_and_counted(ours: dict[str, Any]) -> None:
    org = next(e for e in ours["entry"] if e["resource"]["resourceType"] == "Organization")
    ours["entry"][0]["resource"]["subject"] = {"reference": org["fullUrl"]}
    result = _read_both(ours)
    assert result.unmapped["Composition: subject is not a patient"] == 1
    assert len(result.episodes) == 1


def test_section_entries_by_identifier_or_display_only_are_counted_not_refused(
    ours: dict[str, Any],
) -> None:
    # R4 lets a Reference name its target by identifier or display alone (IPS documents
    # list "no known allergies" so): nothing to look for in the Bundle, so the document is
    # read and those entries counted as not read
    whole = _read_both(copy.deepcopy(ours))
    sections = ours["entry"][0]["resource"]["section"]
    sections[0]["entry"].append({"display": "No known allergies"})
    sections[-1]["entry"] = [
        *sections[-1].get("entry", []),
        {"identifier": {"system": "urn:oid:2.16.840.1.113883.19.5", "value": "42"}},
    ]
    result = _read_both(ours)
    assert result.episodes == whole.episodes
    counted = "Composition.section.entry: does not resolve (not read)"
    assert result.unmapped[counted] == whole.unmapped[counted] + 2


def test_a_subject_by_identifier_only_is_not_refused(ours: dict[str, Any]) -> None:
    ours["entry"][0]["resource"]["subject"] = {
        "identifier": {"system": "urn:oid:2.16.840.1.113883.19.5", "value": "MRN-1"}
    }
    result = _read_both(ours)
    assert len(result.episodes) == 1


def test_refused_when_a_section_entry_is_not_inside(ours: dict[str, Any]) -> None:
    sections = ours["entry"][0]["resource"]["section"]
    index = next(
        i
        for i, s in enumerate(sections)
        if section_kind(s["code"]["coding"][0]["code"]) == "medications"
    )
    code = sections[index]["code"]["coding"][0]["code"]
    sections[index]["entry"].append({"reference": "MedicationStatement/Rivera-sertraline"})
    k = len(sections[index]["entry"]) - 1
    message = _refused(ours)
    assert f"Bundle.entry[0].resource.section[{index}].entry[{k}]: " in message
    assert f"section LOINC {code} (medications)" in message
    assert "does not resolve inside the document" in message


def test_refused_for_a_nested_section_and_names_the_document_in_a_collection(
    ours: dict[str, Any],
) -> None:
    sections = ours["entry"][0]["resource"]["section"]
    sections[1]["section"] = [
        _section("10160-0", ["urn:uuid:00000000-0000-4000-8000-00000000dead"])
    ]
    collection = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": ours}]}
    message = _refused(collection)
    assert "Bundle.entry[0].resource.section[1].section[0].entry[0]: " in message
    assert "section LOINC 10160-0 (medications)" in message
    assert "(the document at $.entry[0].resource)" in message


def test_a_section_without_a_code_is_named_so(ours: dict[str, Any]) -> None:
    sections = ours["entry"][0]["resource"]["section"]
    sections.append({"title": "Rivera's notes", "entry": [{"reference": "Observation/x1"}]})
    message = _refused(ours)
    assert f"section[{len(sections) - 1}].entry[0]: a section without a LOINC code" in message


def test_a_transaction_with_a_composition_is_not_refused(ours: dict[str, Any]) -> None:
    # the document rules are the document Bundle's: the same Composition in a transaction
    # with an entry it does not hold is read, and the entry it misses is counted
    sections = ours["entry"][0]["resource"]["section"]
    sections[1].setdefault("entry", []).append({"reference": "Condition/not-here"})
    ours["type"] = "transaction"
    for entry in ours["entry"]:
        entry["request"] = {"method": "POST", "url": entry["resource"]["resourceType"]}
    result = _read_both(ours)
    assert result.unmapped["Composition.section.entry: does not resolve (not read)"] == 1
    assert json.dumps(result.unmapped)  # counts only: reasons name paths, never values
