"""The builder's output for a rich episode conforms to the profiles (iopfhir.validation).

The validator is run twice: on the package as published (StructureDefinitions with SUSHI's
snapshots), and on the same profiles given as differentials only (the validator builds the
snapshots). Negative cases show the profiles are really applied.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from profile_support import BASE, DATA, PACKAGE, load_package

from iopfhir.domain import Episode
from iopfhir.domain.files import iter_episodes
from iopfhir.fhir.build import episode_entries
from iopfhir.fhir.bundle import transaction_bundle
from iopfhir.fhir.conventions import EXT, PROFILE
from iopfhir.fhir.disclosure import disclose
from iopfhir.fhir.document import document_reference, toc_document
from iopfhir.validation import ValidationReport, Validator

RICH = DATA / "rich-episode.yaml"


@cache
def _episode() -> Episode:
    (episode,) = iter_episodes(Path(RICH))
    return episode


def _differentials() -> list[dict[str, Any]]:
    out = []
    for res in load_package().values():
        if res["resourceType"] == "StructureDefinition":
            res = {k: v for k, v in res.items() if k != "snapshot"}
        out.append(res)
    return out


@cache
def _validator(kind: str) -> Validator:
    if kind == "package":
        return Validator([PACKAGE])
    return Validator(_differentials())


def _errors(report: ValidationReport) -> list[str]:
    return [f"{i.path}: {i.message}" for i in report.issues if i.severity in ("error", "fatal")]


def test_rich_episode_uses_every_emitted_profile() -> None:
    doc = toc_document(_episode(), at="discharge")
    resources = [
        *(res for _, res in episode_entries(_episode())),
        doc,
        *(e["resource"] for e in doc["entry"]),
        document_reference(doc),
        # the record of disclosing the episode under its consent
        *disclose(
            transaction_bundle([_episode()]), recipient="st-luke", at=date(2026, 2, 1)
        ).audit_events,
    ]
    claimed = {p for res in resources for p in (res.get("meta") or {}).get("profile", [])}
    expected = {v for k, v in vars(PROFILE).items() if k.isupper() and isinstance(v, str)} | {
        PROFILE.observation_total(i) for i in ("phq-9", "phq-2", "gad-7", "audit-c", "c-ssrs")
    }
    assert claimed == expected
    used_ext = json.dumps([res for _, res in episode_entries(_episode())])
    for url in (EXT.PROGRAM, EXT.DISCHARGE_DISPOSITION, EXT.DELIVERY_SETTING, EXT.THERAPY_MODALITY):
        assert url in used_ext


def test_rich_episode_conforms_to_the_differentials() -> None:
    report = _validator("differential").validate(transaction_bundle([_episode()]))
    assert _errors(report) == []


def test_rich_episode_conforms_to_the_package() -> None:
    report = _validator("package").validate(transaction_bundle([_episode()]))
    assert _errors(report) == []


def test_ndjson_resources_conform_one_by_one() -> None:
    v = _validator("differential")
    for _, res in episode_entries(_episode(), ndjson=True):
        assert _errors(v.validate(res)) == [], res["resourceType"]


def _resource(profile: str) -> dict[str, Any]:
    """A deep copy of the first resource of the rich episode that claims ``profile``."""
    return copy.deepcopy(
        next(
            res
            for _, res in episode_entries(_episode(), ndjson=True)
            if profile in (res.get("meta") or {}).get("profile", [])
        )
    )


def _drop_gender(res: dict[str, Any]) -> None:
    del res["gender"]


def _drop_plan_kind(res: dict[str, Any]) -> None:
    res["category"] = res["category"][1:]


def _emergency_class(res: dict[str, Any]) -> None:
    res["class"] = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"}


def _wrong_total_code(res: dict[str, Any]) -> None:
    res["code"] = {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]}


def _total_out_of_range(res: dict[str, Any]) -> None:
    res["valueQuantity"]["value"] = 7


def _unknown_disposition(res: dict[str, Any]) -> None:
    ext = next(x for x in res["extension"] if x["url"] == EXT.DISCHARGE_DISPOSITION)
    ext["valueCodeableConcept"] = {
        "coding": [{"system": f"{BASE}/CodeSystem/discharge-disposition", "code": "escaped"}]
    }


def _no_program_name(res: dict[str, Any]) -> None:
    ext = next(x for x in res["extension"] if x["url"] == EXT.PROGRAM)
    ext["extension"] = [x for x in ext["extension"] if x["url"] != "name"]


def _careteam_role_missing(res: dict[str, Any]) -> None:
    del res["participant"][0]["role"]


def _relapse_code_unknown(res: dict[str, Any]) -> None:
    res["activity"][0]["detail"]["code"] = {
        "coding": [{"system": f"{BASE}/CodeSystem/relapse-element", "code": "hobby"}]
    }


def _item_answer_unknown(res: dict[str, Any]) -> None:
    res["valueCodeableConcept"] = {"coding": [{"system": "http://loinc.org", "code": "LA9999-9"}]}


def _no_identifier(res: dict[str, Any]) -> None:
    del res["identifier"]


Breakage = tuple[str, Callable[[dict[str, Any]], None], str]

BREAKAGES: dict[str, Breakage] = {
    "patient without gender": (PROFILE.PATIENT, _drop_gender, "Patient.gender"),
    "care plan without its kind": (PROFILE.CAREPLAN_RELAPSE, _drop_plan_kind, "iopKind"),
    "session encounter of class EMER": (
        PROFILE.SESSION_ENCOUNTER,
        _emergency_class,
        "iop-session-encounter-class",
    ),
    "GAD-7 total with the PHQ-9 code": (
        PROFILE.observation_total("gad-7"),
        _wrong_total_code,
        "70274-6",
    ),
    "PHQ-2 total above 6": (
        PROFILE.observation_total("phq-2"),
        _total_out_of_range,
        "iop-score-phq-2",
    ),
    "unknown discharge disposition": (
        PROFILE.EPISODE,
        _unknown_disposition,
        "discharge-disposition",
    ),
    "program without a name": (PROFILE.EPISODE, _no_program_name, "extension:name"),
    "care team participant without role": (
        PROFILE.CARETEAM,
        _careteam_role_missing,
        "CareTeam.participant.role",
    ),
    "unknown relapse element": (
        PROFILE.CAREPLAN_RELAPSE,
        _relapse_code_unknown,
        "relapse-element",
    ),
    "unknown item answer": (
        PROFILE.OBSERVATION_ITEM,
        _item_answer_unknown,
        "iop-instrument-answer",
    ),
    "goal without identifier": (PROFILE.GOAL, _no_identifier, "Goal.identifier"),
}


@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_profiles_reject_broken_data(name: str) -> None:
    profile, breakage, expected = BREAKAGES[name]
    res = _resource(profile)
    v = _validator("differential")
    assert _errors(v.validate(res)) == []
    breakage(res)
    errors = _errors(v.validate(res))
    assert any(expected in e for e in errors), errors


def test_shipped_copy_matches_the_package() -> None:
    """``src/iopfhir/validation/data/iop-profiles/`` is ``profiles/package/`` (run
    ``tools/build_profiles.py --ship-only`` after a rebuild)."""
    from profile_support import ROOT, build_tool

    shipped = ROOT / "src" / "iopfhir" / "validation" / "data" / "iop-profiles"
    tool = build_tool()
    expected = {p.name: p for p in PACKAGE.glob("*.json") if p.name != ".index.json"}
    assert sorted(p.name for p in shipped.glob("*.json")) == sorted(expected)
    for name, src in expected.items():
        want = tool.shipped_form(json.loads(src.read_text(encoding="utf-8")))
        assert (shipped / name).read_bytes() == want, name


def test_shipped_profiles_validate_like_the_package() -> None:
    report = Validator.with_iop_profiles().validate(transaction_bundle([_episode()]))
    assert _errors(report) == []
