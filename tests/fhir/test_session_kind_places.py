"""A session read from FHIR has its kind written back where its source had it
(``Session.kind_in``): no service type on re-export for a source without one (every
Synthea Encounter had one invented before), an ``appointmentType`` kept as such, and an
authored episode still written with the kind in every place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from iopfhir.domain import Session, dump_episode, load_episodes, parse_episodes
from iopfhir.fhir.build import episode_entries, with_derived
from iopfhir.fhir.bundle import transaction_bundle
from iopfhir.fhir.read import read_fhir
from iopfhir.terminology import code_system_url

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KIND_SYSTEM = code_system_url("session-kind")
CPT = "http://www.ama-assn.org/go/cpt"
WHEN = {"start": "2024-03-04T10:00:00+00:00", "end": "2024-03-04T13:00:00+00:00"}


def _written(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Import, through an episode file, then the FHIR written again."""
    episodes = read_fhir(resources).episodes
    again = parse_episodes(json.loads(json.dumps([dump_episode(e) for e in episodes])))
    return [r for e in again for _, r in episode_entries(e)]


def _of(resources: list[dict[str, Any]], rtype: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["resourceType"] == rtype]


@pytest.mark.corpus
def test_no_service_type_is_invented_for_synthea_encounters(corpus: Path) -> None:
    files = sorted((corpus / "synthea").rglob("*.json"))
    assert len(files) >= 7
    for path in files:
        source = [e["resource"] for e in json.loads(path.read_text())["entry"]]
        written = _written(source)
        for rtype in ("Encounter", "Appointment"):
            had = sum(1 for r in _of(source, rtype) if r.get("serviceType"))
            has = sum(1 for r in _of(written, rtype) if r.get("serviceType"))
            assert has <= had, (path.name, rtype, has, had)
        # the kind is still written: each Encounter's type (its source's first coding)
        assert _of(written, "Encounter"), f"{path.name}: the Encounters are sessions"
        assert all(r.get("type") for r in _of(written, "Encounter"))


def _session(appointment: dict[str, Any], encounter: dict[str, Any]) -> list[dict[str, Any]]:
    patient = {"resourceType": "Patient", "id": "p1", "gender": "male"}
    appt = {
        "resourceType": "Appointment",
        "id": "a1",
        "status": "fulfilled",
        **WHEN,
        "participant": [{"actor": {"reference": "Patient/p1"}, "status": "accepted"}],
        **appointment,
    }
    enc = {
        "resourceType": "Encounter",
        "id": "x1",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": "Patient/p1"},
        "appointment": [{"reference": "Appointment/a1"}],
        "period": WHEN,
        **encounter,
    }
    return [patient, appt, enc]


def _concept(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def test_a_kind_in_appointment_type_is_written_back_there_only() -> None:
    source = _session(
        {"appointmentType": _concept(KIND_SYSTEM, "group-therapy")},
        {"type": [_concept(CPT, "90853")]},
    )
    (episode,) = read_fhir(source).episodes
    (session,) = episode.sessions
    assert session.kind == "group-therapy"
    # the CPT code gave the kind too: the procedure codes go back beside it
    assert session.kind_in == ["appointment-type", "encounter-procedure", "encounter-type"]
    written = _written(source)
    (appt,) = _of(written, "Appointment")
    (enc,) = _of(written, "Encounter")
    assert appt["appointmentType"]["coding"][0]["code"] == "group-therapy"
    assert "serviceType" not in appt and "serviceType" not in enc
    assert enc["type"][0]["coding"][0]["code"] == "group-therapy"  # the profile's 1..*
    assert enc["type"][1]["coding"][0] == {"system": CPT, "code": "90853"}
    # forgotten on request: the kind everywhere it goes by default
    derived = [r for _, r in episode_entries(with_derived(episode))]
    assert all(r.get("serviceType") for r in derived if r["resourceType"] == "Encounter")
    assert with_derived(episode).sessions[0].kind_in is None


def test_a_source_service_type_is_kept_and_another_appointment_type_gets_no_kind() -> None:
    v2_routine = _concept("http://terminology.hl7.org/CodeSystem/v2-0276", "ROUTINE")
    source = _session(
        {"serviceType": [_concept(KIND_SYSTEM, "group-therapy")], "appointmentType": v2_routine},
        {"serviceType": _concept(KIND_SYSTEM, "group-therapy")},
    )
    result = read_fhir(source)
    (session,) = result.episodes[0].sessions
    # each resource's service type, as by default, but no procedure codes (none came)
    assert session.kind_in == ["appointment-service", "encounter-service", "encounter-type"]
    # the model has no place for the appointment type: counted, not dropped in silence
    why = "Appointment.appointmentType: a concept other than the session's kind (dropped)"
    assert result.unmapped[why] == 1
    assert not [k for k in result.unmapped if "serviceType" in k]
    written = _written(source)
    (appt,) = _of(written, "Appointment")
    (enc,) = _of(written, "Encounter")
    assert appt["serviceType"][0]["coding"][0]["code"] == "group-therapy"
    assert enc["serviceType"]["coding"][0]["code"] == "group-therapy"
    assert "appointmentType" not in appt
    assert [c["coding"][0]["code"] for c in enc["type"]] == ["group-therapy"]


def test_a_local_kind_code_goes_where_the_source_had_it() -> None:
    local = _concept("urn:oid:1.2.3.4", "GRP-DBT")
    source = _session({}, {"type": [local], "serviceType": local})
    (session,) = read_fhir(source).episodes[0].sessions
    assert session.kind is None and session.kind_code is not None
    assert session.kind_in == ["encounter-service", "encounter-type"]
    written = _written(source)
    (appt,) = _of(written, "Appointment")
    (enc,) = _of(written, "Encounter")
    assert "serviceType" not in appt
    assert enc["serviceType"]["coding"][0]["code"] == "GRP-DBT"


def test_no_procedure_codes_are_written_for_an_encounter_type_without_them() -> None:
    source = _session({}, {"type": [_concept(KIND_SYSTEM, "group-therapy")]})
    result = read_fhir(source)
    (session,) = result.episodes[0].sessions
    assert session.kind_in == ["encounter-type"]
    assert not result.unmapped
    (enc,) = _of(_written(source), "Encounter")
    assert [c["coding"][0]["code"] for c in enc["type"]] == ["group-therapy"]
    # an episode file's session (no kind_in) has them, derived from its kind and length
    authored = session.model_copy(update={"kind_in": None})
    assert authored.kind_places() == (
        "appointment-service", "encounter-procedure", "encounter-service", "encounter-type"
    )  # fmt: skip


def test_every_concept_the_kind_leaves_is_counted() -> None:
    local = "http://example.org/local"
    kind = {
        "coding": [
            {"system": KIND_SYSTEM, "code": "group-therapy"},
            {"system": "http://snomed.info/sct", "code": "76168009"},
        ],
        "text": "Group psychotherapy",
    }
    source = _session(
        {"serviceType": [_concept(KIND_SYSTEM, "group-therapy"), _concept(local, "svc-2")]},
        {
            "type": [kind, _concept(CPT, "90853"), _concept(local, "enc-local")],
            "serviceType": _concept(local, "svc-enc"),
        },
    )
    result = read_fhir(source)
    (session,) = result.episodes[0].sessions
    assert session.kind == "group-therapy"
    assert session.kind_in == ["appointment-service", "encounter-procedure", "encounter-type"]
    other = "a concept other than the session's kind (dropped)"
    assert dict(result.unmapped) == {
        f"Appointment.serviceType: {other}": 1,
        f"Encounter.type: {other}": 1,  # the local type; the CPT code is written again
        f"Encounter.serviceType: {other}": 1,
        "Encounter.type.coding: a coding other than the session kind's (dropped)": 1,
        "Encounter.type.text: the text of the session kind's concept (dropped)": 1,
    }
    written = _written(source)
    (appt,) = _of(written, "Appointment")
    (enc,) = _of(written, "Encounter")
    assert [c["coding"][0]["code"] for c in appt["serviceType"]] == ["group-therapy"]
    assert [c["coding"][0]["code"] for c in enc["type"]] == ["group-therapy", "90853"]
    assert "serviceType" not in enc


@pytest.mark.parametrize("name", ["mental-health-iop", "co-occurring-sud-iop"])
def test_authored_episodes_read_back_with_the_default_places(name: str) -> None:
    (episode,) = load_episodes(EXAMPLES / f"{name}.yaml")
    resources = [r for _, r in episode_entries(episode)]
    assert all(r.get("serviceType") for r in _of(resources, "Appointment"))
    (back,) = read_fhir(transaction_bundle([episode])).episodes
    assert [s.kind_in for s in back.sessions] == [None] * len(episode.sessions)


def test_the_domain_refuses_places_it_cannot_write() -> None:
    base: dict[str, Any] = {"key": "s1", "start": WHEN["start"], "end": WHEN["end"]}
    with pytest.raises(ValidationError, match="kind_in"):
        Session(**base, status="attended", kind_in=["appointment-service"])  # no kind
    with pytest.raises(ValidationError, match="kind_in"):  # a no-show has no Encounter
        Session(**base, status="no-show", kind="group-therapy", kind_in=["encounter-service"])
    with pytest.raises(ValidationError, match="encounter-type"):  # written there always
        Session(**base, status="attended", kind="group-therapy", kind_in=["encounter-service"])
    with pytest.raises(ValidationError, match="kind_in"):  # procedure codes need the Encounter
        Session(**base, status="no-show", kind="group-therapy", kind_in=["encounter-procedure"])
    ok = Session(
        **base,
        status="attended",
        kind="group-therapy",
        kind_in=["encounter-type", "encounter-service", "encounter-type"],
    )
    assert ok.kind_in == ["encounter-service", "encounter-type"]
    assert ok.kind_places() == ("encounter-service", "encounter-type")
    assert Session(**base, status="no-show", kind="group-therapy").kind_places() == (
        "appointment-service",
    )


@pytest.mark.corpus
def test_synthea_concepts_come_back_whole_with_their_text(corpus: Path) -> None:
    """A concept's text is written back even where it repeats the display (Synthea writes
    both on every concept): the Conditions' codes and the Encounters' types, as they came."""

    def concepts(resources: list[dict[str, Any]], rtype: str, element: str) -> list[str]:
        return sorted(json.dumps(r[element], sort_keys=True) for r in _of(resources, rtype))

    for path in sorted((corpus / "synthea").rglob("*.json")):
        source = [e["resource"] for e in json.loads(path.read_text())["entry"]]
        written = _written(source)
        assert any("text" in json.loads(c) for c in concepts(source, "Condition", "code"))
        assert concepts(written, "Condition", "code") == concepts(source, "Condition", "code")
        assert concepts(written, "Encounter", "type") == concepts(source, "Encounter", "type")
