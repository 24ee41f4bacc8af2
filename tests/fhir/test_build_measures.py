"""Measures in the US Core screening-assessment shape: QuestionnaireResponse, one
Observation per answered item, the total, and the panel with ``hasMember``, all
``derivedFrom`` the QuestionnaireResponse."""

from __future__ import annotations

from typing import Any

import pytest

from iopfhir.domain import Episode
from iopfhir.fhir.build import episode_entries
from iopfhir.fhir.conventions import PROFILE, identifier_system
from iopfhir.terminology import instrument

LOINC = "http://loinc.org"
SURVEY = [
    {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "survey",
            }
        ]
    }
]


def measure_resources(episode: Episode, key: str) -> list[dict[str, Any]]:
    """The resources of one measure, in output order."""
    out = []
    for _url, res in episode_entries(episode):
        idents = res.get("identifier")
        for ident in [idents] if isinstance(idents, dict) else idents or []:
            if ident["system"] in (
                identifier_system("observation"),
                identifier_system("questionnaireresponse"),
            ) and (
                ident["value"] == f"{episode.key}/{key}"
                or ident["value"].startswith(f"{episode.key}/{key}/")
            ):
                out.append(res)
    return out


@pytest.fixture(scope="module")
def urls(rich_episode: Episode) -> dict[str, dict[str, Any]]:
    return dict(episode_entries(rich_episode))


def test_phq9_shape(rich_episode: Episode, urls: dict[str, dict[str, Any]]) -> None:
    qr, *observations = measure_resources(rich_episode, "m-phq9")
    assert qr["resourceType"] == "QuestionnaireResponse"
    assert qr["questionnaire"] == instrument("phq-9").questionnaire
    assert qr["status"] == "completed"
    assert qr["meta"]["profile"] == [PROFILE.QUESTIONNAIRE_RESPONSE]
    assert isinstance(qr["identifier"], dict)  # 0..1 in R4
    links = [i["linkId"] for i in qr["item"]]
    item_codes = [it.code for it in instrument("phq-9").items]
    # nine items + difficulty; no total item: the total was computed, not recorded
    assert links == [f"/{c}" for c in item_codes] + ["/69722-7"]
    assert qr["item"][0]["answer"][0]["valueCoding"]["code"] == "LA6569-3"
    assert urls[qr["encounter"]["reference"]]["resourceType"] == "Encounter"
    assert urls[qr["author"]["reference"]]["resourceType"] == "PractitionerRole"

    items, total, panel = observations[:10], observations[10], observations[11]
    assert len(observations) == 12
    assert [o["code"]["coding"][0]["code"] for o in items] == [*item_codes, "69722-7"]
    assert all(o["meta"]["profile"] == [PROFILE.OBSERVATION_ITEM] for o in items)
    assert total["code"]["coding"][0] == {"system": LOINC, "code": "44261-6"}
    assert total["valueQuantity"]["value"] == 10
    assert total["meta"]["profile"] == [PROFILE.observation_total("phq-9")]
    assert panel["code"]["coding"][0] == {"system": LOINC, "code": "44249-1"}
    assert "valueQuantity" not in panel
    members = [urls[m["reference"]] for m in panel["hasMember"]]
    assert members == [*items, total]
    qr_url = next(u for u, r in urls.items() if r == qr)
    for obs in observations:
        assert obs["status"] == "final"
        assert obs["category"] == SURVEY
        assert obs["derivedFrom"] == [{"reference": qr_url}]
        assert obs["effectiveDateTime"] == "2026-03-02T09:00:00-05:00"
        assert obs["subject"] == qr["subject"]


def test_recorded_total_is_a_qr_item(rich_episode: Episode) -> None:
    qr, *observations = measure_resources(rich_episode, "m-gad7")
    assert qr["item"][-1] == {"linkId": "/70274-6", "answer": [{"valueInteger": 7}]}
    assert len(observations) == 7 + 1 + 1


def test_total_only(rich_episode: Episode) -> None:
    qr, total, panel = measure_resources(rich_episode, "m-phq9-total")
    assert qr["item"] == [{"linkId": "/44261-6", "answer": [{"valueInteger": 6}]}]
    assert total["valueQuantity"]["value"] == 6
    assert len(panel["hasMember"]) == 1
    assert "encounter" not in total


def test_partial_answers_have_no_total(rich_episode: Episode) -> None:
    _qr, item, panel = measure_resources(rich_episode, "m-phq2")
    assert item["code"]["coding"][0]["code"] == "44250-9"
    assert len(panel["hasMember"]) == 1


def test_audit_c(rich_episode: Episode, urls: dict[str, dict[str, Any]]) -> None:
    qr, *observations = measure_resources(rich_episode, "m-audit")
    assert [o["code"]["coding"][0]["code"] for o in observations] == [
        "68518-0",
        "68519-8",
        "68520-6",
        "75626-2",
        "72109-2",
    ]
    assert urls[qr["author"]["reference"]]["resourceType"] == "RelatedPerson"


def test_cssrs_has_a_risk_level_and_no_panel(rich_episode: Episode) -> None:
    _qr, *observations = measure_resources(rich_episode, "m-cssrs")
    codes = [o["code"]["coding"][0]["code"] for o in observations]
    assert codes == ["93246-7", "93247-5", "93267-3", "93374-7"]
    total = observations[-1]
    assert total["valueCodeableConcept"] == {"coding": [{"system": LOINC, "code": "LA9194-7"}]}
    assert all("hasMember" not in o for o in observations)
    qr_total, total_only = measure_resources(rich_episode, "m-cssrs-total")
    assert qr_total["item"][0]["answer"][0]["valueCoding"]["code"] == "none"
    assert total_only["valueCodeableConcept"]["coding"][0]["code"] == "none"


def test_measure_at_a_no_show_session_has_no_encounter(rich_episode: Episode) -> None:
    episode = rich_episode.model_copy(
        update={
            "measures": [rich_episode.measures[3].model_copy(update={"session": "s4"})],
        }
    )
    resources = [r for _u, r in episode_entries(episode)]
    qr = next(r for r in resources if r["resourceType"] == "QuestionnaireResponse")
    assert "encounter" not in qr
