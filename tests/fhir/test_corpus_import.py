"""Reading FHIR written by others: every corpus file reads, and exact counts for the patients.

The corpus path comes from ``IOPFHIR_CORPUS`` (``.ci/run`` passes ``/work/shared/corpus``);
these tests FAIL when it is missing, they never skip.

The expected numbers below were counted from the files themselves with ``jq`` (commands
in the comments), not taken from this package's output. The counting rules they apply
are the reader's documented ones:

* ``patients``: Patient resources (one group per Patient; copies with the same id are one);
* ``episodes``: EpisodeOfCare resources; none of these files has one, so 0;
* ``care_plans`` / ``care_teams`` / ``conditions``: CarePlan / CareTeam / Condition resources
  (Conditions with a coded ``code``);
* ``team_members``: distinct resolvable ``CareTeam.participant.member`` targets, a
  PractitionerRole counting as its Practitioner;
* ``sessions``: Encounters plus Appointments not linked to an Encounter (none here);
* ``goals``: Goals referenced from a CarePlan's ``goal``;
* ``measures``: administrations recognised from a panel/total LOINC code or a
  QuestionnaireResponse of a known instrument, deduplicated;
* ``ignored``: resources of types the domain does not take, plus Observations whose code
  is not a code of a known instrument (vital signs, labs, smoking status...).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from iopfhir.errors import FhirInputError
from iopfhir.fhir.read import read_fhir
from iopfhir.fhir.summary import summarize

pytestmark = pytest.mark.corpus


def _corpus_root() -> Path | None:
    value = os.environ.get("IOPFHIR_CORPUS")
    return Path(value) if value else None


@pytest.fixture
def corpus() -> Path:
    """The corpus folder; fails (never skips) when ``IOPFHIR_CORPUS`` is unset or wrong."""
    root = _corpus_root()
    if root is None or not root.is_dir():
        pytest.fail("IOPFHIR_CORPUS must name the shared corpus folder (e.g. ../shared/corpus)")
    return root


#: JSON files in the corpus that are not FHIR resources (npm package metadata).
NOT_FHIR = {"hl7-examples/r4-core-examples/_package.json"}


def _corpus_files() -> list[str]:
    root = _corpus_root()
    if root is None or not root.is_dir():
        # Collected without a corpus: one placeholder case, which fails in the fixture.
        return ["<corpus missing>"]
    out: list[str] = []
    for folder in ("hl7-examples", "ig-examples", "synthea"):
        out += sorted(str(p.relative_to(root)) for p in (root / folder).rglob("*.json"))
    return [f for f in out if f not in NOT_FHIR]


@pytest.mark.parametrize("name", _corpus_files())
def test_every_corpus_file_reads(corpus: Path, name: str) -> None:
    result = read_fhir(corpus / name)
    summary = summarize(result)
    assert summary["patients"] == result.patients
    assert list(summary) == [
        "patients",
        "episodes",
        "care_plans",
        "care_teams",
        "team_members",
        "sessions",
        "conditions",
        "goals",
        "reviews",
        "medications",
        "prescriptions",
        "allergies",
        "measures",
        "ignored",
    ]


def test_package_json_is_not_fhir(corpus: Path) -> None:
    path = corpus / "hl7-examples/r4-core-examples/_package.json"
    with pytest.raises(FhirInputError) as info:
        read_fhir(path)
    assert "_package.json" in str(info.value)
    assert "resourceType" in str(info.value)


# -- Synthea 2.4 (SMART sample data) -----------------------------------------------------
#
# For each file F, with INSTR the regex of every panel/total/item LOINC code in
# terminology/data/instruments.json:
#   jq -r '.entry[].resource.resourceType' F | sort | uniq -c       → types and counts
#   jq '[.entry[].resource|select(.resourceType=="CarePlan")]|length' F   (likewise CareTeam,
#       Encounter, Appointment, EpisodeOfCare, Condition with .code.coding[0].code)
#   jq '[.entry[].resource|select(.resourceType=="CarePlan")|.goal[]?.reference]|unique|length' F
#       → goals (every Goal in these files is referenced by exactly one CarePlan)
#   jq -r '.entry[].resource|select(.resourceType=="Observation")|.code.coding[].code' F
#       | grep -cE "^(INSTR)$"  → 0 in every Synthea 2.4 file: no measures, and every
#       Observation is ignored.
# Ignored = Claim, DiagnosticReport, ExplanationOfBenefit, ImagingStudy, Immunization,
# Procedure counts from the uniq -c list, plus all Observations (MedicationRequest,
# MedicationStatement and AllergyIntolerance are read: prescriptions, medications, allergies).

SYNTHEA = "synthea/synthea-v2.4-2019-smart"


def _summary(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "patients": 1,
        "episodes": 0,
        "care_plans": 0,
        "care_teams": 0,
        "team_members": 0,
        "sessions": 0,
        "conditions": 0,
        "goals": 0,
        "reviews": 0,
        "medications": 0,
        "prescriptions": 0,
        "allergies": 0,
        "measures": {},
        "ignored": {},
    }
    base.update(kw)
    return base


SYNTHEA_EXPECTED = {
    # 6 CarePlan, 14 Condition, 50 Encounter, 5 Goal; 80 Claim, 39 DiagnosticReport,
    # 50 ExplanationOfBenefit, 11 Immunization, 30 MedicationRequest, 448 Observation,
    # 14 Procedure (1 Organization, 1 Practitioner are mapped, not ignored)
    "Darron_Feeney_ff447d4a-3e5c-4e90-9854-a66a1d0bdfac.json": _summary(
        care_plans=6,
        sessions=50,
        conditions=14,
        goals=5,
        prescriptions=30,
        ignored={
            "Claim": 80,
            "DiagnosticReport": 39,
            "ExplanationOfBenefit": 50,
            "Immunization": 11,
            "Observation": 448,
            "Procedure": 14,
        },
    ),
    # 4 CarePlan, 7 Condition, 24 Encounter, 5 Goal; 26 Claim, 15 DiagnosticReport,
    # 24 ExplanationOfBenefit, 11 Immunization, 2 MedicationRequest, 177 Observation,
    # 9 Procedure
    "Gilberto_Orosco_6ece62f3-283c-4387-aa9b-affba8ebf4c3.json": _summary(
        care_plans=4,
        sessions=24,
        conditions=7,
        goals=5,
        prescriptions=2,
        ignored={
            "Claim": 26,
            "DiagnosticReport": 15,
            "ExplanationOfBenefit": 24,
            "Immunization": 11,
            "Observation": 177,
            "Procedure": 9,
        },
    ),
    # 7 CarePlan, 5 Condition, 15 Encounter, 5 Goal; 18 Claim, 11 DiagnosticReport,
    # 15 ExplanationOfBenefit, 9 Immunization, 3 MedicationRequest, 124 Observation,
    # 5 Procedure
    "Milan_Beatty_e78d0ed2-1b54-4c30-90ae-f7405af1e402.json": _summary(
        care_plans=7,
        sessions=15,
        conditions=5,
        goals=5,
        prescriptions=3,
        ignored={
            "Claim": 18,
            "DiagnosticReport": 11,
            "ExplanationOfBenefit": 15,
            "Immunization": 9,
            "Observation": 124,
            "Procedure": 5,
        },
    ),
    # 6 CarePlan, 9 Condition, 30 Encounter, 3 Goal; 40 Claim, 12 DiagnosticReport,
    # 30 ExplanationOfBenefit, 5 ImagingStudy, 11 Immunization, 10 MedicationRequest,
    # 176 Observation, 28 Procedure
    "Roberto_Graham_238a58eb-31dc-4054-82ee-0651ee76f391.json": _summary(
        care_plans=6,
        sessions=30,
        conditions=9,
        goals=3,
        prescriptions=10,
        ignored={
            "Claim": 40,
            "DiagnosticReport": 12,
            "ExplanationOfBenefit": 30,
            "ImagingStudy": 5,
            "Immunization": 11,
            "Observation": 176,
            "Procedure": 28,
        },
    ),
    # 1 CarePlan, 2 Condition, 33 Encounter, no Goal; 33 Claim, 4 DiagnosticReport,
    # 33 ExplanationOfBenefit, 4 Immunization, 52 Observation, 2 Procedure
    "Trenton_Turner_54a45132-91fc-485e-b401-8c7644a0d517.json": _summary(
        care_plans=1,
        sessions=33,
        conditions=2,
        ignored={
            "Claim": 33,
            "DiagnosticReport": 4,
            "ExplanationOfBenefit": 33,
            "Immunization": 4,
            "Observation": 52,
            "Procedure": 2,
        },
    ),
    # 3 CarePlan, 6 Condition, 20 Encounter, 5 Goal; 23 Claim, 15 DiagnosticReport,
    # 20 ExplanationOfBenefit, 11 Immunization, 3 MedicationRequest, 195 Observation,
    # 13 Procedure
    "Trey_Leffler_250ebf4a-c818-428c-81a6-c0e46a816512.json": _summary(
        care_plans=3,
        sessions=20,
        conditions=6,
        goals=5,
        prescriptions=3,
        ignored={
            "Claim": 23,
            "DiagnosticReport": 15,
            "ExplanationOfBenefit": 20,
            "Immunization": 11,
            "Observation": 195,
            "Procedure": 13,
        },
    ),
}


@pytest.mark.parametrize("name", sorted(SYNTHEA_EXPECTED))
def test_synthea_patient_counts(corpus: Path, name: str) -> None:
    assert summarize(read_fhir(corpus / SYNTHEA / name)) == SYNTHEA_EXPECTED[name]


def test_synthea_folder_reads_all_six_patients(corpus: Path) -> None:
    summary = summarize(read_fhir(corpus / SYNTHEA))
    assert summary["patients"] == 6
    assert summary["sessions"] == sum(s["sessions"] for s in SYNTHEA_EXPECTED.values())


# -- Inferno US Core patient 85 ------------------------------------------------------------
#
# jq -r '.entry[].resource.resourceType' F | sort | uniq -c:
#   6 CarePlan, 6 CareTeam, 13 Condition, 1 Coverage, 20 DiagnosticReport,
#   25 DocumentReference, 60 Encounter, 1 Endpoint, 20 Immunization, 2 Location, 1 Media,
#   1 Medication, 2 MedicationDispense, 13 MedicationRequest, 66 Observation,
#   2 Organization, 1 Patient, 2 Practitioner, 2 PractitionerRole, 20 Procedure,
#   1 Provenance, 1 RelatedPerson, 1 Specimen; no Goal, Appointment, EpisodeOfCare.
# team members: jq -r '.entry[].resource|select(.resourceType=="CareTeam")
#   |.participant[]?.member.reference' F | sort -u → 4 (the Patient, the RelatedPerson,
#   Practitioner 8bee2ee3..., Organization b0e04623...), all present in the bundle.
# Observations with an instrument code (grep INSTR as above) → 6, by hand:
#   * 8c0a9a88 PHQ-2 total 55758-7 = 2, derivedFrom item 86744768 (44250-9, hasMember
#     8d0f6cc9, another 44250-9) → one PHQ-2 administration;
#   * a7338847 AUDIT-C total 75626-2 with dataAbsentReason and no value, no items → no
#     administration (nothing to score);
#   * 7fcb009a (44250-9) and 8429d80d (44255-8) at 2022-11-29T20:50:32.718: item
#     Observations with no panel, total or QuestionnaireResponse → not an administration
#     (PHQ-2 and PHQ-9 share these items).
# → measures {"phq-2": 1}; ignored Observation = 66 - 6 = 60.
# MedicationRequest: jq -r '.entry[].resource|select(.resourceType=="MedicationRequest")
#   |has("medicationReference")' F | sort | uniq -c → 12 false, 1 true.


def test_inferno_patient_85(corpus: Path) -> None:
    path = corpus / "synthea/inferno-uscore-synthea-v2.6/uscore_bundle_patient_85.json"
    result = read_fhir(path)
    assert summarize(result) == {
        "patients": 1,
        "episodes": 0,
        "care_plans": 6,
        "care_teams": 6,
        "team_members": 4,
        "sessions": 60,
        "conditions": 13,
        "goals": 0,
        "reviews": 0,
        "medications": 0,
        # 13 MedicationRequest: 12 code their medication; one refers to the bundle's
        # Medication resource instead, whose code it takes (issue 11)
        "prescriptions": 13,
        "allergies": 0,
        "measures": {"phq-2": 1},
        "ignored": {
            "Coverage": 1,
            "DiagnosticReport": 20,
            "DocumentReference": 25,
            "Endpoint": 1,
            "Immunization": 20,
            "Media": 1,
            "Medication": 1,
            "MedicationDispense": 2,
            "Observation": 60,
            "Procedure": 20,
            "Provenance": 1,
            "Specimen": 1,
        },
    }
    # the two Locations are the Encounters' (kept with the episode since issue 11)
    assert len(result.episodes[0].locations) == 2
    (phq2,) = result.episodes[0].measures
    # total given; the one linked item (44250-9 "Not at all") scores 0
    assert (phq2.total, phq2.answers) == (2, {"q1": 0})
    assert result.unmapped["Observation: instrument item without its instrument"] == 2


# -- PACIO -------------------------------------------------------------------------------
#
# toc-test-kit/toc-bundle-{transaction,documentation}.json, each:
#   jq -r '.entry[].resource.resourceType' F | sort | uniq -c → 1 AllergyIntolerance,
#   1 CarePlan, 1 Composition, 1 Condition, 1 Encounter, 1 List, 1 Location,
#   1 MedicationRequest, 1 MedicationStatement, 1 Observation (89381-8, not an instrument),
#   1 Organization, 1 Patient, 2 Practitioner, 2 PractitionerRole, 1 ServiceRequest.
#   CarePlan has no goal; the Encounter has no appointment.
# Read as a document (by its Composition's sections): the Encounter is the stay the patient
# comes from, so it makes the referral (one episode) and is not a session; the Composition is
# read, the List stands for its items and is not taken itself.

TOC = _summary(
    episodes=1,
    care_plans=1,
    conditions=1,
    medications=1,
    prescriptions=1,
    allergies=1,
    ignored={
        "List": 1,
        "Observation": 1,
    },
)


@pytest.mark.parametrize("name", ["toc-bundle-transaction.json", "toc-bundle-documentation.json"])
def test_pacio_toc_bundles(corpus: Path, name: str) -> None:
    assert summarize(read_fhir(corpus / "ig-examples/pacio/toc-test-kit" / name)) == TOC


BSJ = "ig-examples/pacio/sample-data-depot-bsj"


def test_pacio_bsj_phq9_response(corpus: Path) -> None:
    # One QuestionnaireResponse, questionnaire .../Questionnaire/44249-1 (the PHQ-9 panel
    # code), nine items /44250-9 ... /44260-8 answered LA codes (each also carrying an
    # ordinalValue) and /44261-6 valueDecimal 23. Points by hand: 2+3+2+3+2+2+3+3+3 = 23.
    result = read_fhir(
        corpus
        / BSJ
        / "scene_2/QuestionnaireResponse"
        / "betsysmith-johnson01-qr-phq9-snf-admission-01.json"
    )
    # The subject Patient/patient-betsysmith-johnson01 is not in this file: one patient
    # known only by reference.
    assert summarize(result) == _summary(measures={"phq-9": 1})
    (measure,) = result.episodes[0].measures
    assert measure.total == 23
    assert measure.answers == {
        "q1": 2,
        "q2": 3,
        "q3": 2,
        "q4": 3,
        "q5": 2,
        "q6": 2,
        "q7": 3,
        "q8": 3,
        "q9": 3,
    }


def test_pacio_bsj_folder(corpus: Path) -> None:
    # The whole sample-data folder (29 files, walked recursively):
    #   grep -rl '"resourceType": *"Patient"' → the same Patient (id
    #   patient-betsysmith-johnson01) inside the three scene Bundles: one patient.
    #   Every patient reference is "Patient/patient-betsysmith-johnson01" (grep -rhoE).
    # Distinct resources (Bundles unpacked, `jq -r 'if .resourceType=="Bundle" then
    #   (.entry[].resource|"\(.resourceType)\t\(.id)") else "\(.resourceType)\t\(.id)"
    #   end'` over every file | sort -u | cut -f1 | uniq -c): 2 CarePlan, 1 CareTeam,
    #   3 Composition, 4 Condition, 1 Goal, 4 List, 2 MedicationRequest,
    #   1 MedicationStatement, 3 Observation (85354-9 BP, 8867-4 heart rate, 85353-1 vital
    #   signs panel: no instrument), 1 Patient, 2 Questionnaire, 3 QuestionnaireResponse,
    #   1 RelatedPerson, 1 ServiceRequest.
    # Conditions: condition-4219 has code {"text": "Physical Therapy"} only → 3 mapped.
    # Goal 4218 is referenced by careplan-4144 (.goal → Goal/4218) → 1 goal.
    # QuestionnaireResponses: PHQ-9 (→ 1 measure), BIMS and NIH stroke scale (not
    #   instruments of the package → ignored 2).
    # CareTeam members: 8 participants (7 PractitionerRole, 1 Practitioner references),
    #   none present in the folder → 0 members.
    result = read_fhir(corpus / BSJ)
    assert summarize(result) == _summary(
        care_plans=2,
        care_teams=1,
        conditions=3,
        goals=1,
        medications=1,
        prescriptions=2,
        measures={"phq-9": 1},
        ignored={  # the Compositions are read (their sections) and not ignored
            "List": 4,
            "Observation": 3,
            "Questionnaire": 2,
            "QuestionnaireResponse": 2,
        },
    )


# -- US Core screening-assessment examples ---------------------------------------------------

US_CORE = "ig-examples/us-core"


def _names(corpus: Path, pattern: str) -> list[str]:
    return sorted(p.name for p in (corpus / US_CORE).glob(pattern))


def _load(corpus: Path, names: list[str]) -> list[dict[str, Any]]:
    return [json.loads((corpus / US_CORE / n).read_text("utf-8")) for n in names]


def test_us_core_phq9_set_counts_once(corpus: Path) -> None:
    # QuestionnaireResponse-phq-9-example + Observation-PHQ9-panel-example-44249-1 +
    # Observation-PHQ9-item-example-* (9 items, the difficulty item 69722-7 and the total
    # 44261-6 = valueString "12"): all effective 2022-11-29T20:50:32.718Z, panel hasMember
    # → every item, every Observation derivedFrom → the QR. One administration.
    names = ["QuestionnaireResponse-phq-9-example.json", *_names(corpus, "Observation-PHQ9-*.json")]
    assert len(names) == 13
    result = read_fhir(_load(corpus, names))
    assert summarize(result) == _summary(measures={"phq-9": 1})
    (measure,) = result.episodes[0].measures
    # answers LA6570-1 x 5 (2 points), LA6569-3 x 2 (1), LA6568-5 x 2 (0): 10+2 = 12
    assert measure.total == 12
    assert sum(v for k, v in measure.answers.items() if k != "difficulty") == 12


def test_us_core_audit_c_uses_the_given_total(corpus: Path) -> None:
    # US Core's AUDIT-C asks 68517-2 where LOINC's AUDIT-C item 1 is 68518-0: that item
    # cannot be scored, so the administration is incomplete, and the given total
    # (75626-2 = 0) is used. QR + panel + 4 item/total Observations → one administration.
    names = ["QuestionnaireResponse-AUDIT-C.json", *_names(corpus, "Observation-AUDIT-C-*")]
    result = read_fhir(_load(corpus, names))
    summary = summarize(result)
    assert summary["measures"] == {"audit-c": 1}
    (measure,) = result.episodes[0].measures
    assert measure.total == 0
    assert "q1" not in measure.answers
    assert measure.answers == {"q2": 0, "q3": 0}
