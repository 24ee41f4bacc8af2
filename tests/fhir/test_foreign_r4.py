"""Others' FHIR R4, read without surprises (issue 11): shapes R4 allows that the corpus lacks.

The inputs in ``tests/data/foreign-r4`` are hand-built: a ``collection`` Bundle with absolute
``fullUrl``s (a 64-character id with dots and dashes, non-ASCII names, a primitive with only
an extension, a versioned, an absolute and a conditional reference, a nested QuestionnaireResponse,
a panel with ``hasMember`` and ``component``, a CareTeam of PractitionerRole / Organization /
RelatedPerson / CareTeam members, an open-ended Encounter, a total given as a bound), a folder
with mixed NDJSON (a BOM, CRLF, blank lines) beside a ``searchset`` Bundle, and NDJSON with
modifier extensions. Each is read by ``read_fhir`` and the streaming reader (the same answers)
and by ``iopfhir import``; what the model cannot hold is counted in ``unmapped`` with its
FHIRPath, never in silence and never with a value.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from iopfhir.domain.files import dump_episode
from iopfhir.fhir.read import ImportResult, read_fhir, read_fhir_streamed
from iopfhir.fhir.read.modifiers import MODIFIER_REASON, modifier_paths
from iopfhir.fhir.summary import summarize

DATA = Path(__file__).resolve().parents[1] / "data" / "foreign-r4"
COLLECTION = DATA / "ehr-collection.json"
PID = "pt-" + "a1b2.c3d4-" * 6 + "a"  # the 64-character id of the collection's patient


def _both(source: Any) -> tuple[ImportResult, ImportResult]:
    """``read_fhir`` and the streaming reader on ``source``: they must agree."""
    memory, streamed = read_fhir(source), read_fhir_streamed(source)
    assert summarize(memory, unmapped=True) == summarize(streamed, unmapped=True)
    assert [dump_episode(e) for e in memory.episodes] == [
        dump_episode(e) for e in streamed.episodes
    ]
    return memory, streamed


def _collection() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(COLLECTION.read_text(encoding="utf-8"))
    return data


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


PATIENT: dict[str, Any] = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Doe"}]}
ME = {"reference": "Patient/p1"}


@pytest.mark.parametrize(
    "source", [COLLECTION, DATA / "export", DATA / "modifiers.ndjson", DATA], ids=lambda p: p.name
)
def test_both_readers_agree(source: Path) -> None:
    memory, _ = _both(source)
    assert memory.patients >= 1


def test_the_collection_is_read_whole() -> None:
    result, _ = _both(COLLECTION)
    (episode,) = result.episodes
    patient = episode.patient
    assert patient is not None and patient.name is not None
    # non-ASCII text kept as written: a no-break space, Hebrew, an emoji
    assert patient.name.family == "Nu\u00f1ez\u00a0Garc\u00eda"
    assert patient.name.given == ["\u05d3\u05e0\u05d4", "Zo\u00eb \U0001f600"]
    assert patient.birth_date is None  # ``_birthDate`` carries only data-absent-reason
    # the versioned reference (a version the Bundle lacks) still names the patient
    assert episode.status == "active"
    assert [g.description for g in episode.goals] == ["Sleep through\u00a0the night"]
    measures = {m.key: m for m in episode.measures}
    assert measures["phq-total-1"].total == 12  # valueInteger, effectivePeriod
    # the panel (``component`` answers) and its ``hasMember`` total: one administration
    assert measures["phq-total-3"].answers == {f"q{i}": 1 for i in range(1, 10)}
    assert measures["phq-total-3"].total == 9
    assert set(measures["phq-total-3"].forms or ()) == {"items", "total", "panel"}
    assert measures["qr1"].answers == {"q1": 2, "q2": 2, "q3": 1, "q5": 0}  # nested items
    assert measures["qr1"].total == 11
    plan = episode.care_plans[0]
    assert plan.intent == "order" and plan.author == "pr1"  # conditional reference resolved


def test_a_total_given_as_a_bound_is_not_a_score() -> None:
    """``valueQuantity`` with a comparator (``>= 10``) says the score is at least 10: it is
    not taken as a total of 10 (it was)."""
    result, _ = _both(COLLECTION)
    assert "phq-total-2" not in {m.key for e in result.episodes for m in e.measures}
    assert result.unmapped["Observation: instrument without a score or answers"] == 1


def test_care_team_members_of_every_kind_and_a_team_left_empty() -> None:
    """A CareTeam member that is a CareTeam whose only member cannot be resolved used to
    drop both teams (an episode rule); now that member alone is dropped, and counted, as
    is a participant with a role and no member."""
    result, _ = _both(COLLECTION)
    (episode,) = result.episodes
    teams = {t.key: t for t in episode.teams}
    assert set(teams) == {"ct1", "ct2"}
    assert [m.member for m in teams["ct1"].members] == ["pr1", "org1", "rp1"]
    assert teams["ct2"].members == []
    assert result.unmapped["CareTeam.participant.member: a team without members (dropped)"] == 1
    assert result.unmapped["CareTeam.participant: no member (dropped)"] == 1
    assert (
        result.unmapped["CareTeam.participant.member: names no resource of the input (dropped)"]
        == 1
    )
    assert "Episode: teams dropped (broke an episode rule)" not in result.unmapped


def test_an_open_ended_encounter_is_said_to_end_at_its_start() -> None:
    result, _ = _both(COLLECTION)
    (session,) = result.episodes[0].sessions
    assert session.start == session.end  # the model needs an end...
    reason = "Encounter.period.end: missing (the session is read as ending when it starts)"
    assert result.unmapped[reason] == 1  # ...and says so


def test_care_plan_activity_parts_not_taken_are_counted() -> None:
    result, _ = _both(COLLECTION)
    for path, reason in [
        ("scheduledTiming", "not a repeat with a duration of at most 12 hours (dropped)"),
        ("scheduledString", "not taken (dropped)"),
        ("scheduledPeriod", "not taken (dropped)"),
        ("performer", "cannot be resolved (dropped)"),
    ]:
        assert result.unmapped[f"CarePlan.activity.detail.{path}: {reason}"] == 1, path


def test_export_folder_with_bom_crlf_blank_lines_and_a_searchset() -> None:
    result, _ = _both(DATA / "export")
    assert result.patients == 1
    (episode,) = result.episodes
    assert episode.patient is not None and episode.patient.key == "p.2-x"
    assert len(episode.diagnoses) == 1 and len(episode.sessions) == 1
    assert [m.instrument for m in episode.measures] == ["gad-7"]  # from the searchset
    assert result.ignored == Counter({"OperationOutcome": 1})  # search.mode = outcome
    assert result.unmapped["duplicate resource (same type and id): read once"] == 1


def test_modifier_extensions_are_counted_by_fhirpath_never_ignored() -> None:
    """R4: a modifier extension the reader does not understand is not ignored in silence.
    The resource is read as if it were absent and each FHIRPath holding one is counted
    (a warning of ``import``; ``--strict`` refuses); an ignored type is not looked at."""
    result, _ = _both(DATA / "modifiers.ndjson")
    assert result.unmapped[f"Patient.modifierExtension: {MODIFIER_REASON}"] == 1
    assert result.unmapped[f"CarePlan.activity.modifierExtension: {MODIFIER_REASON}"] == 1
    assert not any(k.startswith("Claim") for k in result.unmapped)
    assert result.ignored["Claim"] == 1
    text = json.dumps(summarize(result, unmapped=True))
    assert "ehr.example.org" not in text  # the extension's url is not repeated


def test_modifier_paths_walks_contained_and_primitives() -> None:
    resource = {
        "resourceType": "CareTeam",
        "contained": [{"resourceType": "Practitioner", "modifierExtension": [{"url": "u"}]}],
        "participant": [{"member": {"reference": "x"}, "modifierExtension": [{"url": "u"}]}] * 2,
        "_status": {"extension": [{"url": "u", "valueString": "modifierExtension"}]},
        "modifierExtension": [],  # empty: nothing to understand
    }
    assert modifier_paths(resource) == [
        "CareTeam.contained.modifierExtension",
        "CareTeam.participant.modifierExtension",
    ]


_ONE_OF_EACH: list[dict[str, Any]] = [
    {"resourceType": "EpisodeOfCare", "id": "eoc", "status": "active", "patient": ME},
    {"resourceType": "Practitioner", "id": "pr"},
    {
        "resourceType": "PractitionerRole",
        "id": "r",
        "practitioner": {"reference": "Practitioner/pr"},
    },
    {"resourceType": "Organization", "id": "o", "name": "x"},
    {
        "resourceType": "CareTeam",
        "id": "ct",
        "subject": ME,
        "participant": [{"member": {"reference": "PractitionerRole/r"}}],
    },
    {
        "resourceType": "Condition",
        "id": "c",
        "subject": ME,
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F33.1"}]},
    },
    {
        "resourceType": "QuestionnaireResponse",
        "id": "q",
        "status": "completed",
        "subject": ME,
        "authored": "2025-01-01T10:00:00Z",
        "questionnaire": "http://loinc.org/q/44249-1",
        "item": [{"linkId": "44250-9", "answer": [{"valueInteger": 1}]}],
    },
    {"resourceType": "Flag", "id": "f", "status": "active", "code": {"text": "x"}, "subject": ME},
]


@pytest.mark.parametrize(
    "bad",
    [{"system": 5, "value": "e/k"}, {"system": "https://iopfhir.org/fhir/id/patient", "value": 7}],
)
@pytest.mark.parametrize("rtype", ["Patient", *(r["resourceType"] for r in _ONE_OF_EACH)])
def test_an_identifier_that_is_not_strings_stops_nothing(rtype: str, bad: dict[str, Any]) -> None:
    """An identifier whose system or value is no string (not R4, but seen) crashed both
    readers (AttributeError in the check for iopfhir's own identifiers, run outside any
    mapping step: grouping, tagging, telling iopfhir's data), whatever its resource type;
    now it is not iopfhir's and the rest is read."""
    resources = copy.deepcopy([PATIENT, *_ONE_OF_EACH])
    for resource in resources:
        if resource["resourceType"] == rtype:
            resource["identifier"] = [bad]
    result, _ = _both(_bundle(*resources))
    (episode,) = result.episodes
    assert len(episode.diagnoses) == 1 and episode.status == "active"


def test_every_date_precision_r4_allows() -> None:
    """YYYY, YYYY-MM, YYYY-MM-DD, dateTime with ``Z``, an offset, fractional seconds (any
    number of digits): each read, the imprecise ones said so."""
    times = {
        "o1": "2025",
        "o2": "2025-04",
        "o3": "2025-04-03",
        "o4": "2025-04-03T10:00:00Z",
        "o5": "2025-04-03T10:00:00.123456789+14:00",
        "o6": "2024-02-29T23:59:59-12:00",
    }
    observations = [
        {
            "resourceType": "Observation",
            "id": key,
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
            "subject": ME,
            "effectiveDateTime": when,
            "valueInteger": 3,
        }
        for key, when in times.items()
    ]
    result, _ = _both(_bundle(PATIENT, *observations))
    assert len(result.episodes[0].measures) == len(times)
    reason = (
        "Observation.effectiveDateTime: date without a time (read as midnight UTC of its first day)"
    )
    assert result.unmapped[reason] == 3


def test_import_summary_is_the_readers_summary(tmp_path: Path) -> None:
    """``iopfhir import DIR --summary`` (the user's path) prints what the readers count,
    and its warnings name FHIRPaths, not values."""
    run = subprocess.run(
        [sys.executable, "-m", "iopfhir", "import", str(DATA), "--summary"],
        capture_output=True,
        text=True,
        check=True,
    )
    printed = json.loads(run.stdout)
    assert printed == summarize(read_fhir(DATA), unmapped=True)
    assert f"Patient.modifierExtension: {MODIFIER_REASON}" in run.stderr
    for value in ("MRN-77", "Okafor", "Nu\u00f1ez", "1234567893", "Walk daily"):
        assert value not in run.stderr and value not in run.stdout
    strict = subprocess.run(
        [
            sys.executable,
            "-m",
            "iopfhir",
            "import",
            str(DATA),
            "--strict",
            "-o",
            str(tmp_path / "e.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert strict.returncode == 2 and not (tmp_path / "e.json").exists()


def test_a_given_name_with_only_an_extension_is_said_so() -> None:
    """R4 JSON writes a repeating primitive that has only an extension as ``null`` in the
    array, the extension in ``_given``: valid R4, so not called "not a string"."""
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": "p1",
        "name": [
            {
                "family": "Doe",
                "given": [None, "Ann"],
                "_given": [
                    {
                        "extension": [
                            {
                                "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                                "valueCode": "masked",
                            }
                        ]
                    },
                    None,
                ],
            }
        ],
    }
    result, _ = _both(patient)
    patient_read = result.episodes[0].patient
    assert patient_read is not None and patient_read.name is not None
    assert patient_read.name.family == "Doe" and patient_read.name.given == ["Ann"]
    assert result.unmapped == {"Patient.name.given: no value, only an extension (dropped)": 1}
    patient["name"][0]["given"] = [5, "Ann"]  # not R4: a number
    result, _ = _both(patient)
    assert result.unmapped == {"Patient.name.given: not a string (dropped)": 1}
