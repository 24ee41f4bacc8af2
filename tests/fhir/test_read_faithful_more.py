"""Two losses of the import readers made loud or removed (issue 11, faithful import).

- A patient contained in a resource (``subject`` = ``#id``): both readers make each
  container's Patient a patient of its own, even when two containers use the same local
  id; ``#id`` naming a contained resource of another type is no patient, and ``#id``
  naming nothing contained is grouped by its text, in both.
- What the Episode has no place for is counted under ``unmapped`` (so ``iopfhir import
  --summary`` shows it and ``--strict`` refuses it): ``EpisodeOfCare.statusHistory`` and
  the other EpisodeOfCare elements the reader cannot hold, Appointment participants that
  name nobody; Encounter participants that name nobody already are (checked here too).

Every case is read by ``read_fhir`` and by ``read_fhir_streamed`` from NDJSON and from a
Bundle; the two give the same episodes and counts.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from iopfhir.cli import import_ as cli_import
from iopfhir.domain import load_episodes
from iopfhir.errors import InputError
from iopfhir.fhir.bundle import collection_bundle, dumps, transaction_bundle
from iopfhir.fhir.read import ImportResult, ReadWarning, read_fhir, read_fhir_streamed

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: a coded diagnosis (SNOMED CT 35489007 depressive disorder): a Condition that is read
DEPRESSION = {"coding": [{"system": "http://snomed.info/sct", "code": "35489007"}]}


def _condition(rid: str, subject: Any, **more: Any) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": rid, "code": DEPRESSION, "subject": subject, **more}


def _goal(rid: str, subject: Any, **more: Any) -> dict[str, Any]:
    return {
        "resourceType": "Goal",
        "id": rid,
        "lifecycleStatus": "active",
        "description": {"text": "fewer symptoms"},
        "subject": subject,
        **more,
    }


def _contained_patient(birth: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p", "birthDate": birth}


THO = "http://terminology.hl7.org/CodeSystem"


def _both(resources: list[dict[str, Any]], tmp_path: Path, form: str) -> ImportResult:
    """The resources read by both readers (as NDJSON lines or one Bundle file); the two
    results must be equal: the whole one is returned."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    if form == "ndjson":
        folder = tmp_path / "ndjson"
        folder.mkdir()
        (folder / "mixed.ndjson").write_bytes(b"\n".join(orjson.dumps(r) for r in resources))
        source: Path = folder
    else:
        source = tmp_path / "bundle.json"
        entries = [
            {"fullUrl": f"urn:uuid:{i:08d}-0000-4000-8000-000000000000", "resource": r}
            for i, r in enumerate(resources)
        ]
        source.write_bytes(
            orjson.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries})
        )
    whole = read_fhir(source)
    streamed = read_fhir_streamed(source)
    assert streamed.episodes == whole.episodes
    assert streamed.patients == whole.patients
    assert streamed.ignored == whole.ignored
    assert streamed.unmapped == whole.unmapped
    return whole


FORMS = pytest.mark.parametrize("form", ["ndjson", "bundle"])


# -- Task 1: a patient contained in a resource --------------------------------------------


@FORMS
def test_two_containers_with_one_local_id_are_two_patients(tmp_path: Path, form: str) -> None:
    resources = [
        {"resourceType": "Patient", "id": "top", "birthDate": "1970-01-01"},
        _condition("c0", {"reference": "Patient/top"}),
        _condition("c1", {"reference": "#p"}, contained=[_contained_patient("1981-01-01")]),
        _goal("g1", {"reference": "#p"}, contained=[_contained_patient("1992-02-02")]),
    ]
    result = _both(resources, tmp_path, form)
    assert result.patients == len(result.episodes) == 3
    births = [str(e.patient.birth_date) for e in result.episodes]
    assert births == ["1970-01-01", "1981-01-01", "1992-02-02"]
    # each contained patient has its own container's resource, and only that
    shape = [(len(e.diagnoses), len(e.other_goals)) for e in result.episodes]
    assert shape == [(1, 0), (1, 0), (0, 1)]


@FORMS
def test_hash_references_to_no_patient(tmp_path: Path, form: str) -> None:
    group = {"resourceType": "Group", "id": "x", "type": "person", "actual": True}
    resources = [
        # a contained resource of another type: no patient (in both readers)
        _condition("c1", {"reference": "#x"}, contained=[group]),
        # names nothing it contains: grouped by the reference text, one patient for both
        _condition("c2", {"reference": "#q"}),
        _goal("g2", {"reference": "#q"}, contained=[_contained_patient("1990-01-01")]),
        # the same text, now naming the Patient this one contains: a patient of its own
        _goal("g3", {"reference": "#p"}, contained=[_contained_patient("1991-01-01")]),
        _goal("g4", {"reference": "#p"}),
    ]
    result = _both(resources, tmp_path, form)
    assert result.unmapped["Condition: subject is not a patient"] == 1
    # "#q" (c2, g2: the text), "#p" of g3 (its own), "#p" of g4 (the text)
    assert result.patients == len(result.episodes) == 3
    shape = [(len(e.diagnoses), len(e.other_goals)) for e in result.episodes]
    assert shape == [(1, 1), (0, 1), (0, 1)]
    assert [str(e.patient.birth_date) for e in result.episodes][1] == "1991-01-01"


@FORMS
def test_an_appointment_with_no_patient_participant(tmp_path: Path, form: str) -> None:
    """An Appointment names its patient among its participants: with none, its reference
    is only its first actor's, so the count says what is missing."""
    doctor = {"resourceType": "Practitioner", "id": "dr"}
    appointment = {
        "resourceType": "Appointment",
        "id": "a1",
        "status": "booked",
        "participant": [{"actor": {"reference": "Practitioner/dr"}, "status": "accepted"}],
    }
    result = _both([doctor, appointment], tmp_path, form)
    assert result.unmapped["Appointment: no patient participant"] == 1
    assert not any("Appointment: subject" in reason for reason in result.unmapped)
    assert result.episodes == []


@FORMS
def test_a_patient_only_named_by_what_is_not_read_is_no_patient(tmp_path: Path, form: str) -> None:
    """A patient the input names only in a questionnaire of no instrument or a consent
    other than Part 2's: nothing of theirs is read, so no episode is made of the name."""
    questionnaire = {
        "resourceType": "QuestionnaireResponse",
        "id": "q1",
        "status": "completed",
        "questionnaire": "http://example.org/Questionnaire/intake",
        "subject": {"reference": "Patient/x"},
    }
    consent = {
        "resourceType": "Consent",
        "id": "k1",
        "status": "active",
        "scope": {"coding": [{"system": f"{THO}/consentscope", "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": "Patient/y"},
    }
    condition = _condition("c1", {"reference": "Patient/z"})
    result = _both([questionnaire, consent, condition], tmp_path, form)
    assert result.ignored["QuestionnaireResponse"] == 1
    assert result.unmapped["Consent: not a 42 CFR Part 2 privacy consent"] == 1
    # the patient a read Condition names is one all the same
    assert result.patients == len(result.episodes) == 1
    assert len(result.episodes[0].diagnoses) == 1


@FORMS
def test_contained_that_breaks_the_rules_reads_alike(tmp_path: Path, form: str) -> None:
    """Two contained resources with one local id (the later one is found, a Group: no
    patient), and ``contained`` as an object, not a list (nothing contained: the text)."""
    group = {"resourceType": "Group", "id": "p", "type": "person", "actual": True}
    resources = [
        _condition("c1", {"reference": "#p"}, contained=[_contained_patient("1981-01-01"), group]),
        _condition("c2", {"reference": "#p"}, contained=_contained_patient("1982-01-01")),
    ]
    result = _both(resources, tmp_path, form)
    assert result.unmapped["Condition: subject is not a patient"] == 1
    assert result.patients == 1
    assert result.episodes[0].patient.birth_date is None  # grouped by "#p", the text


def test_an_escaped_hash_reference_is_found_by_the_streaming_reader(tmp_path: Path) -> None:
    """The grouping looks for ``"#`` in a reference's compact JSON as the store gives it
    back, not as the line wrote it (``\\u0023`` is ``#``)."""
    folder = tmp_path / "escaped"
    folder.mkdir()
    line = orjson.dumps(
        _condition("c1", {"reference": "HASHp"}, contained=[_contained_patient("1981-01-01")])
    ).replace(b"HASH", b"\\u0023")
    other = orjson.dumps(
        _goal("g1", {"reference": "#p"}, contained=[_contained_patient("1992-02-02")])
    )
    (folder / "mixed.ndjson").write_bytes(line + b"\n" + other + b"\n")
    whole, streamed = read_fhir(folder), read_fhir_streamed(folder)
    assert streamed.episodes == whole.episodes
    assert streamed.patients == whole.patients == 2


# -- Task 2: what the Episode cannot hold is counted ---------------------------------------


def _patient() -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "pt", "birthDate": "1980-05-05"}


def _eoc(**more: Any) -> dict[str, Any]:
    return {
        "resourceType": "EpisodeOfCare",
        "id": "eoc",
        "status": "active",
        "patient": {"reference": "Patient/pt"},
        "period": {"start": "2026-01-10"},
        **more,
    }


HISTORY = [
    {"status": "planned", "period": {"start": "2026-01-01", "end": "2026-01-10"}},
    {"status": "waitlist", "period": {"start": "2026-01-03", "end": "2026-01-10"}},
]


@FORMS
def test_status_history_is_counted(tmp_path: Path, form: str) -> None:
    plain = _both([_patient(), _eoc()], tmp_path / "plain", form)
    result = _both([_patient(), _eoc(statusHistory=HISTORY)], tmp_path / "history", form)
    assert result.episodes == plain.episodes  # the model has no status history
    assert result.episodes[0].status == "active"
    added = result.unmapped - plain.unmapped
    assert added == Counter({"EpisodeOfCare.statusHistory: not kept": 2})
    assert ReadWarning("EpisodeOfCare.statusHistory", "not kept", 2) in result.warnings


@FORMS
def test_other_episode_of_care_elements_without_a_place_are_counted(
    tmp_path: Path, form: str
) -> None:
    org = {"resourceType": "Organization", "id": "o1", "name": "Clinic"}
    support = {"resourceType": "RelatedPerson", "id": "rp", "patient": {"reference": "Patient/pt"}}
    eoc = _eoc(
        account=[{"reference": "Account/a1"}],
        type=[
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/episodeofcare-type",
                        "code": "hacc",
                    }
                ]
            }
        ],  # not a program type: no program
        managingOrganization={"reference": "Organization/o1"},  # the program's: dropped
        referralRequest=[{"display": "a referral"}],  # names nothing
        careManager={"reference": "RelatedPerson/rp"},  # a support, not a practitioner
        period={"start": "2026-01-10", "end": "2026-03-01"},  # a discharge, no disposition
    )
    plain = _both([_patient(), org, support, _eoc()], tmp_path / "plain", form)
    result = _both([_patient(), org, support, eoc], tmp_path / "more", form)
    added = result.unmapped - plain.unmapped
    assert added == Counter(
        {
            "EpisodeOfCare.account: not kept": 1,
            "EpisodeOfCare.type: not a program type (dropped)": 1,
            "EpisodeOfCare.referralRequest: not a ServiceRequest of the input (dropped)": 1,
            "EpisodeOfCare.managingOrganization: without a program type (dropped)": 1,
            "EpisodeOfCare.careManager: not a practitioner of the input (dropped)": 1,
        }
    )
    episode = result.episodes[0]
    assert episode.care_manager is None
    # R4's EpisodeOfCare has no disposition: its end alone is the discharge, kept
    assert episode.discharge is not None and episode.discharge.disposition is None
    assert str(episode.discharge.date) == "2026-03-01"


def _practitioner(rid: str) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "id": rid,
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": f"12345678{rid[-1]}"}],
        "name": [{"family": "Clinician"}],
    }


def _appointment(participants: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": "a1",
        "status": "booked",
        "start": "2026-02-02T10:00:00Z",
        "end": "2026-02-02T11:00:00Z",
        "participant": [
            {"actor": {"reference": "Patient/pt"}, "status": "accepted"},
            *participants,
        ],
    }


@FORMS
def test_appointment_participants_naming_nobody_are_counted(tmp_path: Path, form: str) -> None:
    named = [
        {"actor": {"reference": "Practitioner/dr1"}, "status": "accepted"},
        {  # a logical reference the input resolves: named
            "actor": {
                "type": "Practitioner",
                "identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": "123456782"},
            },
            "status": "accepted",
        },
    ]
    nameless = [
        {"actor": {"display": "Dr. Somebody"}, "status": "accepted"},
        {"actor": {"display": "Nurse"}, "status": "tentative"},
        {"type": [{"coding": [{"code": "ATND"}]}], "status": "needs-action"},  # no actor
    ]
    people = [_patient(), _eoc(), _practitioner("dr1"), _practitioner("dr2")]
    plain = _both([*people, _appointment(named)], tmp_path / "plain", form)
    result = _both([*people, _appointment(named + nameless)], tmp_path / "more", form)
    assert len(result.episodes[0].sessions) == 1
    assert result.episodes == plain.episodes  # the nameless ones were never kept
    added = result.unmapped - plain.unmapped
    assert added == Counter(
        {
            "Appointment.participant.actor: no reference (dropped)": 2,
            "Appointment.participant.actor: missing (participant dropped)": 1,
        }
    )


@FORMS
def test_encounter_participants_naming_nobody_are_counted(tmp_path: Path, form: str) -> None:
    encounter = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": {"reference": "Patient/pt"},
        "period": {"start": "2026-02-02T10:00:00Z", "end": "2026-02-02T11:00:00Z"},
        "participant": [{"individual": {"reference": "Practitioner/dr1"}}],
    }
    more = json.loads(json.dumps(encounter))
    more["participant"] += [{"individual": {"display": "Dr. Somebody"}}, {"type": [{"text": "x"}]}]
    people = [_patient(), _eoc(), _practitioner("dr1")]
    plain = _both([*people, encounter], tmp_path / "plain", form)
    result = _both([*people, more], tmp_path / "more", form)
    added = result.unmapped - plain.unmapped
    assert added == Counter({"Encounter.participant: not a practitioner or support (dropped)": 2})


# -- the CLI: --summary shows them, --strict refuses them, our own output has none ----------


def _import(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="iopfhir")
    cli_import.register(parser.add_subparsers())
    args = parser.parse_args(["import", *argv])
    return int(args.func(args))


def test_cli_summary_counts_and_strict_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.json"
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in (_patient(), _eoc(statusHistory=HISTORY))],
    }
    source.write_text(json.dumps(bundle))
    assert _import(str(source), "--summary") == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    by_type = summary["unmapped"]["EpisodeOfCare"]  # --summary: by type, then reason
    assert by_type == {"EpisodeOfCare.statusHistory: not kept": 2}
    assert "iopfhir: warning: EpisodeOfCare.statusHistory: not kept (2 times)" in captured.err
    out = tmp_path / "out.json"
    with pytest.raises(InputError, match="--strict"):
        _import(str(source), "--strict", "-o", str(out))
    assert not out.exists()


@pytest.mark.parametrize("name", ["mental-health-iop.yaml", "co-occurring-sud-iop.yaml"])
def test_our_own_output_has_nothing_to_count(name: str) -> None:
    episodes = load_episodes(EXAMPLES / name)
    data = dumps(transaction_bundle(episodes))
    whole, streamed = read_fhir(data), read_fhir_streamed(data)
    assert whole.episodes == streamed.episodes == episodes
    assert whole.unmapped == streamed.unmapped == Counter()


def test_an_episode_ended_without_a_disposition_keeps_its_end_both_ways() -> None:
    """An EpisodeOfCare that ended (``period.end``) with no disposition extension, as
    anyone else writes one, reads as a discharge without a disposition and is written back
    with the same end and status (the end was dropped, and with it the outcome measures'
    index date)."""
    eoc = _eoc(status="finished", period={"start": "2026-01-10", "end": "2026-03-01"})
    (episode,) = read_fhir([_patient(), eoc]).episodes
    assert episode.discharge is not None and episode.discharge.disposition is None
    written = [
        e["resource"]
        for e in collection_bundle([episode])["entry"]
        if e["resource"]["resourceType"] == "EpisodeOfCare"
    ]
    assert [(w["status"], w["period"]) for w in written] == [
        ("finished", {"start": "2026-01-10", "end": "2026-03-01"})
    ]
    assert "extension" not in written[0]
    assert read_fhir(collection_bundle([episode])).episodes[0] == episode
