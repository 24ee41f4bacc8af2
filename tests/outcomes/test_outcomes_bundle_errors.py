"""Errors about what a folder of Bundles holds name the user's file and the entry in it
(``patient-1.json entry[12].resource: ...``), never the temporary NDJSON the resources were
read through, and never the value."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest

from iopfhir.cli import main
from iopfhir.errors import InputError
from iopfhir.outcomes import compute, open_source
from iopfhir.views import Source, ViewError, iop_view
from iopfhir.views.source import line_origin

SECRET = "Qwerty-Private-9931"  # a value that must never reach a message
PHQ9 = "44261-6"
WRONG_DECIMAL = "Observation.valueQuantity.value: a string where R4 has a decimal"


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three synthetic patients, one transaction Bundle each (as ``convert`` writes it)."""
    root = tmp_path_factory.mktemp("bundle-errors")
    episodes, out = root / "eps", root / "bundles"
    assert main(["synth", "--patients", "3", "--seed", "3", "-o", str(episodes)]) == 0
    out.mkdir()
    for n, episode in enumerate(sorted(episodes.iterdir())):
        assert main(["convert", str(episode), "-o", str(out / f"patient-{n}.json")]) == 0
    return out


def _spoil_a_score(path: Path) -> int:
    """Put a string where the first PHQ-9 score of the Bundle at ``path`` has its number;
    the entry's index."""
    bundle = orjson.loads(path.read_bytes())
    for index, entry in enumerate(bundle["entry"]):
        resource = entry["resource"]
        if resource["resourceType"] != "Observation":
            continue
        if PHQ9 in [c.get("code") for c in resource["code"].get("coding", [])]:
            resource["valueQuantity"]["value"] = SECRET
            path.write_bytes(orjson.dumps(bundle))
            return index
    raise AssertionError("no PHQ-9 score in the Bundle")


def _copy(bundles: Path, target: Path) -> Path:
    shutil.copytree(bundles, target)
    return target


def _clean(message: str, *, file_line: bool = False) -> None:
    """The message says neither the value nor a temporary file (nor a line of one: only
    a line of the user's own file, ``file_line``, where the JSON itself is broken)."""
    assert SECRET not in message
    assert tempfile.gettempdir() not in message
    assert "iopfhir-" not in message  # the temporary directories' prefix
    assert ".ndjson" not in message
    assert (" line " in message) == (file_line and message.startswith("site/b.json: line "))


@pytest.mark.parametrize("engine_name", ["duckdb", "spark"])
def test_a_bad_value_names_the_bundle_and_its_entry(
    bundles: Path, tmp_path: Path, engine_name: str, request: pytest.FixtureRequest
) -> None:
    folder = _copy(bundles, tmp_path / "export")
    index = _spoil_a_score(folder / "patient-1.json")
    engine = request.getfixturevalue(f"{engine_name}_engine")
    with open_source(folder) as source, pytest.raises(ViewError) as caught:
        compute(source, engine)
    message = str(caught.value)
    assert message == f"patient-1.json entry[{index}].resource: {WRONG_DECIMAL}"
    _clean(message)


@pytest.mark.parametrize("engine_name", ["duckdb", "spark"])
def test_each_source_names_its_own_bundle(
    tmp_path: Path, engine_name: str, request: pytest.FixtureRequest
) -> None:
    """Two sources open at once, each with a bad value: each error names its own file (Spark
    has read the first source's file, still there and bad, before the second's)."""
    engine = request.getfixturevalue(f"{engine_name}_engine")
    for name, bad in (("first", 1), ("second", 2)):
        entries = [{"resource": _observation(f"{name}{n}", SECRET if n == bad else n)}
                   for n in range(4)]  # fmt: skip
        (tmp_path / name).mkdir()
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
        (tmp_path / name / f"{name}.json").write_bytes(orjson.dumps(bundle))
    with open_source(tmp_path / "first") as first, open_source(tmp_path / "second") as second:
        assert _run_scores(first, engine) == f"first.json entry[1].resource: {WRONG_DECIMAL}"
        assert _run_scores(second, engine) == f"second.json entry[2].resource: {WRONG_DECIMAL}"


def test_the_cli_names_the_bundle_in_a_subfolder(
    bundles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "export"
    _copy(bundles, folder / "site-a")
    index = _spoil_a_score(folder / "site-a" / "patient-2.json")
    assert main(["outcomes", str(folder), "--format", "json"]) == 2
    err = capsys.readouterr().err
    assert f"site-a/patient-2.json entry[{index}].resource: {WRONG_DECIMAL}" in err
    _clean(err)


def _observation(oid: str, value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation", "id": oid, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": PHQ9}]},
        "subject": {"reference": "Patient/p1"}, "valueQuantity": {"value": value},
        "effectiveDateTime": "2025-01-02",
    }  # fmt: skip


def _run_scores(source: Source, engine: Any) -> str:
    with pytest.raises(ViewError) as caught:
        engine.run(iop_view("iop-observation-score"), source)
    _clean(str(caught.value))
    return str(caught.value)


def test_a_bundle_in_a_bundle_and_a_resource_file_are_named(
    tmp_path: Path, duckdb_engine: Any
) -> None:
    document = {
        "resourceType": "Bundle", "type": "document",
        "entry": [{"resource": {"resourceType": "Composition", "id": "c"}},
                  {"resource": _observation("o1", 3)},
                  {"resource": _observation("o2", SECRET)}],
    }  # fmt: skip
    collection = {
        "resourceType": "Bundle", "type": "collection",
        "entry": [{"resource": {"resourceType": "Patient", "id": "p1"}},
                  {"resource": document}],
    }  # fmt: skip
    (tmp_path / "docs.json").write_bytes(orjson.dumps(collection))
    with open_source(tmp_path) as source:
        message = _run_scores(source, duckdb_engine)
    assert message == f"docs.json entry[1].resource.entry[2].resource: {WRONG_DECIMAL}"
    _clean(message)
    # a resource JSON file is named by its name alone
    (tmp_path / "docs.json").unlink()
    (tmp_path / "obs-7.json").write_bytes(orjson.dumps(_observation("o3", SECRET)))
    (tmp_path / "obs-1.json").write_bytes(orjson.dumps(_observation("o4", 5)))
    with open_source(tmp_path) as source:
        message = _run_scores(source, duckdb_engine)
    assert message == f"obs-7.json: {WRONG_DECIMAL}"
    _clean(message)


def test_a_file_name_with_braces_is_named_as_it_is(tmp_path: Path, duckdb_engine: Any) -> None:
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": _observation("o1", SECRET)}]}  # fmt: skip
    (tmp_path / "b{0}[1].json").write_bytes(orjson.dumps(bundle))
    with open_source(tmp_path) as source:
        assert (
            _run_scores(source, duckdb_engine)
            == f"b{{0}}[1].json entry[0].resource: {WRONG_DECIMAL}"
        )
    bundle["entry"].append(SECRET)
    (tmp_path / "b{0}[1].json").write_bytes(orjson.dumps(bundle))
    with pytest.raises(InputError) as caught:
        open_source(tmp_path)
    assert (
        str(caught.value) == "b{0}[1].json entry[1]: Bundle.entry: a string where R4 has an object"
    )


def test_the_users_ndjson_beside_bundles_keeps_its_own_name(
    tmp_path: Path, duckdb_engine: Any
) -> None:
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": _observation(f"b{n}", n)} for n in range(3)]}  # fmt: skip
    (tmp_path / "bundle.json").write_bytes(orjson.dumps(bundle))
    lines = [_observation("n1", 1), _observation("n2", SECRET)]
    (tmp_path / "Observation.ndjson").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in lines))
    with open_source(tmp_path) as source, pytest.raises(ViewError) as caught:
        duckdb_engine.run(iop_view("iop-observation-score"), source)
    assert str(caught.value) == f"Observation.ndjson line 2: {WRONG_DECIMAL}"
    assert SECRET not in str(caught.value)


def test_resources_given_in_memory_are_named_by_their_index(duckdb_engine: Any) -> None:
    resources = [{"resourceType": "Patient", "id": "p1"}, _observation("o1", 2),
                 {"resourceType": "Patient", "id": "p2"}, _observation("o2", SECRET)]  # fmt: skip
    with Source.from_resources(resources) as source:
        message = _run_scores(source, duckdb_engine)
    assert message == f"[3]: {WRONG_DECIMAL}"
    _clean(message)


def test_origins_are_forgotten_when_the_source_is_closed(tmp_path: Path) -> None:
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": _observation("o1", 1)}]}  # fmt: skip
    (tmp_path / "b.json").write_bytes(orjson.dumps(bundle))
    source = open_source(tmp_path)
    (written,) = source.files["Observation"]
    assert line_origin(written, 1) == "b.json entry[0].resource"
    assert line_origin(written, 2) is None
    source.close()
    assert line_origin(written, 1) is None
    assert not written.exists()


def _bundle(*entries: Any, **more: Any) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "entry": list(entries), **more}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"resourceType": "Bundle", "entry": [' + SECRET.encode(),
         "site/b.json: line 1, column 38: not valid JSON"),
        (b"\xff\xfe" + SECRET.encode(), "site/b.json: is UTF-16; iopfhir reads UTF-8"),
        (_bundle(entry={"resource": SECRET}),
         "site/b.json: Bundle.entry: an object where R4 has an array"),
        (_bundle({"resource": {"resourceType": "Patient", "id": "p"}}, SECRET),
         "site/b.json entry[1]: Bundle.entry: a string where R4 has an object"),
        (_bundle({"resource": [SECRET]}),
         "site/b.json entry[0]: Bundle.entry.resource: an array where R4 has an object"),
        (_bundle({"resource": {"id": SECRET}}), "site/b.json entry[0].resource: no resourceType"),
        (_bundle({"resource": _bundle({"resource": {"resourceType": 7, "id": SECRET}})}),
         "site/b.json entry[0].resource.entry[0].resource: no resourceType"),
        (_bundle({"resource": _bundle(entry=SECRET)}),
         "site/b.json entry[0].resource: Bundle.entry: a string where R4 has an array"),
    ],
)  # fmt: skip
def test_a_broken_bundle_is_named_by_file_and_entry(
    tmp_path: Path, content: Any, expected: str
) -> None:
    (tmp_path / "site").mkdir()
    body = content if isinstance(content, bytes) else orjson.dumps(content)
    (tmp_path / "site" / "b.json").write_bytes(body)
    (tmp_path / "site" / "a.json").write_bytes(orjson.dumps(_bundle()))
    with pytest.raises(InputError) as caught:
        open_source(tmp_path)
    assert str(caught.value) == expected
    _clean(str(caught.value), file_line=True)


def test_entries_without_a_resource_and_json_that_is_no_fhir_are_passed_over(
    tmp_path: Path, duckdb_engine: Any
) -> None:
    batch = {
        "resourceType": "Bundle", "type": "batch",
        "entry": [{"request": {"method": "GET", "url": "Patient?name=x"}},
                  {"resource": None, "request": {"method": "DELETE", "url": "Observation/gone"}},
                  {"resource": _observation("o1", 4),
                   "request": {"method": "PUT", "url": "Observation/o1"}}],
    }  # fmt: skip
    (tmp_path / "batch.json").write_bytes(orjson.dumps(batch))
    (tmp_path / "manifest.json").write_text(json.dumps({"output": [], "request": "x"}))
    with open_source(tmp_path) as source:
        rows = duckdb_engine.run(iop_view("iop-observation-score"), source).rows
    assert len(rows) == 1
    # only JSON that is no FHIR: an error naming the folder
    (tmp_path / "batch.json").unlink()
    with pytest.raises(InputError, match=rf"^{tmp_path.name}: no FHIR resources"):
        open_source(tmp_path)
