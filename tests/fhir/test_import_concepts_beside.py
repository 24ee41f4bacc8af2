"""A CodeableConcept read as one project code gives back that code (and the codings the
writer derives from it) alone: its other codings, its text and, where no code of the
system is there, the concept itself are counted under ``unmapped`` (they were dropped in
silence: a modality, an aftercare service, a plan category, a discharge disposition, a
referral source, an organization kind, a plan activity's code, a Flag's code, a total's
interpretation).

The examples are converted to FHIR, each such concept changed (a SNOMED coding added, a
text added, or its coding replaced), and read by both readers; the untouched Bundle counts
none of it.
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from tests.fhir.both_readers import FORMS, unmapped_delta
from tests.fhir.example_resources import example_resources

from iopfhir.terminology import code_system_url

SNOMED = {"system": "http://snomed.info/sct", "code": "999999"}

#: the elements that hold one project code, the code systems read there
ELEMENTS = {
    ("Appointment.extension.valueCodeableConcept", "modality"),
    ("Encounter.extension.valueCodeableConcept", "modality"),
    ("CarePlan.activity.detail.extension.valueCodeableConcept", "modality"),
    ("CarePlan.activity.detail.code", "session-kind"),
    ("CarePlan.activity.detail.code", "relapse-element"),
    ("CarePlan.activity.detail.code", "check-in"),
    ("CarePlan.category", "care-plan-kind"),
    ("ServiceRequest.code", "aftercare-service"),
    ("ServiceRequest.category", "referral-source"),
    ("Organization.type", "organization-kind"),
    ("EpisodeOfCare.extension.valueCodeableConcept", "discharge-disposition"),
    ("Flag.code", "safety-flag"),
    ("Observation.interpretation", "severity"),
}
SYSTEMS = {code_system_url(name): name for _, name in ELEMENTS}


def _changed(
    resources: list[dict[str, Any]], how: str
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """A copy of ``resources`` with each concept of :data:`ELEMENTS` changed ``how``, and
    how many were, by element."""
    out = copy.deepcopy(resources)
    touched: Counter[str] = Counter()

    def visit(node: Any, path: str) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item, path)
            return
        if not isinstance(node, dict):
            return
        items = node.get("coding")
        if isinstance(items, list) and items:
            name = SYSTEMS.get(items[0].get("system"))
            if (path, name) in ELEMENTS and not (
                # the stay's discharge plan and a referral's category are written whole
                # again (derived) on iopfhir's own resources
                name == "care-plan-kind" and items[0]["code"] == "inpatient-discharge"
            ):
                if how == "coding":
                    items.append(dict(SNOMED))
                elif how == "text":
                    node["text"] = "as the source says it"
                else:
                    node["coding"] = [dict(SNOMED)]
                touched[path] += 1
            return
        for key, value in node.items():
            if key != "text":
                visit(value, f"{path}.{key}")

    for resource in out:
        visit(resource, resource["resourceType"])
    return out, touched


def _by_element(delta: Counter[str], suffix: str) -> Counter[str]:
    """The counts of ``delta`` by the element they name (``suffix`` taken off)."""
    out: Counter[str] = Counter()
    for key, n in delta.items():
        at = key.split(": ", 1)[0]
        if at.endswith(suffix):
            out[at.removesuffix(suffix)] += n
    return out


@FORMS
@pytest.mark.parametrize("how", ["coding", "text"])
def test_a_coding_or_text_beside_the_code_is_counted(tmp_path: Path, form: str, how: str) -> None:
    plain = example_resources()
    more, touched = _changed(plain, how)
    assert set(touched) == {at for at, _ in ELEMENTS}, touched
    delta, _, before = unmapped_delta(plain, more, tmp_path, form)
    counted = _by_element(delta, f".{how}")
    # an organization is read in each episode that names it, and counted in each
    assert counted.pop("Organization.type") >= touched.pop("Organization.type")
    assert counted == touched
    # the untouched resources count none of it
    assert not [k for k in before.unmapped if "beside the code" in k or "read as its code" in k]


@FORMS
def test_a_concept_without_the_code_is_counted(tmp_path: Path, form: str) -> None:
    plain = example_resources()
    more, touched = _changed(plain, "replaced")
    delta, after, before = unmapped_delta(plain, more, tmp_path, form)
    # the modality, disposition and referral source are read from nothing else: each
    # concept is counted (a referral source as ``other``)
    for at, name in [
        ("Encounter.extension.valueCodeableConcept", "modality"),
        ("Appointment.extension.valueCodeableConcept", "modality"),
        ("CarePlan.activity.detail.extension.valueCodeableConcept", "modality"),
        ("EpisodeOfCare.extension.valueCodeableConcept", "discharge-disposition"),
    ]:
        assert delta[f"{at}: no {name} code (dropped)"] == touched[at], at
    source = "ServiceRequest.category: no referral-source code (read as other)"
    assert delta[source] == touched["ServiceRequest.category"] > 0
    assert all(e.referral is None or e.referral.source == "other" for e in after.episodes)
    assert (
        delta["Observation.interpretation.coding: not a band of the score (dropped)"]
        == (touched["Observation.interpretation"])
    )
    assert (
        delta["Organization.type: no organization-kind code (dropped)"]
        >= (touched["Organization.type"])
    )
    # a session kind replaced is held as the activity's own code: nothing is lost
    assert not any(k.startswith("CarePlan.activity.detail.code.") for k in delta)
    assert not [k for k in before.unmapped if k.split(": ", 1)[-1].startswith("no ")]
