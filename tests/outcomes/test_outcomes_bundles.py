"""Bundles as an outcome source: each ``Type/id`` once, whatever kind of Bundle holds it,
and a folder of per-patient Bundles (as Synthea writes them) read like the same NDJSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from iopfhir.cli import main
from iopfhir.errors import InputError
from iopfhir.outcomes import bundle_resources, compute, open_source


def _patient(pid: str, family: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "name": [{"family": family}]}


def _keys(resources: list[dict[str, Any]]) -> list[str]:
    return [f"{r['resourceType']}/{r.get('id')}" for r in resources]


def test_history_keeps_the_newest_version_and_honours_deletes() -> None:
    history = {
        "resourceType": "Bundle",
        "type": "history",
        "entry": [  # newest first, as R4 orders a history
            {"resource": _patient("a", "v3"), "request": {"method": "PUT", "url": "Patient/a"}},
            {"request": {"method": "DELETE", "url": "Patient/b"}},
            {"resource": _patient("a", "v2"), "request": {"method": "PUT", "url": "Patient/a"}},
            {"resource": _patient("b", "v1"), "request": {"method": "POST", "url": "Patient"}},
            {"resource": _patient("c", "v1"), "request": {"method": "POST", "url": "Patient"}},
        ],
    }
    out = bundle_resources(history)
    assert _keys(out) == ["Patient/a", "Patient/c"]
    assert out[0]["name"] == [{"family": "v3"}]


def test_a_search_outcome_is_no_data_and_included_resources_are() -> None:
    searchset = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"fullUrl": "http://ehr.example.org/fhir/Patient/p", "resource": _patient("p", "x"),
             "search": {"mode": "match"}},
            {"resource": {"resourceType": "Practitioner", "id": "d"},
             "search": {"mode": "include"}},
            {"resource": {"resourceType": "OperationOutcome", "issue": []},
             "search": {"mode": "outcome"}},
        ],
    }  # fmt: skip
    assert _keys(bundle_resources(searchset)) == ["Patient/p", "Practitioner/d"]


def test_a_bundle_inside_a_bundle_gives_its_resources_once() -> None:
    document = {
        "resourceType": "Bundle",
        "type": "document",
        "entry": [
            {"fullUrl": "urn:uuid:6f1c", "resource": {"resourceType": "Patient"}},
            {"resource": {"resourceType": "Observation", "id": "o",
                          "subject": {"reference": "urn:uuid:6f1c"}}},
        ],
    }  # fmt: skip
    outer = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": document}, {"resource": document}, {"resource": _patient("q", "y")}],
    }
    out = bundle_resources(outer)
    assert _keys(out) == ["Patient/6f1c", "Observation/o", "Patient/q"]
    assert out[1]["subject"] == {"reference": "Patient/6f1c"}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One synthetic cohort three ways: NDJSON, a folder of one transaction Bundle per
    patient (beside a Bulk Data manifest, which is no FHIR), and NDJSON beside a Bundle."""
    root = tmp_path_factory.mktemp("bundles")
    episodes, ndjson, bundles = root / "eps", root / "nd", root / "bundles"
    assert main(["synth", "--patients", "12", "--seed", "3", "-o", str(episodes)]) == 0
    assert main(["convert", str(episodes), "--format", "ndjson", "-o", str(ndjson)]) == 0
    bundles.mkdir()
    for n, episode in enumerate(sorted(episodes.iterdir())):
        assert main(["convert", str(episode), "-o", str(bundles / f"patient-{n}.json")]) == 0
    manifest = {"transactionTime": "2026-01-01T00:00:00Z", "request": "x", "output": []}
    (bundles / "manifest.json").write_text(json.dumps(manifest))
    # some types as NDJSON, the others in a searchset Bundle (ids, relative references)
    mixed = root / "mixed"
    mixed.mkdir()
    entries = []
    for path in sorted(ndjson.glob("*.ndjson")):
        if path.stem in ("Patient", "EpisodeOfCare", "Observation"):
            (mixed / path.name).write_bytes(path.read_bytes())
        else:
            entries += [{"resource": orjson.loads(x)} for x in path.read_bytes().splitlines()]
    searchset = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    (mixed / "search.json").write_bytes(orjson.dumps(searchset))
    return {"ndjson": ndjson, "bundles": bundles, "mixed": mixed}


def _overall(path: Path, engine: Any) -> dict[str, Any]:
    with open_source(path) as source:
        outcomes = compute(source, engine)
        return {
            m.id: (dict(outcomes.summary(m.id).overall.populations),
                   outcomes.summary(m.id).overall.score)
            for m in outcomes.measures
        }  # fmt: skip


def test_a_folder_of_bundles_gives_the_figures_of_the_ndjson(
    cohort: dict[str, Path], duckdb_engine: Any
) -> None:
    want = _overall(cohort["ndjson"], duckdb_engine)
    assert want["iop-attendance"][0]["initial-population"] > 100  # scheduled sessions
    assert _overall(cohort["bundles"], duckdb_engine) == want
    assert _overall(cohort["mixed"], duckdb_engine) == want


def test_the_cli_reads_a_folder_of_bundles(cohort: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    assert main(["outcomes", str(cohort["bundles"]), "--format", "json", "-o", str(out)]) == 0
    assert orjson.loads(out.read_bytes())


def test_what_is_not_fhir_json_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "export.json"
    bad.write_bytes(b'{"resourceType": "Patient", "name": [')
    with pytest.raises(InputError, match=r"^export\.json: line 1, column 38: not valid JSON"):
        open_source(bad)
    bad.write_text(json.dumps({"output": []}))
    with pytest.raises(InputError, match=r"export\.json: \$\.resourceType: expected a Bundle"):
        open_source(bad)
    assert main(["outcomes", str(bad)]) == 2
    # a folder of JSON that is no FHIR (iopfhir's own episode files, say) is no empty source
    folder = tmp_path / "episodes"
    folder.mkdir()
    (folder / "episode-1.json").write_text(json.dumps({"episode": {"key": "e1"}}))
    with pytest.raises(InputError, match=r"^episodes: no FHIR resources"):
        open_source(folder)
