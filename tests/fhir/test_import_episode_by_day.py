"""A patient's resource that links to no episode of the input goes to the episode whose
period holds its day (issue 11, faithful import; a partial export's Encounter names an
EpisodeOfCare the export does not carry), and its lost link is counted.

Before, every such session went to the patient's first episode, whatever its day, and the
re-export pointed it there without a word.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fhir.both_readers import FORMS, read_both

from iopfhir.fhir.build import episode_entries

OTHER = "Encounter.episodeOfCare: not the episode's EpisodeOfCare of the input (dropped)"


def _episode(id_: str, start: str, end: str | None) -> dict[str, Any]:
    period = {"start": start, **({"end": end} if end else {})}
    return {
        "resourceType": "EpisodeOfCare",
        "id": id_,
        "status": "finished" if end else "active",
        "patient": {"reference": "Patient/p1"},
        "period": period,
    }


def _encounter(id_: str, start: str, episode: str | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": id_,
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": "Patient/p1"},
        "period": {"start": f"{start}T10:00:00Z", "end": f"{start}T13:00:00Z"},
    }
    if episode is not None:
        res["episodeOfCare"] = [{"reference": f"EpisodeOfCare/{episode}"}]
    return res


def _input() -> list[dict[str, Any]]:
    return [
        {"resourceType": "Patient", "id": "p1", "gender": "female"},
        _episode("spring", "2024-01-08", "2024-03-29"),
        _episode("summer", "2024-06-03", "2024-08-30"),
        _encounter("linked", "2024-01-10", "spring"),
        # a partial export: the EpisodeOfCare it names is not in the input
        _encounter("orphan", "2024-06-12", "not-exported"),
        _encounter("unlinked", "2024-02-14"),
        # the last day of an episode is in it
        _encounter("last-day", "2024-08-30"),
        # no episode holds its day: the first one, as before
        _encounter("outside", "2025-01-15"),
    ]


def _starts(episode: Any) -> list[str]:
    return sorted(s.start.date().isoformat() for s in episode.sessions)


@FORMS
def test_sessions_go_to_the_episode_of_their_day(tmp_path: Path, form: str) -> None:
    result = read_both(_input(), tmp_path, form)
    spring, summer = result.episodes
    assert (str(spring.admission), str(summer.admission)) == ("2024-01-08", "2024-06-03")
    assert _starts(spring) == ["2024-01-10", "2024-02-14", "2025-01-15"]
    assert _starts(summer) == ["2024-06-12", "2024-08-30"]
    # the orphan's link to an EpisodeOfCare the input lacks is the one link lost
    assert result.unmapped[OTHER] == 1


@FORMS
def test_a_link_to_another_episode_is_counted(tmp_path: Path, form: str) -> None:
    resources = _input()
    # an Encounter naming both episodes: it is the first's session, the second link lost
    resources[3]["episodeOfCare"].append({"reference": "EpisodeOfCare/summer"})
    result = read_both(resources, tmp_path, form)
    assert result.unmapped[OTHER] == 2
    spring, _summer = result.episodes
    assert "2024-01-10" in _starts(spring)


@FORMS
def test_reexport_names_the_episode_read(tmp_path: Path, form: str) -> None:
    result = read_both(_input(), tmp_path, form)
    summer = result.episodes[1]
    written = [res for _url, res in episode_entries(summer, ndjson=True)]
    eoc = next(r for r in written if r["resourceType"] == "EpisodeOfCare")
    encounters = [r for r in written if r["resourceType"] == "Encounter"]
    assert len(encounters) == 2
    for enc in encounters:
        assert [ref["reference"] for ref in enc["episodeOfCare"]] == [f"EpisodeOfCare/{eoc['id']}"]
