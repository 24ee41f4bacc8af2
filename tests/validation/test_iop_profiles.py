"""The project's own profiles, shipped as package data: loading them, and the builder's output
(the two example episodes, a synthetic cohort) validating against them with no errors."""

from __future__ import annotations

import argparse
import io
import json
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from iopfhir.cli import validate as cli_validate
from iopfhir.domain import Episode, load_episodes
from iopfhir.fhir.build import episode_to_resources
from iopfhir.fhir.bundle import transaction_bundle
from iopfhir.fhir.conventions import PROFILE
from iopfhir.validation import IOP_PROFILES, Validator, iop_package

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
IOP = "https://iopfhir.org/fhir/StructureDefinition/"


@cache
def _iop_validator() -> Validator:
    return Validator.with_iop_profiles()


@cache
def _examples() -> tuple[Episode, ...]:
    return tuple(ep for path in EXAMPLES for ep in load_episodes(path))


def _errors(report: Any) -> list[str]:
    return [f"{i.path}: {i.message}" for i in report.errors]


def _claims(res: dict[str, Any]) -> list[str]:
    return list((res.get("meta") or {}).get("profile") or [])


def test_the_package_data_holds_every_profile() -> None:
    urls = {r["url"] for r in iop_package() if r["resourceType"] == "StructureDefinition"}
    assert PROFILE.PATIENT in urls
    assert PROFILE.observation_total("phq-9") in urls
    assert all(u.startswith(IOP) for u in urls)
    kinds = Counter(r["resourceType"] for r in iop_package())
    assert kinds["CodeSystem"] > 0
    assert kinds["ValueSet"] > 0


def test_ways_to_load_them() -> None:
    for v in (Validator.with_iop_profiles(), Validator(IOP_PROFILES), Validator(["iop"])):
        assert PROFILE.PATIENT in v.loaded_profiles
        assert v.definitions.tree(PROFILE.PATIENT) is not None


def test_claimed_iop_profiles_are_loaded_on_demand() -> None:
    (episode,) = _examples()[:1]
    patient = next(r for r in episode_to_resources(episode) if r["resourceType"] == "Patient")
    assert _claims(patient) == [PROFILE.PATIENT]
    broken = {k: v for k, v in patient.items() if k != "gender"}
    auto = Validator()
    assert auto.validate(patient).ok
    assert any("Patient.gender" in e for e in _errors(auto.validate(broken)))
    # without auto-loading the claim is only a warning, and gender is optional in base R4
    manual = Validator(auto_iop=False)
    report = manual.validate(broken)
    assert report.ok
    assert any("is not loaded" in w.message for w in report.warnings)


def test_examples_validate_with_no_errors() -> None:
    v = _iop_validator()
    claimed: set[str] = set()
    assert len(EXAMPLES) == 2
    for episode in _examples():
        resources = episode_to_resources(episode)
        for res in resources:
            claims = _claims(res)
            claimed.update(claims)
            assert _errors(v.validate(res)) == [], (res["resourceType"], claims)
        report = v.validate(transaction_bundle([episode]))
        assert _errors(report) == []
    # the examples exercise the profiles (not only base R4)
    assert PROFILE.PATIENT in claimed
    assert PROFILE.EPISODE in claimed
    assert len([c for c in claimed if c.startswith(IOP)]) >= 10


def test_examples_are_checked_against_their_claims() -> None:
    v = _iop_validator()
    (episode,) = _examples()[:1]
    obs = next(
        r for r in episode_to_resources(episode) if PROFILE.observation_total("phq-9") in _claims(r)
    )
    bad = json.loads(json.dumps(obs))
    bad["valueQuantity"]["value"] = 99
    assert not v.validate(bad).ok


def test_synthetic_cohort_validates_with_no_errors() -> None:
    synth = pytest.importorskip("iopfhir.synth")
    v = _iop_validator()
    problems: Counter[str] = Counter()
    n_resources = 0
    claimed: set[str] = set()
    for episode in synth.synth_episodes(200, seed=7):
        for res in episode_to_resources(episode):
            n_resources += 1
            claimed.update(_claims(res))
            for e in _errors(v.validate(res)):
                problems[f"{res['resourceType']}: {e}"] += 1
    assert dict(problems) == {}
    assert n_resources > 10_000
    assert len([c for c in claimed if c.startswith(IOP)]) >= 10


def test_cli_profile_iop(tmp_path: Path) -> None:
    (episode,) = _examples()[:1]
    good = tmp_path / "episode.ndjson"
    resources = episode_to_resources(episode)
    good.write_text("".join(json.dumps(r) + "\n" for r in resources), encoding="utf-8")
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    bad = tmp_path / "patient.json"
    bad.write_text(
        json.dumps({k: v for k, v in patient.items() if k != "gender"}), encoding="utf-8"
    )
    parser = argparse.ArgumentParser()
    cli_validate.register(parser.add_subparsers())

    def run(*argv: str) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        code = cli_validate.run(parser.parse_args(["validate", *argv]), out, err)
        return code, out.getvalue() + err.getvalue()

    code, text = run("--profile", "iop", str(good))
    assert code == 0, text
    code, text = run("--profile", "iop", str(bad))
    assert code == 1
    assert "Patient.gender" in text
