"""A resource given more than once counts once: two NDJSON exports that overlap in one folder
(a full export beside an incremental one, or one file concatenated from both) give every
session, score, stay and episode twice. The measures are those of the resources once (the
first copy of each ``Type/id`` in file order, as the import reads it), on DuckDB and on
Spark, and the plain-Python reference agrees; ``Outcomes.repeated`` counts the copies left
out, and the report reads what the measures read."""

from __future__ import annotations

import copy
import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.outcomes import reference
from tests.outcomes.cohort import cohort

from iopfhir.cli import main
from iopfhir.outcomes import compute
from iopfhir.outcomes.report import report_data
from iopfhir.outcomes.reports import summary_rows
from iopfhir.views import Source
from iopfhir.views.source import line_origin


def _write(folder: Path, resources: list[dict[str, Any]], *, gz: bool = False) -> None:
    """One NDJSON file per type, as a Bulk Data export writes them."""
    folder.mkdir(parents=True)
    by_type: dict[str, list[bytes]] = {}
    for r in resources:
        by_type.setdefault(r["resourceType"], []).append(orjson.dumps(r))
    for rtype, lines in by_type.items():
        data = b"\n".join(lines) + b"\n"
        if gz:
            (folder / f"{rtype}.ndjson.gz").write_bytes(gzip.compress(data))
        else:
            (folder / f"{rtype}.ndjson").write_bytes(data)


def _figures(folder: Path, engine: Any) -> tuple[Any, int]:
    with Source.from_path(folder) as source:
        outcomes = compute(source, engine)
        return summary_rows(outcomes), outcomes.repeated


@pytest.mark.parametrize("engine_name", ["duckdb", "spark"])
def test_two_overlapping_exports_count_each_resource_once(
    tmp_path: Path, engine_name: str, request: pytest.FixtureRequest
) -> None:
    engine = request.getfixturevalue(f"{engine_name}_engine")
    resources = cohort()
    _write(tmp_path / "once" / "full", resources)
    want, repeated = _figures(tmp_path / "once", engine)
    assert repeated == 0
    # the full export, and an incremental one (compressed) holding a part of it again
    again = [r for r in resources if r["resourceType"] != "Practitioner"]
    _write(tmp_path / "twice" / "full", resources)
    _write(tmp_path / "twice" / "later", copy.deepcopy(again), gz=True)
    got, repeated = _figures(tmp_path / "twice", engine)
    assert repeated == len(again)
    assert got == want
    # the reference loop reads each Type/id once too
    assert reference.compute(resources + again) == reference.compute(resources)


def test_every_kind_of_repeat_is_found(tmp_path: Path, duckdb_engine: Any) -> None:
    """Each type the measures read, given twice alone, changes a figure unless found."""
    resources = cohort()
    _write(tmp_path / "once", resources)
    want, _ = _figures(tmp_path / "once", duckdb_engine)
    changed = []
    for rtype in sorted({r["resourceType"] for r in resources}):
        twice = resources + [copy.deepcopy(r) for r in resources if r["resourceType"] == rtype]
        folder = tmp_path / rtype
        _write(folder, twice)
        got, repeated = _figures(folder, duckdb_engine)
        assert got == want, rtype
        if repeated:
            changed.append(rtype)
    # the types whose copies would count again are all found (Practitioners repeat no row)
    assert {"EpisodeOfCare", "Encounter", "Observation", "Patient"} <= set(changed)


def test_differing_copies_keep_the_first_in_file_order(tmp_path: Path, duckdb_engine: Any) -> None:
    resources = cohort()
    episode = next(r for r in resources if r["resourceType"] == "EpisodeOfCare")
    later = copy.deepcopy(episode)
    later["status"] = "entered-in-error"  # the later copy would leave the episode out
    _write(tmp_path / "a", resources)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "EpisodeOfCare.ndjson").write_bytes(orjson.dumps(later) + b"\n")
    want, _ = _figures(tmp_path / "a", duckdb_engine)
    got, repeated = _figures(tmp_path, duckdb_engine)
    assert repeated == 1
    assert got == want
    # the other order: the entered-in-error copy is first, the episode is not counted
    (tmp_path / "0").mkdir()
    (tmp_path / "b" / "EpisodeOfCare.ndjson").rename(tmp_path / "0" / "EpisodeOfCare.ndjson")
    got, _ = _figures(tmp_path, duckdb_engine)
    assert got != want


def test_the_report_reads_each_resource_once(tmp_path: Path, duckdb_engine: Any) -> None:
    resources = cohort()
    _write(tmp_path / "a", resources)
    _write(tmp_path / "b", copy.deepcopy(resources))
    with Source.from_path(tmp_path / "a") as source:
        want = report_data(source, duckdb_engine, compute(source, duckdb_engine))
    with Source.from_path(tmp_path) as source:
        outcomes = compute(source, duckdb_engine)
        got = report_data(source, duckdb_engine, outcomes)
    assert outcomes.repeated == len(resources)
    assert got == want
    assert len(got.scores) > 0


def test_without_repeats_keeps_the_first_and_where_it_came_from(tmp_path: Path) -> None:
    one = {"resourceType": "Patient", "id": "p1", "gender": "female"}
    other = {"resourceType": "Patient", "id": "p1", "gender": "male"}
    (tmp_path / "Patient.ndjson.gz").write_bytes(
        gzip.compress(orjson.dumps(one) + b"\n\n" + orjson.dumps(one) + b"\n")
    )
    # a mixed file (read for every type): a repeat, a line that is no JSON (kept: the
    # engine names it), an Observation without an id (kept), a last line without its end
    (tmp_path / "mixed.ndjson").write_bytes(
        orjson.dumps(other)
        + b"\n{not json\n"
        + orjson.dumps({"resourceType": "Observation", "status": "final"})
        + b"\n"
        + orjson.dumps({"resourceType": "Observation", "id": "o1", "status": "final"})
    )
    with Source.from_path(tmp_path) as source:
        once = source.without_repeats()
        assert source.without_repeats() is once  # made once
        assert once.repeated == 2
        typed, mixed = once.files_for("Patient")
        assert [orjson.loads(x) for x in typed.read_bytes().splitlines()] == [one]
        lines = mixed.read_bytes().splitlines()
        assert lines[0] == b"{not json" and len(lines) == 3
        assert line_origin(typed, 1) == "Patient.ndjson.gz line 1"
        assert line_origin(mixed, 1) == "mixed.ndjson line 2"
        assert line_origin(mixed, 3) == "mixed.ndjson line 4"
    assert not typed.exists()  # removed with the source
    assert line_origin(typed, 1) is None


def test_a_bundle_source_keeps_its_origins(tmp_path: Path) -> None:
    """Lines written from resources given in memory name the resource, not a line."""
    p = {"resourceType": "Patient", "id": "p1"}
    with Source.from_resources([p, p, {"resourceType": "Patient", "id": "p2"}]) as source:
        once = source.without_repeats()
        (path,) = once.files_for("Patient")
        assert once.repeated == 1
        assert [line_origin(path, n) for n in (1, 2)] == ["[0]", "[2]"]


def test_the_cli_and_the_page_say_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    resources = cohort()
    _write(tmp_path / "in" / "a", resources)
    _write(tmp_path / "in" / "b", [r for r in resources if r["resourceType"] == "Encounter"])
    repeated = sum(r["resourceType"] == "Encounter" for r in resources)
    assert (
        main(["outcomes", str(tmp_path / "in"), "--format", "json", "-o", str(tmp_path / "o.json")])
        == 0
    )
    err = capsys.readouterr().err
    assert f"note: {repeated} resource(s) given more than once" in err
    assert "Encounter/" not in err  # no names of the data
    assert main(["report", str(tmp_path / "in"), "-o", str(tmp_path / "r.html")]) == 0
    assert f"{repeated} repeated resources counted once" in (tmp_path / "r.html").read_text()
    # without repeats, nothing is said
    assert (
        main(
            [
                "outcomes",
                str(tmp_path / "in" / "a"),
                "--format",
                "json",
                "-o",
                str(tmp_path / "p.json"),
            ]
        )
        == 0
    )
    assert "note:" not in capsys.readouterr().err


def test_a_false_alarm_costs_only_time(
    tmp_path: Path, duckdb_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys are grouped by a hash of them: two keys of one hash (here, as if every session
    of a patient hashed alike, Encounters grouped by their patient) read the source once
    more, with the same figures, and nothing left out."""
    from iopfhir.outcomes import lookups

    resources = cohort()
    _write(tmp_path / "a", resources)
    want, _ = _figures(tmp_path / "a", duckdb_engine)
    made: list[Source] = []
    real = Source.without_repeats

    def once(self: Source) -> Source:
        made.append(self)
        return real(self)

    monkeypatch.setattr(Source, "without_repeats", once)
    monkeypatch.setitem(lookups.REPEAT_KEYS, "encounter", "patient_key")
    got, repeated = _figures(tmp_path / "a", duckdb_engine)
    assert made  # the alarm was raised
    assert repeated == 0
    assert got == want
