"""Reading the PACIO transition-of-care examples (corpus): every toc-test-kit Bundle and
every sample-data Composition keeps its medications, allergies, problems and plan, and the
hospital encounter is the referral's stay, not an IOP session.

Counts are derived from each document in the test: the resources its sections list (a
``List`` entry stands for its items), by section code (``section_kind``).

The sample-data depot (``sample-data-depot-bsj``) holds its Compositions as loose files:
each is assembled into a document Bundle here (:func:`assemble`): the Composition first,
then every resource of the depot (the scene Bundles unpacked) that it references, directly
or through what it references, each with a RESTful ``fullUrl``. The depot lacks most of
what the Compositions list (17 entries of each); a document must hold its entries, so those
are dropped from the assembled copy (the reader refuses the unpruned one: tested below).
"""

from __future__ import annotations

import copy
import json
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from iopfhir.errors import FhirInputError
from iopfhir.fhir.read import ImportResult, read_fhir, read_fhir_streamed
from iopfhir.fhir.read.document import section_kind

pytestmark = pytest.mark.corpus

TOC_KIT = "ig-examples/pacio/toc-test-kit"
BSJ = "ig-examples/pacio/sample-data-depot-bsj"
BASE = "https://pacio.example/fhir"
LOINC = "http://loinc.org"
PLAN_KINDS = ("plan-of-care", "aftercare", "relapse-prevention")


def _read_both(doc: dict[str, Any]) -> ImportResult:
    result = read_fhir(copy.deepcopy(doc))
    streamed = read_fhir_streamed(copy.deepcopy(doc))
    assert streamed.episodes == result.episodes
    assert streamed.unmapped == result.unmapped
    return result


def _type_id(ref: str) -> str:
    parts = ref.split("/")
    return f"{parts[-2]}/{parts[-1]}"


def _resources(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``Type/id`` → resource of every entry."""
    return {
        f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"]
        for e in bundle["entry"]
    }


def _sections(composition: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    stack = list(reversed(composition.get("section", [])))
    while stack:
        section = stack.pop()
        out.append(section)
        stack.extend(reversed(section.get("section", [])))
    return out


def _code(section: dict[str, Any]) -> str | None:
    return next(
        (c["code"] for c in section.get("code", {}).get("coding", []) if c.get("system") == LOINC),
        None,
    )


def listed(doc: dict[str, Any], kinds: tuple[str, ...], rtypes: tuple[str, ...]) -> list[str]:
    """ids of the resources of ``rtypes`` the sections of ``kinds`` list (a List stands for
    its items), in document order, once each."""
    by = _resources(doc)
    out: list[str] = []
    for section in _sections(doc["entry"][0]["resource"]):
        if section_kind(_code(section)) not in kinds:
            continue
        for ref in section.get("entry", []):
            target = by[_type_id(ref["reference"])]
            items = [target]
            if target["resourceType"] == "List":
                items = [
                    by[_type_id(i["item"]["reference"])]
                    for i in target.get("entry", [])
                    if _type_id(i["item"]["reference"]) in by
                ]
            for item in items:
                if item["resourceType"] in rtypes and item["id"] not in out:
                    out.append(item["id"])
    return out


def _check_kept(doc: dict[str, Any], result: ImportResult) -> None:
    """Problems, medications, allergies and plans of the sections are all in the episode."""
    (episode,) = result.episodes
    pairs = [
        (("problems",), ("Condition",), [d.key for d in episode.diagnoses]),
        (
            ("medications",),
            ("MedicationStatement", "MedicationRequest"),
            [m.key for m in episode.medications] + [p.key for p in episode.prescriptions],
        ),
        (("allergies",), ("AllergyIntolerance",), [a.key for a in episode.allergies]),
        (PLAN_KINDS, ("CarePlan",), [p.key for p in episode.care_plans]),
    ]
    for kinds, rtypes, keys in pairs:
        for rid in listed(doc, kinds, rtypes):
            assert rid in keys, (kinds, rid)


def _hospital_stay(doc: dict[str, Any], result: ImportResult) -> None:
    """Every Encounter of the document is no session; the referral's stay is one of them."""
    (episode,) = result.episodes
    encounters = [r for r in _resources(doc).values() if r["resourceType"] == "Encounter"]
    assert episode.sessions == []
    if encounters:
        assert episode.referral is not None
        assert episode.referral.stay is not None
        starts = [e["period"]["start"][:10] for e in encounters]
        assert episode.referral.stay.start.isoformat()[:10] in starts


# -- the toc-test-kit: one document Bundle, one transaction Bundle holding the same ------------


@pytest.mark.parametrize("name", ["toc-bundle-documentation.json", "toc-bundle-transaction.json"])
def test_toc_test_kit(corpus: Path, name: str) -> None:
    doc = json.loads((corpus / TOC_KIT / name).read_text("utf-8"))
    result = _read_both(doc)
    (episode,) = result.episodes
    _check_kept(doc, result)
    _hospital_stay(doc, result)
    # derived counts: what the sections list is there, and nothing of those types is lost
    every = _resources(doc).values()
    assert len(episode.diagnoses) == sum(r["resourceType"] == "Condition" for r in every)
    assert len(episode.allergies) == sum(r["resourceType"] == "AllergyIntolerance" for r in every)
    assert len(episode.medications) == sum(
        r["resourceType"] == "MedicationStatement" for r in every
    )
    assert len(episode.prescriptions) == sum(
        r["resourceType"] == "MedicationRequest" for r in every
    )
    assert len(episode.care_plans) == sum(r["resourceType"] == "CarePlan" for r in every)
    assert listed(doc, ("medications",), ("MedicationStatement",))  # found through the List
    # the reason-for-referral section (status additional) gives the reason
    assert episode.referral is not None and episode.referral.reason


# -- the sample-data depot: loose Compositions assembled into documents -----------------------


def _depot(corpus: Path) -> dict[str, dict[str, Any]]:
    """Every resource of the depot by ``Type/id`` (Bundles unpacked)."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted((corpus / BSJ).rglob("*.json")):
        data = json.loads(path.read_text("utf-8"))
        items = (
            [e["resource"] for e in data.get("entry", [])]
            if data["resourceType"] == "Bundle"
            else [data]
        )
        for item in items:
            out.setdefault(f"{item['resourceType']}/{item['id']}", item)
    return out


def _references(value: Any) -> list[str]:
    found = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("reference")
            if isinstance(ref, str) and "/" in ref and not ref.startswith("#"):
                found.append(_type_id(ref))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def assemble(
    composition: dict[str, Any], depot: dict[str, dict[str, Any]], *, prune: bool = True
) -> tuple[dict[str, Any], int]:
    """The document Bundle of a loose Composition (see the module docstring) and how many
    section entries were dropped because the depot lacks them (none with ``prune=False``)."""
    composition = copy.deepcopy(composition)
    dropped = 0
    if prune:
        for section in _sections(composition):
            if "entry" in section:
                kept = [e for e in section["entry"] if _type_id(e["reference"]) in depot]
                dropped += len(section["entry"]) - len(kept)
                section["entry"] = kept
                if not kept:
                    del section["entry"]
    order: list[str] = []
    queue = deque(_references(composition))
    while queue:
        name = queue.popleft()
        if (
            name in order
            or name not in depot
            or name.startswith("Composition/" + composition["id"])
        ):
            continue
        order.append(name)
        queue.extend(_references(depot[name]))
    entries = [{"fullUrl": f"{BASE}/Composition/{composition['id']}", "resource": composition}]
    entries += [{"fullUrl": f"{BASE}/{name}", "resource": depot[name]} for name in order]
    doc = {
        "resourceType": "Bundle",
        "identifier": {"system": f"{BASE}/document", "value": composition["id"]},
        "type": "document",
        "timestamp": composition["date"],
        "entry": entries,
    }
    return doc, dropped


def _compositions(corpus: Path) -> list[Path]:
    return sorted((corpus / BSJ).glob("*/Composition/*.json"))


def test_the_depot_has_three_compositions(corpus: Path) -> None:
    assert len(_compositions(corpus)) == 3


@pytest.mark.parametrize("number", range(3))
def test_sample_data_composition(corpus: Path, number: int) -> None:
    depot = _depot(corpus)
    composition = json.loads(_compositions(corpus)[number].read_text("utf-8"))
    doc, dropped = assemble(composition, depot)
    assert dropped > 0  # the depot lacks what they list: said in the module docstring
    result = _read_both(doc)
    _check_kept(doc, result)
    _hospital_stay(doc, result)
    (episode,) = result.episodes
    # what the sections list, counted from the document: every one kept
    problems = listed(doc, ("problems",), ("Condition",))
    assert problems and set(problems) <= {d.key for d in episode.diagnoses}
    # a List item the depot lacks is counted, never silently lost
    items = [
        _type_id(i["item"]["reference"])
        for r in _resources(doc).values()
        if r["resourceType"] == "List"
        for i in r.get("entry", [])
    ]
    missing = sum(name not in _resources(doc) for name in items)
    assert result.unmapped["List.entry.item: does not resolve (not read)"] == missing


@pytest.mark.parametrize("number", range(3))
def test_an_unpruned_sample_composition_is_refused_naming_the_entry(
    corpus: Path, number: int
) -> None:
    depot = _depot(corpus)
    composition = json.loads(_compositions(corpus)[number].read_text("utf-8"))
    doc, _ = assemble(composition, depot, prune=False)
    # the first section entry the depot lacks, found here by walking the sections in order
    first = None
    for i, section in enumerate(composition["section"]):
        for k, ref in enumerate(section.get("entry", [])):
            if _type_id(ref["reference"]) not in depot and first is None:
                first = (i, k, _code(section))
    assert first is not None
    with pytest.raises(FhirInputError) as caught:
        read_fhir(doc)
    message = str(caught.value)
    i, k, code = first
    assert f"Bundle.entry[0].resource.section[{i}].entry[{k}]: section LOINC {code}" in message
    # the section's own title names the patient: never in the message
    assert composition["section"][i].get("title", "-") not in message
    assert "Betsy" not in message and "Smith" not in message
