"""A goal's history (the weekly reviews) survives push and pull on the real servers: each
review is a Provenance written once (PUT to an id derived from its record identifier), a
later review makes a new version of the Goal, and pull reads the reviews back by target.
The live tests run on sekmet and on Medplum's FHIR router, both started on 127.0.0.1; the
first test checks the requests against the in-memory fake server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.servers.fixtures import LIVE_TIMEOUT
from tests.servers.medplum import running_medplum

from iopfhir.client import FhirClient, MemoryTransport
from iopfhir.domain import Episode, GoalStatusChange, Review, goal_history, load_episodes
from iopfhir.sync import DisclosureTerms, pull, push
from iopfhir.sync.resources import derived_id

from .fake import BASE, FakeServer

PACKAGED = Path(__file__).resolve().parents[2] / "src" / "iopfhir" / "examples"


@pytest.fixture(params=["server", "medplum"])
def fhir_server(request) -> Iterator[str]:
    """Base URL of one of the two live servers (Medplum fresh per test, as in test_live)."""
    if request.param == "server":
        yield request.getfixturevalue("live_server")
        return
    request.getfixturevalue("medplum_server")
    with running_medplum() as base_url:
        yield base_url


def _episode(name: str = "mental-health-iop") -> Episode:
    """A packaged example (it has reviews) with its own episode key and MRN."""
    episode = load_episodes(PACKAGED / f"{name}.yaml")[0]
    assert episode.reviews, "the example has reviews"
    tag = uuid.uuid4().hex[:12]
    ident = episode.patient.identifiers[0].model_copy(update={"value": f"MRN-{tag}"})
    patient = episode.patient.model_copy(update={"identifiers": [ident]})
    return episode.model_copy(update={"key": f"{episode.key}-{tag}", "patient": patient})


def _pull(client: FhirClient, episode: Episode) -> Episode:
    ident = episode.patient.identifiers[0]
    result = pull(client, (ident.system, ident.value))
    assert len(result.episodes) == 1
    return result.episodes[0]


def _goal_ids(client: FhirClient, episode: Episode) -> dict[str, str]:
    """Goal key → server id, found by the Goal's business identifier."""
    out = {}
    for goal in episode.goals:
        value = f"{episode.key}/{goal.key}"
        found = [
            g
            for g in client.search("Goal").where(subject=_patient_ref(client, episode)).fetch_all()
            if any(i.get("value") == value for i in g.get("identifier", []))
        ]
        assert len(found) == 1, goal.key
        out[goal.key] = found[0]["id"]
    return out


def _patient_ref(client: FhirClient, episode: Episode) -> str:
    ident = episode.patient.identifiers[0]
    patients = (
        client.search("Patient").where(identifier=f"{ident.system}|{ident.value}").fetch_all()
    )
    assert len(patients) == 1
    return f"Patient/{patients[0]['id']}"


def _provenances(client: FhirClient, goal_ids: list[str]) -> list[dict]:
    targets = ",".join(f"Goal/{i}" for i in goal_ids)
    return client.search("Provenance").where(target=targets).fetch_all()


def test_reviews_are_put_to_ids_derived_from_their_record_identifier():
    server = FakeServer()
    episode = _episode()
    transport = MemoryTransport(server.handle)
    report = push(FhirClient(BASE, transport=transport), episode)
    assert report.failed == 0
    stored = {rid: r for (rtype, rid), r in server.store.items() if rtype == "Provenance"}
    wanted = {
        derived_id("Provenance", "https://iopfhir.org/fhir/id/review", f"{episode.key}/{r.key}")
        for r in episode.reviews
    }
    assert set(stored) == wanted
    planned = [p for p in report.planned if p.url.startswith("Provenance")]
    assert planned and all(p.method == "PUT" for p in planned)
    again = push(FhirClient(BASE, transport=MemoryTransport(server.handle)), episode)
    assert again.writes == 0
    assert sum(1 for (rtype, _i) in server.store if rtype == "Provenance") == 3


@pytest.mark.integration
def test_reviews_survive_push_and_pull(fhir_server):
    episode = _episode()
    with FhirClient(fhir_server, timeout=LIVE_TIMEOUT) as client:
        report = push(client, episode)
        assert report.failed == 0
        assert "Provenance" not in report.not_accepted, report.not_accepted
        ids = _goal_ids(client, episode)
        stored = _provenances(client, list(ids.values()))
        back = _pull(client, episode)
    assert len(stored) == len(episode.reviews) == 3
    assert sorted(back.reviews, key=lambda r: r.key) == sorted(episode.reviews, key=lambda r: r.key)
    for goal in episode.goals:
        assert goal_history(back.reviews, goal.key) == goal_history(episode.reviews, goal.key)
        again = next(g for g in back.goals if g.key == goal.key)
        assert (again.lifecycle_status, again.achievement_status, again.status_date) == (
            goal.lifecycle_status,
            goal.achievement_status,
            goal.status_date,
        )


@pytest.mark.integration
def test_a_second_push_writes_no_review_again(fhir_server):
    episode = _episode("co-occurring-sud-iop")
    own = DisclosureTerms(own_system=True)  # Part 2 data: the server is the program's own
    with FhirClient(fhir_server, timeout=LIVE_TIMEOUT) as client:
        push(client, episode, disclosure=own)
        second = push(client, episode, disclosure=own)
        ids = _goal_ids(client, episode)
        stored = _provenances(client, list(ids.values()))
    assert second.summary()["created"] == second.summary()["updated"] == 0
    assert len(stored) == len(episode.reviews)


@pytest.mark.integration
def test_a_later_review_is_a_new_goal_version_and_reads_back(fhir_server):
    episode = _episode()
    later = Review(
        key="review-follow-up",
        date="2026-05-29",
        author="th-nguyen",
        goals=[
            GoalStatusChange(
                goal="goal-depression",
                lifecycle_status="completed",
                achievement_status="sustaining",
                note="Still in remission at the one-month check-in.",
            )
        ],
    )
    followed = Episode.model_validate(
        {**episode.model_dump(by_alias=True), "reviews": [*episode.reviews, later]}
    )
    goal = next(g for g in followed.goals if g.key == "goal-depression")
    assert goal.achievement_status == "sustaining"  # the latest review sets the goal
    with FhirClient(fhir_server, timeout=LIVE_TIMEOUT) as client:
        push(client, episode)
        report = push(client, followed)
        # the Goal (a new version) and the new review's Provenance (a PUT that creates:
        # sekmet answers 201, Medplum 200, so the two counts together)
        assert report.failed == 0
        assert report.summary()["created"] + report.summary()["updated"] == 2
        ids = _goal_ids(client, followed)
        versions = client.history("Goal", ids["goal-depression"]).get("entry") or []
        back = _pull(client, followed)
    statuses = sorted(
        (
            e["resource"]["meta"]["lastUpdated"],  # versionIds need not sort (Medplum: uuids)
            e["resource"]["achievementStatus"]["coding"][0]["code"],
        )
        for e in versions
        if isinstance(e.get("resource"), dict)
    )
    assert [code for _v, code in statuses] == ["achieved", "sustaining"]
    assert [c.achievement_status for _r, c in goal_history(back.reviews, "goal-depression")] == [
        "improving",
        "achieved",
        "sustaining",
    ]
    again = next(g for g in back.goals if g.key == "goal-depression")
    assert again.achievement_status == "sustaining"
    assert str(again.status_date) == "2026-05-29"
