"""Import → convert writes what the source had and nothing it did not (issue 11, point 3).

* The corpus Synthea and US Core files (``IOPFHIR_CORPUS``; these tests FAIL without it,
  never skip): imported, saved as an episode file, loaded and converted again, they give
  no more Appointments, Encounters, QuestionnaireResponses, DiagnosticReports and
  instrument Observations (by role: item, total, panel) than they had; ``derive=True``
  gives today's full output (an Appointment per Encounter).
* Every answer of every instrument is kept: C-SSRS answers beside a stated risk level,
  and a stated total that disagrees with the items (kept as written, reported at its
  FHIRPath without the value, surviving the episode file and a second FHIR round trip;
  the score, band and flags still come from the answers).
* Sessions and measures read from FHIR record their forms; a MedicationRequest naming a
  Medication by reference is a prescription with that Medication's code.

Expected numbers are counted from the inputs in each test, not taken from the output.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from iopfhir.domain import Episode, Measure, dump_episode, load_episodes
from iopfhir.fhir.build import episode_entries, with_derived
from iopfhir.fhir.read import read_fhir
from iopfhir.fhir.read.instruments import obs_role
from iopfhir.terminology import instrument

LOINC = "http://loinc.org"
WHEN = "2024-03-04T10:00:00+00:00"
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female"}
SUBJECT = {"reference": "Patient/p1"}


# -- helpers ---------------------------------------------------------------------------------


def _corpus() -> Path:
    value = os.environ.get("IOPFHIR_CORPUS")
    if not value or not Path(value).is_dir():
        pytest.fail("IOPFHIR_CORPUS must name the shared corpus folder (e.g. ../shared/corpus)")
    return Path(value)


def _corpus_cases() -> list[str]:
    value = os.environ.get("IOPFHIR_CORPUS")
    if not value or not Path(value).is_dir():
        return ["<corpus missing>"]  # fails in _corpus()
    root = Path(value)
    names = sorted(str(p.relative_to(root)) for p in (root / "synthea").rglob("*.json"))
    return [*names, "ig-examples/us-core"]


def _resources(path: Path) -> list[dict[str, Any]]:
    """The resources of a Bundle file or of a folder of resource files (not via iopfhir)."""
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    out: list[dict[str, Any]] = []
    for file in files:
        data = json.loads(file.read_text("utf-8"))
        if data.get("resourceType") == "Bundle":
            out += [e["resource"] for e in data.get("entry", []) if "resource" in e]
        elif "resourceType" in data:
            out.append(data)
    return out


def _counts(resources: Iterable[dict[str, Any]]) -> Counter[str]:
    """Resources by type; instrument Observations also by role (``Observation:panel``...)."""
    out: Counter[str] = Counter()
    for res in resources:
        out[res["resourceType"]] += 1
        if res["resourceType"] == "Observation":
            role = obs_role(res)
            if role is not None:
                out[f"Observation:{role[0]}"] += 1
    return out


def _reexport(episodes: list[Episode], tmp: Path, *, derive: bool = False) -> list[dict[str, Any]]:
    """The episodes through an episode file (as ``import`` + ``convert`` do), then FHIR."""
    file = tmp / "episodes.json"
    file.write_text(json.dumps([dump_episode(e) for e in episodes]), "utf-8")
    loaded = load_episodes(file)
    # the recorded forms and kept totals survive the episode file
    assert [(e.sessions, e.measures) for e in loaded] == [
        (e.sessions, e.measures) for e in episodes
    ]
    return [r for ep in loaded for _u, r in episode_entries(ep, ndjson=True, derive=derive)]


CHECKED = (
    "Appointment",
    "Encounter",
    "QuestionnaireResponse",
    "DiagnosticReport",
    "Observation:item",
    "Observation:total",
    "Observation:panel",
    "Flag",
    "RiskAssessment",
)


# -- the corpus ------------------------------------------------------------------------------


@pytest.mark.corpus
@pytest.mark.parametrize("name", _corpus_cases())
def test_corpus_reexport_invents_nothing(name: str, tmp_path: Path) -> None:
    path = _corpus() / name
    before = _counts(_resources(path))
    result = read_fhir(path)
    assert result.episodes
    after = _counts(_reexport(result.episodes, tmp_path))
    invented = {t: (before[t], after[t]) for t in CHECKED if after[t] > before[t]}
    assert invented == {}
    assert after["Observation"] <= before["Observation"]
    # every Encounter the reader took as a session is written back, and no Appointment
    sessions = sum(len(e.sessions) for e in result.episodes)
    assert after["Encounter"] == sessions
    assert after["Appointment"] == before["Appointment"] == 0


@pytest.mark.corpus
def test_corpus_derive_writes_the_full_output(tmp_path: Path) -> None:
    path = _corpus() / "synthea/inferno-uscore-synthea-v2.6/uscore_bundle_patient_85.json"
    before = _counts(_resources(path))
    result = read_fhir(path)
    plain = _counts(_reexport(result.episodes, tmp_path))
    derived = _counts(_reexport(result.episodes, tmp_path, derive=True))
    assert before["Appointment"] == plain["Appointment"] == 0
    # derive: an Appointment per session again, as an authored episode gets
    assert derived["Appointment"] == derived["Encounter"] == plain["Encounter"] > 0
    measures = sum(len(e.measures) for e in result.episodes)
    assert derived["QuestionnaireResponse"] == measures > plain["QuestionnaireResponse"]


# -- instruments: every answer, the stated total ------------------------------------------


def _answer(inst_id: str, item_id: str, points: int) -> dict[str, Any]:
    item = instrument(inst_id).item(item_id)
    option = next(a for a in item.answers if a.score == points)
    return {
        "linkId": f"/{item.code}",
        "answer": [{"valueCoding": {"system": option.system, "code": option.code}}],
    }


def _qr(inst_id: str, items: list[dict[str, Any]], rid: str = "qr1") -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "id": rid,
        "status": "completed",
        "questionnaire": instrument(inst_id).questionnaire,
        "subject": SUBJECT,
        "authored": WHEN,
        "item": items,
    }


def _risk_item(level: int) -> dict[str, Any]:
    inst = instrument("c-ssrs")
    coding = inst.total_coding(level)
    assert coding is not None
    return {"linkId": f"/{inst.total_code}", "answer": [{"valueCoding": coding}]}


def _read_again(episodes: list[Episode], tmp: Path) -> list[Episode]:
    return read_fhir(_reexport(episodes, tmp)).episodes


@pytest.mark.parametrize(
    ("answers", "level"),
    [
        # agreeing: q1 yes → low
        ({"q1": 1, "q2": 0, "q6": 0}, 1),
        # disagreeing: the answers give low, the source says high
        ({"q1": 1, "q2": 0, "q6": 0}, 3),
        # incomplete answers beside a level
        ({"q1": 1}, 2),
    ],
)
def test_cssrs_with_a_risk_level_keeps_its_answers(
    answers: dict[str, int], level: int, tmp_path: Path
) -> None:
    items = [_answer("c-ssrs", k, v) for k, v in answers.items()] + [_risk_item(level)]
    result = read_fhir([PATIENT, _qr("c-ssrs", items)])
    (measure,) = result.episodes[0].measures
    assert measure.answers == answers
    assert measure.total == level
    inst = instrument("c-ssrs")
    if inst.complete(answers):
        assert measure.score == inst.total(answers)  # the answers give the risk
    (again,) = _read_again(result.episodes, tmp_path)
    assert again.measures[0].answers == answers
    assert again.measures[0].total == level


@pytest.mark.parametrize("linked", [False, True])
def test_cssrs_observations_with_a_risk_level_keep_their_answers(
    linked: bool, tmp_path: Path
) -> None:
    inst = instrument("c-ssrs")
    answers = {"q1": 1, "q2": 0, "q6": 0}  # low; the source's level says high
    items = []
    for item_id, value in answers.items():
        item = inst.item(item_id)
        option = next(a for a in item.answers if a.score == value)
        items.append(
            {
                "resourceType": "Observation",
                "id": f"i-{item_id}",
                "status": "final",
                "code": {"coding": [{"system": LOINC, "code": item.code}]},
                "subject": SUBJECT,
                "effectiveDateTime": WHEN,
                "valueCodeableConcept": {
                    "coding": [{"system": option.system, "code": option.code}]
                },
            }
        )
    risk: dict[str, Any] = {
        "resourceType": "Observation",
        "id": "risk",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": inst.total_code}]},
        "subject": SUBJECT,
        "effectiveDateTime": WHEN,
        "valueCodeableConcept": {"coding": [inst.total_coding(3)]},
    }
    if linked:
        risk["hasMember"] = [{"reference": f"Observation/i-{k}"} for k in answers]
    result = read_fhir([PATIENT, *items, risk])
    (measure,) = result.episodes[0].measures
    assert (measure.answers, measure.total, measure.forms) == (answers, 3, ["items", "total"])
    assert measure.band == "low"
    (warning,) = result.warnings
    assert warning.path == "Observation.value"
    out = _counts(_reexport(result.episodes, tmp_path))
    assert (out["Observation:item"], out["Observation:total"], out["RiskAssessment"]) == (3, 1, 0)
    (again,) = _read_again(result.episodes, tmp_path)
    assert (again.measures[0].answers, again.measures[0].total) == (answers, 3)


def _phq9_observations(points: dict[str, int], total: int) -> list[dict[str, Any]]:
    inst = instrument("phq-9")
    out: list[dict[str, Any]] = []
    members = []
    for item_id, value in points.items():
        item = inst.item(item_id)
        option = next(a for a in item.answers if a.score == value)
        out.append(
            {
                "resourceType": "Observation",
                "id": f"i-{item_id}",
                "status": "final",
                "code": {"coding": [{"system": LOINC, "code": item.code}]},
                "subject": SUBJECT,
                "effectiveDateTime": WHEN,
                "valueCodeableConcept": {
                    "coding": [{"system": option.system, "code": option.code}]
                },
            }
        )
        members.append({"reference": f"Observation/i-{item_id}"})
    out.append(
        {
            "resourceType": "Observation",
            "id": "total",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": inst.total_code}]},
            "subject": SUBJECT,
            "effectiveDateTime": WHEN,
            "valueQuantity": {"value": total},
        }
    )
    members.append({"reference": "Observation/total"})
    out.append(
        {
            "resourceType": "Observation",
            "id": "panel",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": inst.panel_code}]},
            "subject": SUBJECT,
            "effectiveDateTime": WHEN,
            "hasMember": members,
        }
    )
    return out


def test_stated_total_disagreeing_with_the_items_is_kept_and_reported(tmp_path: Path) -> None:
    points = {f"q{i}": 1 for i in range(1, 10)}  # 9 points; the source states 17
    resources = [PATIENT, *_phq9_observations(points, 17)]
    result = read_fhir(resources)
    (measure,) = result.episodes[0].measures
    assert (measure.answers, measure.total, measure.score) == (points, 17, 9)
    assert measure.band == instrument("phq-9").band(9)
    (warning,) = [w for w in result.warnings if "total" in w.reason]
    assert warning.path == "Observation.value"
    assert "17" not in str(warning) and "9" not in warning.reason
    # the source had items, a total and a panel: that is what is written again
    out = _counts(_reexport(result.episodes, tmp_path))
    assert (out["Observation:item"], out["Observation:total"], out["Observation:panel"]) == (
        9,
        1,
        1,
    )
    assert out["QuestionnaireResponse"] == 0
    total_obs = [
        r
        for r in _reexport(result.episodes, tmp_path)
        if obs_role(r) is not None and obs_role(r)[0] == "total"  # type: ignore[index]
    ]
    assert total_obs[0]["valueQuantity"]["value"] == 17  # as written
    (again,) = _read_again(result.episodes, tmp_path)
    assert (again.measures[0].total, again.measures[0].answers) == (17, points)


def test_authored_measure_may_not_disagree_with_itself() -> None:
    points = {f"q{i}": 1 for i in range(1, 10)}
    with pytest.raises(ValidationError, match="does not match"):
        Measure(
            key="m",
            instrument="phq-9",
            date=datetime(2024, 3, 4, tzinfo=UTC),
            answers=points,
            total=17,
        )
    imported = Measure(
        key="m",
        instrument="phq-9",
        date=datetime(2024, 3, 4, tzinfo=UTC),
        answers=points,
        total=17,
        forms=["items", "total", "panel"],
    )
    assert imported.stated_disagrees and imported.score == 9


def test_total_only_score_is_written_as_a_total_only(tmp_path: Path) -> None:
    total = {
        "resourceType": "Observation",
        "id": "t",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": instrument("phq-9").total_code}]},
        "subject": SUBJECT,
        "effectiveDateTime": WHEN,
        "valueQuantity": {"value": 12},
    }
    result = read_fhir([PATIENT, total])
    (measure,) = result.episodes[0].measures
    assert measure.forms == ["total"]
    out = _counts(_reexport(result.episodes, tmp_path))
    assert (out["QuestionnaireResponse"], out["Observation:total"], out["Observation:panel"]) == (
        0,
        1,
        0,
    )
    full = _counts(_reexport(result.episodes, tmp_path, derive=True))
    assert (
        full["QuestionnaireResponse"],
        full["Observation:total"],
        full["Observation:panel"],
    ) == (
        1,
        1,
        1,
    )


# -- sessions ------------------------------------------------------------------------------


def test_encounter_only_session_gets_no_appointment(tmp_path: Path) -> None:
    encounter = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": SUBJECT,
        "period": {"start": WHEN, "end": "2024-03-04T11:00:00+00:00"},
    }
    appointment = {
        "resourceType": "Appointment",
        "id": "a2",
        "status": "booked",
        "start": "2024-03-05T10:00:00+00:00",
        "end": "2024-03-05T11:00:00+00:00",
        "participant": [{"actor": SUBJECT, "status": "accepted"}],
    }
    result = read_fhir([PATIENT, encounter, appointment])
    sessions = result.episodes[0].sessions
    assert [s.forms for s in sessions] == [["encounter"], ["appointment"]]
    out = _counts(_reexport(result.episodes, tmp_path))
    assert (out["Appointment"], out["Encounter"]) == (1, 1)
    full = _counts(_reexport(result.episodes, tmp_path, derive=True))
    assert (full["Appointment"], full["Encounter"]) == (2, 2)
    (again,) = _read_again(result.episodes, tmp_path)
    assert again.sessions == sessions


def test_with_derived_leaves_authored_episodes_alone() -> None:
    example = Path(__file__).resolve().parents[2] / "src/iopfhir/examples/mental-health-iop.yaml"
    (episode,) = load_episodes(example)
    assert with_derived(episode) is episode
    assert episode_entries(episode, derive=True) == episode_entries(episode)


def test_cli_convert_derive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from iopfhir.cli import main

    encounter = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": SUBJECT,
        "period": {"start": WHEN, "end": "2024-03-04T11:00:00+00:00"},
    }
    source = tmp_path / "in.json"
    source.write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": PATIENT}, {"resource": encounter}],
            }
        ),
        "utf-8",
    )
    episodes = tmp_path / "episodes.json"
    assert main(["import", str(source), "-o", str(episodes)]) == 0
    counts = {}
    for flag in ([], ["--derive"]):
        out = tmp_path / f"out{len(flag)}.json"
        assert main(["convert", str(episodes), "-o", str(out), *flag]) == 0
        bundle = json.loads(out.read_text("utf-8"))
        counts[bool(flag)] = Counter(e["resource"]["resourceType"] for e in bundle["entry"])
    assert (counts[False]["Appointment"], counts[False]["Encounter"]) == (0, 1)
    assert (counts[True]["Appointment"], counts[True]["Encounter"]) == (1, 1)
    capsys.readouterr()


# -- medications ---------------------------------------------------------------------------


RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@pytest.mark.parametrize("contained", [False, True])
def test_medication_reference_is_a_prescription(contained: bool) -> None:
    medication = {
        "resourceType": "Medication",
        "id": "med1",
        "code": {"coding": [{"system": RXNORM, "code": "312938"}]},
    }
    request: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": "rx1",
        "status": "active",
        "intent": "order",
        "subject": SUBJECT,
        "medicationReference": {"reference": "#med1" if contained else "Medication/med1"},
    }
    resources: list[dict[str, Any]] = [PATIENT, request]
    if contained:
        request["contained"] = [medication]
    else:
        resources.append(medication)
    result = read_fhir(resources)
    (rx,) = result.episodes[0].prescriptions
    assert (rx.code.system, rx.code.code) == (RXNORM, "312938")
    assert not any("MedicationRequest" in k for k in result.unmapped)


def test_medication_reference_without_a_code_is_counted() -> None:
    request = {
        "resourceType": "MedicationRequest",
        "id": "rx1",
        "status": "active",
        "intent": "order",
        "subject": SUBJECT,
        "medicationReference": {"reference": "Medication/nowhere"},
    }
    result = read_fhir([PATIENT, request])
    assert result.episodes[0].prescriptions == []
    assert result.unmapped["MedicationRequest: no coded medication"] == 1
