"""Times written without a UTC offset (invalid R4, sent by some systems): kept as written and
refused by the writers, unless the user names the time zone they are in (``time_zone`` of
the readers, ``with_time_zone``, ``--time-zone`` of import, convert, push and pull)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from iopfhir.cli import main
from iopfhir.domain import Episode, dump_episodes, load_episodes
from iopfhir.domain.times import localize, naive_time, parse_time_zone, with_time_zone
from iopfhir.errors import EpisodeInputError
from iopfhir.fhir.bundle import collection_bundle
from iopfhir.fhir.read import read_fhir, read_fhir_streamed
from iopfhir.fhir.read.values import noting, parse_timestamp

NEW_YORK = parse_time_zone("America/New_York")


def _resources(*periods: tuple[str, str]) -> list[dict[str, Any]]:
    """A patient, an episode and one attended group session per period (start, end)."""
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female"}
    eoc = {
        "resourceType": "EpisodeOfCare",
        "id": "e1",
        "status": "active",
        "patient": {"reference": "Patient/p1"},
        "period": {"start": "2024-01-02"},
    }
    sessions = [
        {
            "resourceType": "Encounter",
            "id": f"x{i}",
            "status": "finished",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "AMB",
            },
            "type": [{"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "90853"}]}],
            "subject": {"reference": "Patient/p1"},
            "episodeOfCare": [{"reference": "EpisodeOfCare/e1"}],
            "period": {"start": start, "end": end},
        }
        for i, (start, end) in enumerate(periods)
    ]
    return [patient, eoc, *sessions]


def _starts(episode: Episode) -> list[datetime]:
    return sorted((s.start for s in episode.sessions), key=lambda t: t.isoformat())


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("UTC", timedelta(0)),
        ("Z", timedelta(0)),
        ("+05:30", timedelta(hours=5, minutes=30)),
        ("-04:00", timedelta(hours=-4)),
        ("+14:00", timedelta(hours=14)),
        ("Asia/Kolkata", timedelta(hours=5, minutes=30)),
    ],
)
def test_time_zones_by_name_or_offset(text: str, offset: timedelta) -> None:
    assert localize(datetime(2024, 3, 1, 9, 0), parse_time_zone(text)).utcoffset() == offset


@pytest.mark.parametrize(
    "text", ["", "Mars/Olympus", "../../etc/passwd", "/etc/localtime", "+15:00", "+14:30", "5"]
)
def test_what_is_not_a_time_zone_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"time zone|offset"):
        parse_time_zone(text)


def test_local_times_take_the_offset_of_their_date() -> None:
    winter = localize(datetime(2024, 1, 5, 10, 0), NEW_YORK)
    summer = localize(datetime(2024, 7, 5, 10, 0), NEW_YORK)
    assert winter.isoformat() == "2024-01-05T10:00:00-05:00"
    assert summer.isoformat() == "2024-07-05T10:00:00-04:00"
    # held with a fixed offset, as FHIR writes it
    assert winter.tzinfo == timezone(timedelta(hours=-5))
    aware = datetime(2024, 1, 5, 10, 0, tzinfo=UTC)
    assert localize(aware, NEW_YORK) is aware


def test_without_a_zone_local_times_are_kept_and_the_writers_refuse_them() -> None:
    result = read_fhir(_resources(("2024-01-05T10:00:00", "2024-01-05T13:00:00")))
    (episode,) = result.episodes
    assert _starts(episode)[0].tzinfo is None
    assert result.unmapped["Encounter.period.start: dateTime without a time zone (kept as written)"]
    assert naive_time(episode) == "$.sessions[0].start"
    with pytest.raises(EpisodeInputError, match="UTC offset") as caught:
        collection_bundle([episode])
    assert caught.value.path == "$.sessions[0].start"
    assert "--time-zone" in str(caught.value)


def test_a_zone_given_reads_local_times_in_it_per_date_and_leaves_offsets_alone() -> None:
    periods = [
        ("2024-01-05T10:00:00", "2024-01-05T13:00:00"),
        ("2024-07-05T10:00:00", "2024-07-05T13:00:00"),
        ("2024-07-06T10:00:00+02:00", "2024-07-06T13:00:00+02:00"),
    ]
    result = read_fhir(_resources(*periods), time_zone=NEW_YORK)
    (episode,) = result.episodes
    assert naive_time(episode) is None
    assert [t.isoformat() for t in _starts(episode)] == [
        "2024-01-05T10:00:00-05:00",
        "2024-07-05T10:00:00-04:00",
        "2024-07-06T10:00:00+02:00",
    ]
    minutes = {s.start.isoformat(): s.minutes for s in episode.sessions}
    assert set(minutes.values()) == {180}
    reason = "dateTime without a time zone (read in the time zone given)"
    assert result.unmapped[f"Encounter.period.start: {reason}"] == 2
    assert not any("kept as written" in k for k in result.unmapped)
    # the streaming reader reads them alike
    streamed = read_fhir_streamed(_resources(*periods), time_zone=NEW_YORK)
    assert dump_episodes(streamed.episodes) == dump_episodes(result.episodes)
    bundle = collection_bundle(result.episodes)
    written = [
        e["resource"]["period"]["start"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Encounter"
    ]
    assert sorted(written) == sorted(t.isoformat() for t in _starts(episode))


def test_a_bare_date_read_as_a_time_is_midnight_in_the_zone_given() -> None:
    unmapped: Counter[str] = Counter()
    with noting(unmapped):
        assert parse_timestamp("2024-07-05", "Observation.effectiveDateTime") == datetime(
            2024, 7, 5, tzinfo=UTC
        )
    with noting(unmapped, NEW_YORK):
        local = parse_timestamp("2024-07-05", "Observation.effectiveDateTime")
        # the cached parse of the same text is not changed by the zone
        again = parse_timestamp("2024-07-05T08:00:00", "Observation.effectiveDateTime")
    with noting(unmapped):
        assert parse_timestamp("2024-07-05T08:00:00", "x") == datetime(2024, 7, 5, 8, 0)
    assert local is not None and local.isoformat() == "2024-07-05T00:00:00-04:00"
    assert again is not None and again.isoformat() == "2024-07-05T08:00:00-04:00"
    assert unmapped == Counter(
        {
            "Observation.effectiveDateTime: date without a time (read as midnight UTC of its "
            "first day)": 1,
            "Observation.effectiveDateTime: date without a time (read as midnight of its "
            "first day in the time zone given)": 1,
            "Observation.effectiveDateTime: dateTime without a time zone (read in the time "
            "zone given)": 1,
            "x: dateTime without a time zone (kept as written)": 1,
        }
    )


def test_with_time_zone_copies_only_what_it_changes() -> None:
    (naive,) = read_fhir(_resources(("2024-01-05T10:00:00", "2024-01-05T13:00:00"))).episodes
    moved = with_time_zone(naive, NEW_YORK)
    assert naive_time(moved) is None and naive_time(naive) is not None
    assert moved.sessions[0].start.isoformat() == "2024-01-05T10:00:00-05:00"
    assert moved.sessions[0].actual_end is not None
    assert moved.sessions[0].actual_end.isoformat() == "2024-01-05T13:00:00-05:00"
    assert moved.patient is naive.patient  # nothing of the patient holds a time
    assert with_time_zone(moved, NEW_YORK) is moved


def _write(tmp_path: Path, name: str, data: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_cli_import_and_convert_with_a_time_zone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(
        tmp_path,
        "in.json",
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"fullUrl": f"http://example.org/fhir/{r['resourceType']}/{r['id']}", "resource": r}
                for r in _resources(("2024-07-05T18:30:00", "2024-07-05T21:30:00"))
            ],
        },
    )
    kept, zoned = tmp_path / "kept.json", tmp_path / "zoned.json"
    assert main(["import", str(source), "-o", str(kept)]) == 0
    assert main(["import", str(source), "-o", str(zoned), "--time-zone", "America/Chicago"]) == 0
    err = capsys.readouterr().err
    assert "dateTime without a time zone (read in the time zone given)" in err
    assert load_episodes(zoned)[0].sessions[0].start.isoformat() == "2024-07-05T18:30:00-05:00"

    out = tmp_path / "out.json"
    assert main(["convert", str(kept), "--format", "collection", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "$.sessions[0].start" in err and "--time-zone" in err
    assert not out.exists()  # nothing half-written
    for episodes, extra in ((zoned, []), (kept, ["--time-zone=-05:00"])):
        args = ["convert", str(episodes), "--format", "collection", "-o", str(out), *extra]
        assert main(args) == 0
        bundle = json.loads(out.read_text())
        (encounter,) = [
            e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter"
        ]
        assert encounter["period"] == {
            "start": "2024-07-05T18:30:00-05:00",
            "end": "2024-07-05T21:30:00-05:00",
        }


def test_cli_refuses_an_unknown_zone_without_echoing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    episodes = _write(tmp_path, "e.json", [])
    with pytest.raises(SystemExit) as stop:
        main(["convert", str(episodes), "--time-zone", "Secret/Zone-4711"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "--time-zone" in err and "unknown time zone" in err
    assert "4711" not in err
