"""A reference to a person that the model cannot keep is counted where it is read (issue
11, faithful import): before, a literal reference to a practitioner the input does not
hold (a partial export, a single resource sent alone) vanished in silence from a plan's
author, a note's author, a score's performer, a referral's requester and a check-in.

Each on the two examples' resources, by both readers (NDJSON and Bundle); each changed
element is counted once, and nothing else is.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.fhir.both_readers import FORMS, unmapped_delta
from tests.fhir.example_resources import example_resources

MISSING = {"reference": "Practitioner/not-in-the-input"}
UNRESOLVED = "names no person of the input (dropped)"
NOT_PRACTITIONER = "not a practitioner of the input (dropped)"


def _delta(change: Callable[[dict[str, Any]], int], tmp: Path, form: str) -> tuple[Any, int]:
    plain = example_resources()
    more = copy.deepcopy(plain)
    changed = sum(change(res) for res in more)
    delta, _, _ = unmapped_delta(plain, more, tmp, form)
    return dict(delta), changed


def _kind(res: dict[str, Any]) -> str:
    return next((c["code"] for cc in res.get("category", []) for c in cc["coding"]), "")


@FORMS
def test_plan_authors_the_input_lacks(tmp_path: Path, form: str) -> None:
    def change(res: dict[str, Any]) -> int:
        if res["resourceType"] == "CarePlan" and "author" in res:
            res["author"] = MISSING
            return 1
        return 0

    delta, changed = _delta(change, tmp_path, form)
    # the treatment, relapse-prevention and aftercare plans, and the discharge plans
    assert changed == 8
    assert delta == {f"CarePlan.author: {UNRESOLVED}": changed}


@FORMS
def test_the_patient_as_plan_author(tmp_path: Path, form: str) -> None:
    kinds: dict[str, int] = {}

    def change(res: dict[str, Any]) -> int:
        if res["resourceType"] == "CarePlan" and "author" in res:
            res["author"] = res["subject"]
            kinds[_kind(res)] = kinds.get(_kind(res), 0) + 1
            return 1
        return 0

    delta, _ = _delta(change, tmp_path, form)
    discharge = kinds.pop("inpatient-discharge")
    assert discharge == 2
    assert delta == {
        "CarePlan.author: the patient (dropped)": sum(kinds.values()),
        f"CarePlan.author: {NOT_PRACTITIONER}": discharge,
    }


@FORMS
def test_note_authors_the_input_lacks(tmp_path: Path, form: str) -> None:
    def change(res: dict[str, Any]) -> int:
        n = 0
        for note in res.get("note", []) if res["resourceType"] == "CarePlan" else []:
            if "authorReference" in note:
                note["authorReference"] = MISSING
                n += 1
        return n

    delta, changed = _delta(change, tmp_path, form)
    assert changed == 5
    assert delta == {f"CarePlan.note.authorReference: {UNRESOLVED}": changed}


@FORMS
def test_score_authors_the_input_lacks(tmp_path: Path, form: str) -> None:
    def change(res: dict[str, Any]) -> int:
        if res["resourceType"] == "QuestionnaireResponse" and "author" in res:
            res["author"] = MISSING
            return 1
        return 0

    plain = example_resources()
    more = copy.deepcopy(plain)
    changed = sum(change(res) for res in more)
    delta, after, before = unmapped_delta(plain, more, tmp_path, form)
    assert changed == 18  # one administration each
    assert dict(delta) == {f"QuestionnaireResponse.author: {UNRESOLVED}": changed}

    # the performer the score's Observations name is kept in its place
    def performers(result: Any) -> list[tuple[str, str | None]]:
        return [(m.key, m.performer) for e in result.episodes for m in e.measures]

    assert sum(p is not None for _, p in performers(before)) >= changed
    assert performers(after) == performers(before)


@FORMS
def test_score_people_the_input_lacks_everywhere(tmp_path: Path, form: str) -> None:
    """No member of an administration names a person the input holds: no performer, and
    each member's reference is counted where it stood."""

    def change(res: dict[str, Any]) -> int:
        if res["resourceType"] == "QuestionnaireResponse" and "author" in res:
            res["author"] = MISSING
            return 1
        if res["resourceType"] == "Observation" and "performer" in res:
            res["performer"] = [{"reference": "PractitionerRole/not-in-the-input"}]
            return 1
        return 0

    plain = example_resources()
    more = copy.deepcopy(plain)
    sum(change(res) for res in more)
    delta, after, _ = unmapped_delta(plain, more, tmp_path, form)
    assert all(m.performer is None for e in after.episodes for m in e.measures)
    assert set(delta) == {
        f"QuestionnaireResponse.author: {UNRESOLVED}",
        f"Observation.performer: {UNRESOLVED}",
    }


@FORMS
def test_requesters_the_input_lacks(tmp_path: Path, form: str) -> None:
    referrals = 0

    def change(res: dict[str, Any]) -> int:
        nonlocal referrals
        if res["resourceType"] == "ServiceRequest" and "requester" in res:
            res["requester"] = MISSING
            referrals += _kind(res) == "inpatient"
            return 1
        return 0

    delta, changed = _delta(change, tmp_path, form)
    assert (changed, referrals) == (9, 2)
    assert delta == {
        # a referral's requester may be an organization: neither is in the input
        "ServiceRequest.requester: not a practitioner or organization of the input "
        "(dropped)": referrals,
        f"ServiceRequest.requester: {UNRESOLVED}": changed - referrals,
    }


@FORMS
def test_check_in_people_the_input_lacks(tmp_path: Path, form: str) -> None:
    def change(res: dict[str, Any]) -> int:
        n = 0
        if res["resourceType"] == "CarePlan" and _kind(res) == "aftercare":
            for activity in res.get("activity", []):
                if "performer" in activity.get("detail", {}):
                    activity["detail"]["performer"] = [MISSING]
                    n += 1
        return n

    delta, changed = _delta(change, tmp_path, form)
    assert changed == 7
    assert delta == {f"CarePlan.activity.detail.performer: {UNRESOLVED}": changed}


@FORMS
@pytest.mark.parametrize("identified", [True, False])
def test_a_contained_copy_of_a_practitioner(tmp_path: Path, form: str, identified: bool) -> None:
    """A Practitioner the input has, copied into an Encounter (``contained``, referenced as
    ``#p1``) with its identifier, is that practitioner, not a second one; a contained one
    that carries no identifier of the input's is a person of its own."""
    plain = example_resources()
    more = copy.deepcopy(plain)
    by_ref = {f"{r['resourceType']}/{r['id']}": r for r in more}
    encounter = next(
        r
        for r in more
        if r["resourceType"] == "Encounter"
        and any(
            p.get("individual", {}).get("reference", "").startswith("PractitionerRole/")
            for p in r.get("participant", [])
        )
    )
    part = next(
        p
        for p in encounter["participant"]
        if p.get("individual", {}).get("reference", "").startswith("PractitionerRole/")
    )
    role = by_ref[part["individual"]["reference"]]
    person = copy.deepcopy(by_ref[role["practitioner"]["reference"]])
    assert person.get("identifier")
    person["id"] = "p1"
    if not identified:
        del person["identifier"]
    encounter["contained"] = [person]
    part["individual"] = {"reference": "#p1"}
    _, after, before = unmapped_delta(plain, more, tmp_path, form)

    def people(result: Any) -> list[list[str]]:
        return [sorted(p.key for p in e.practitioners) for e in result.episodes]

    if identified:
        assert people(after) == people(before)
    else:
        assert [len(keys) for keys in people(after)] != [len(keys) for keys in people(before)]
