"""Public API surface, reports, files/NDJSON, profiles from differentials, and the CLI."""

from __future__ import annotations

import argparse
import io
import json
import types
from pathlib import Path
from typing import Any

import pytest

import iopfhir.validation as validation
from iopfhir.cli import validate as cli_validate
from iopfhir.errors import FhirInputError, InputError, ValidationFailed
from iopfhir.validation import ValidationReport, Validator, validate, validate_file

OBS: dict[str, Any] = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
    "valueInteger": 14,
}

#: a small differential-only profile: PHQ-9 total with a fixed code, integer value 0..27,
#: and a category slice
PHQ9_PROFILE: dict[str, Any] = {
    "resourceType": "StructureDefinition",
    "url": "http://example.org/iop/StructureDefinition/phq9-total",
    "name": "Phq9Total",
    "status": "draft",
    "kind": "resource",
    "abstract": False,
    "type": "Observation",
    "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Observation",
    "derivation": "constraint",
    "differential": {
        "element": [
            {
                "id": "Observation.category",
                "path": "Observation.category",
                "slicing": {
                    "discriminator": [{"type": "pattern", "path": "$this"}],
                    "rules": "open",
                },
                "min": 1,
            },
            {
                "id": "Observation.category:survey",
                "path": "Observation.category",
                "sliceName": "survey",
                "min": 1,
                "max": "1",
                "patternCodeableConcept": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "survey",
                        }
                    ]
                },
            },
            {
                "id": "Observation.code",
                "path": "Observation.code",
                "patternCodeableConcept": {
                    "coding": [{"system": "http://loinc.org", "code": "44261-6"}]
                },
            },
            {
                "id": "Observation.subject",
                "path": "Observation.subject",
                "min": 1,
                "type": [
                    {
                        "code": "Reference",
                        "targetProfile": ["http://hl7.org/fhir/StructureDefinition/Patient"],
                    }
                ],
            },
            {
                "id": "Observation.value[x]",
                "path": "Observation.value[x]",
                "min": 1,
                "type": [{"code": "integer"}],
                "minValueInteger": 0,
                "maxValueInteger": 27,
            },
        ]
    },
}


def good_phq9() -> dict[str, Any]:
    return {
        **OBS,
        "subject": {"reference": "Patient/p1"},
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "survey",
                    }
                ]
            }
        ],
    }


def test_all_is_the_public_surface() -> None:
    public = {n for n in dir(validation) if not n.startswith("_")}
    # submodules are reached as attributes once imported; they are not names of the API
    modules = {n for n in public if isinstance(getattr(validation, n), types.ModuleType)}
    modules.add("annotations")  # `from __future__ import annotations`
    assert set(validation.__all__) == public - modules


def test_report_shape() -> None:
    report = validate({**OBS, "status": "nope"})
    assert isinstance(report, ValidationReport)
    assert not report.ok
    assert not bool(report)
    oo = report.to_operation_outcome()
    assert oo["resourceType"] == "OperationOutcome"
    assert oo["issue"][0]["severity"] == "error"
    assert oo["issue"][0]["expression"] == ["Observation.status"]
    with pytest.raises(ValidationFailed) as info:
        report.raise_for_errors()
    assert info.value.issues == list(report.issues)
    clean = validate(OBS)
    assert clean.ok
    assert clean.to_operation_outcome()["issue"][0]["severity"] in ("information", "warning")


def test_profile_from_differential() -> None:
    assert validate(good_phq9(), [PHQ9_PROFILE]).ok
    bad = good_phq9()
    bad["valueInteger"] = 30
    bad["category"][0]["coding"][0]["code"] = "exam"
    bad["code"]["coding"][0]["code"] = "44249-1"
    del bad["subject"]
    errs = validate(bad, [PHQ9_PROFILE]).errors
    assert {e.path for e in errs} == {
        "Observation.value",
        "Observation.category",
        "Observation.code",
        "Observation",
    }
    assert any("Observation.category:survey" in e.message for e in errs)
    wrong_type = good_phq9()
    wrong_type["valueString"] = wrong_type.pop("valueInteger")
    errs = validate(wrong_type, [PHQ9_PROFILE]).errors
    assert any(e.path == "Observation.valueString" and "not allowed" in e.message for e in errs)


def test_meta_profile_claims() -> None:
    v = Validator([PHQ9_PROFILE])
    res = good_phq9()
    del res["subject"]
    assert v.validate(res).ok  # not claimed: base only
    res["meta"] = {"profile": [PHQ9_PROFILE["url"]]}
    assert not v.validate(res).ok
    res["meta"] = {"profile": ["http://example.org/unknown"]}
    rep = v.validate(res)
    assert rep.ok
    assert any("not loaded" in w.message for w in rep.warnings)


def test_profile_loading_errors() -> None:
    broken = {
        **PHQ9_PROFILE,
        "url": "http://example.org/broken",
        "baseDefinition": "http://example.org/missing-base",
    }
    v = Validator([broken])
    rep = v.validate(OBS, profile="http://example.org/broken")
    assert not rep.ok
    assert "not loaded" in rep.errors[0].message
    with pytest.raises(InputError):
        Validator([Path("/nonexistent/profile.json")])


def test_validate_file_and_ndjson(tmp_path: Path) -> None:
    f = tmp_path / "obs.json"
    f.write_text(json.dumps(OBS))
    assert validate_file(f).ok
    nd = tmp_path / "many.ndjson"
    nd.write_text(json.dumps(OBS) + "\n" + json.dumps({**OBS, "status": "x"}) + "\n")
    rep = validate_file(nd)
    assert [e.message.endswith("(line 2)") for e in rep.errors] == [True]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(FhirInputError):
        validate_file(bad)
    with pytest.raises(FhirInputError):
        validate_file(tmp_path / "missing.json")


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="iopfhir")
    sub = parser.add_subparsers()
    cli_validate.register(sub)
    return parser.parse_args(["validate", *argv])


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli_validate.run(_args(*argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_exit_codes_and_formats(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(OBS))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**OBS, "status": "nope"}))
    code, out, _ = _run(str(good))
    assert code == 0
    assert "OK" in out
    code, out, _ = _run(str(good), str(bad))
    assert code == 1
    assert "Observation.status" in out
    code, out, _ = _run(str(bad), "--format", "json")
    assert code == 1
    assert json.loads(out)["resourceType"] == "OperationOutcome"
    code, out, _ = _run(str(good), str(bad), "--format", "json")
    assert [o["resourceType"] for o in json.loads(out)] == ["OperationOutcome"] * 2
    notjson = tmp_path / "x.json"
    notjson.write_text("nope")
    assert _run(str(notjson))[0] == 2
    assert _run(str(tmp_path / "missing.json"))[0] == 2


def test_cli_profile_file(tmp_path: Path) -> None:
    prof = tmp_path / "phq9.json"
    prof.write_text(json.dumps(PHQ9_PROFILE))
    res = tmp_path / "obs.json"
    res.write_text(json.dumps(OBS))  # no subject, no category: fails the profile
    assert _run(str(res))[0] == 0
    code, out, _ = _run(str(res), "--profile", str(prof))
    assert code == 1
    assert "minimum required" in out
    assert _run(str(res), "--profile", "http://example.org/not-loaded")[0] == 2
