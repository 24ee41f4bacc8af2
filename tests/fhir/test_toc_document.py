"""The transition-of-care document (``iopfhir.fhir.document``): document Bundle rules
(bdl-7, bdl-9, bdl-10, bdl-11, Composition first, every reference inside), the IOP ToC
profile, sections and their narratives, the two moments, determinism, the
DocumentReference, and the ``toc`` command."""

from __future__ import annotations

import base64
import hashlib
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from tests.strategies import episodes as episode_strategy

from iopfhir.domain import Episode
from iopfhir.errors import MappingError
from iopfhir.fhir.document import (
    TOC_COMPOSITION_PROFILE,
    document_reference,
    render_html,
    toc_document,
)
from iopfhir.fhir.document._index import references_in
from iopfhir.terminology.documents import toc_category, toc_section, toc_sections, toc_type

ROOT = Path(__file__).resolve().parents[2]
XHTML = "{http://www.w3.org/1999/xhtml}"


# -- the document rules, checked here on our own (the validator checks them too) -------------


def document_problems(doc: dict[str, Any]) -> list[str]:
    """Every broken document rule of ``doc``: an empty list for a good document."""
    out = []
    if doc.get("type") != "document":
        out.append("type")
    ident = doc.get("identifier") or {}
    if not (ident.get("system") and ident.get("value")):
        out.append("bdl-9 identifier")
    if not doc.get("timestamp"):
        out.append("bdl-10 timestamp")
    entries = doc.get("entry") or []
    if not entries or entries[0]["resource"]["resourceType"] != "Composition":
        out.append("bdl-11 Composition first")
    urls = [e.get("fullUrl") for e in entries]
    if None in urls or len(set(urls)) != len(urls):
        out.append("bdl-7 fullUrl unique")
    inside = set(urls)
    for position, entry in enumerate(entries):
        for ref in references_in(entry["resource"]):
            if ref not in inside:
                out.append(f"entry {position}: reference outside the document")
    composition = entries[0]["resource"] if entries else {}
    for section in composition.get("section", []):
        has_entries = bool(section.get("entry"))
        if has_entries == ("emptyReason" in section):
            out.append(f"section {section.get('title')}: entries xor emptyReason")
        root = ET.fromstring(section["text"]["div"])  # must be well-formed XHTML
        if root.tag != f"{XHTML}div" or not "".join(root.itertext()).strip():
            out.append(f"section {section.get('title')}: narrative")
    return out


def all_references_reachable(doc: dict[str, Any]) -> bool:
    """Every entry after the Composition is referenced by something in the document."""
    referenced = {ref for e in doc["entry"] for ref in references_in(e["resource"])}
    return all(e["fullUrl"] in referenced for e in doc["entry"][1:])


@pytest.fixture(scope="module")
def validator() -> Any:
    from iopfhir.validation import Validator

    return Validator.with_iop_profiles()


@pytest.mark.parametrize("at", ["discharge", "referral"])
def test_documents_of_every_fixture_follow_the_document_rules(
    all_episodes: list[Episode], at: str
) -> None:
    checked = 0
    for episode in all_episodes:
        if at == "referral" and episode.referral is None:
            continue
        stamp = None if episode.discharge else datetime(2026, 5, 1, 12, tzinfo=UTC)
        if not episode.organizations:  # nobody to keep the document
            with pytest.raises(MappingError):
                toc_document(episode, at=at, timestamp=stamp)  # type: ignore[arg-type]
            continue
        doc = toc_document(episode, at=at, timestamp=stamp)  # type: ignore[arg-type]
        assert document_problems(doc) == []
        assert all_references_reachable(doc)
        checked += 1
    assert checked


@pytest.mark.parametrize("at", ["discharge", "referral"])
def test_example_documents_validate_against_r4_and_the_toc_profile(
    example_episodes: list[Episode], validator: Any, at: str
) -> None:
    for episode in example_episodes:
        doc = toc_document(episode, at=at)  # type: ignore[arg-type]
        composition = doc["entry"][0]["resource"]
        assert composition["meta"]["profile"] == [TOC_COMPOSITION_PROFILE]
        report = validator.validate(doc)
        assert [str(i) for i in report.errors] == []


def test_the_validator_enforces_the_document_rules_and_the_profile(
    example_episodes: list[Episode], validator: Any
) -> None:
    """Each broken rule is reported: the checks above are not vacuous."""
    good = toc_document(example_episodes[0], at="referral")

    def broken(change: Any) -> list[str]:
        doc = orjson.loads(orjson.dumps(good))
        change(doc)
        return [str(i) for i in validator.validate(doc).errors]

    assert any("bdl-9" in e for e in broken(lambda d: d.pop("identifier")))
    assert any("bdl-10" in e for e in broken(lambda d: d.pop("timestamp")))
    assert any("bdl-7" in e for e in broken(lambda d: d["entry"].append(d["entry"][1])))
    assert any("bdl-11" in e for e in broken(lambda d: d["entry"].insert(0, d["entry"].pop(1))))
    assert broken(lambda d: d["entry"].pop())  # an entry a reference needs is gone
    assert any(
        "iop-toc-1" in e
        for e in broken(lambda d: d["entry"][0]["resource"]["section"][0].pop("entry"))
    )
    assert broken(lambda d: d["entry"][0]["resource"]["section"].pop(2))  # a section missing
    assert broken(lambda d: d["entry"][0]["resource"].update(confidentiality="R"))


def test_sections_are_the_terminology_sections_in_order(rich_episode: Episode) -> None:
    composition = toc_document(rich_episode)["entry"][0]["resource"]
    got = [(s["title"], s["code"]["coding"][0]["code"]) for s in composition["section"]]
    assert got == [(s.title, s.code) for s in toc_sections()]
    assert composition["type"]["coding"] == [toc_type("discharge")]
    assert composition["category"][0]["coding"] == [toc_category()]
    assert "confidentiality" not in composition
    assert composition["attester"][0]["mode"] == "legal"


def test_profile_fsh_and_terminology_data_agree() -> None:
    fsh = (ROOT / "profiles/input/fsh/iop-toc.fsh").read_text("utf-8")
    inserted = re.findall(r"insert IopTocSection\(\w+, ([0-9-]+), (.+)\)$", fsh, re.MULTILINE)
    assert [(code, display.replace("\\)", ")")) for code, display in inserted] == [
        (s.code, s.display) for s in toc_sections()
    ]
    assert f"$loinc#{toc_category()['code']}" in fsh
    for at in ("discharge", "referral"):
        assert f"$loinc#{toc_type(at)['code']}" in fsh


def _section(doc: dict[str, Any], key: str) -> dict[str, Any]:
    code = toc_section(key).code
    sections = doc["entry"][0]["resource"]["section"]
    return next(s for s in sections if s["code"]["coding"][0]["code"] == code)


def _entry_types(doc: dict[str, Any], key: str) -> list[str]:
    by_url = {e["fullUrl"]: e["resource"] for e in doc["entry"]}
    return [by_url[e["reference"]]["resourceType"] for e in _section(doc, key).get("entry", [])]


def test_discharge_document_holds_the_episode(example_episodes: list[Episode]) -> None:
    episode = example_episodes[0]
    doc = toc_document(episode)
    assert doc["timestamp"] == f"{episode.discharge.date.isoformat()}T00:00:00Z"  # type: ignore[union-attr]
    assert _entry_types(doc, "problems") == ["Condition"] * len(episode.diagnoses)
    assert len(_entry_types(doc, "allergies")) == len(episode.allergies)
    assert len(_entry_types(doc, "medications")) == len(episode.medications) + len(
        episode.prescriptions
    )
    assert _entry_types(doc, "relapse-prevention") == ["CarePlan"]
    assert "CarePlan" in _entry_types(doc, "aftercare")
    assert "Appointment" in _entry_types(doc, "aftercare")
    assert len(_entry_types(doc, "goals")) == len(episode.goals)
    scored = {m.key for m in episode.measures}
    assessments = _section(doc, "assessments")
    assert len([t for t in _entry_types(doc, "assessments") if t == "Observation"]) == len(scored)
    div = assessments["text"]["div"]
    for measure in episode.measures:
        assert measure.date.isoformat()[:10] in div  # one row per administration
    custodian = doc["entry"][0]["resource"]["custodian"]["reference"]
    by_url = {e["fullUrl"]: e["resource"] for e in doc["entry"]}
    assert by_url[custodian]["resourceType"] == "Organization"


def test_referral_document_holds_only_what_was_known_then(
    example_episodes: list[Episode],
) -> None:
    episode = example_episodes[0]
    assert episode.referral is not None and episode.referral.date is not None
    doc = toc_document(episode, at="referral")
    composition = doc["entry"][0]["resource"]
    assert composition["type"]["coding"] == [toc_type("referral")]
    assert composition["date"] == episode.referral.date.isoformat()
    aftercare = _section(doc, "aftercare")
    assert "entry" not in aftercare
    assert aftercare["emptyReason"]["coding"][0]["code"] == "notstarted"
    cutoff = episode.referral.date
    late_allergies = [a for a in episode.allergies if a.recorded and a.recorded > cutoff]
    assert len(_entry_types(doc, "allergies")) == len(episode.allergies) - len(late_allergies)
    assert not [t for t in _entry_types(doc, "assessments")]  # no scores before the referral
    assert _entry_types(doc, "encounters") == ["Encounter"]  # the inpatient stay
    by_url = {e["fullUrl"]: e["resource"] for e in doc["entry"]}
    custodian = by_url[composition["custodian"]["reference"]]
    org = next(o for o in episode.organizations if o.key == episode.referral.organization)
    assert custodian["name"] == org.name
    assert len(doc["entry"]) < len(toc_document(episode)["entry"])


def test_same_episode_same_bytes_and_timestamp_from_the_caller(rich_episode: Episode) -> None:
    first = orjson.dumps(toc_document(rich_episode))
    assert first == orjson.dumps(toc_document(rich_episode))
    stamp = datetime(2026, 6, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    other = toc_document(rich_episode, timestamp=stamp)
    assert other["timestamp"] == stamp.isoformat()
    assert other["identifier"]["value"] != orjson.loads(first)["identifier"]["value"]


def test_missing_day_and_naive_timestamp_are_errors(rich_episode: Episode) -> None:
    undischarged = rich_episode.model_copy(update={"discharge": None})
    with pytest.raises(MappingError) as info:
        toc_document(undischarged)
    assert info.value.path == "$.discharge.date"
    with pytest.raises(MappingError):
        toc_document(rich_episode, timestamp=datetime(2026, 6, 1, 9, 30))
    no_referral = rich_episode.model_copy(update={"referral": None})
    with pytest.raises(MappingError) as info:
        toc_document(no_referral, at="referral")
    assert info.value.path == "$.referral"


def test_narratives_escape_every_value(example_episodes: list[Episode]) -> None:
    episode = example_episodes[0]
    assert episode.referral is not None
    hostile = '<script>alert("x")</script> & <b onclick="y">'
    referral = episode.referral.model_copy(update={"reason": hostile})
    doc = toc_document(episode.model_copy(update={"referral": referral}))
    div = _section(doc, "reason-for-referral")["text"]["div"]
    assert "<script" not in div and "&lt;script&gt;" in div
    root = ET.fromstring(div)
    assert not [e for e in root.iter() if e.attrib]  # no attribute got through
    assert not [e for e in root.iter() if e.tag.endswith("script")]
    assert hostile in "".join(root.itertext())  # the reader sees the text as it was
    page = render_html(doc)
    assert "<script" not in page and "&lt;script&gt;" in page


def test_part2_documents_carry_the_labels(part2_episode: Episode) -> None:
    doc = toc_document(part2_episode)
    codes = {label["code"] for label in doc["entry"][0]["resource"]["meta"]["security"]}
    assert {"R", "ETH", "42CFRPart2"} <= codes
    assert {label["code"] for label in doc["meta"]["security"]} == codes


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(episode=episode_strategy())
def test_any_episode_gives_a_complete_document(episode: Episode) -> None:
    stamp = datetime(2026, 7, 1, tzinfo=UTC)
    try:
        doc = toc_document(episode, timestamp=stamp)
    except MappingError as exc:  # only for want of a custodian organization
        error: MappingError | None = exc
    else:
        error = None
    if error is not None:
        assert error.path == "$.program.organization"
        assert not [o for o in episode.organizations if o.kind in (None, "provider")]
        return
    assert document_problems(doc) == []
    assert all_references_reachable(doc)


# -- DocumentReference --------------------------------------------------------------------------


def test_document_reference_carries_the_document(
    example_episodes: list[Episode], validator: Any
) -> None:
    doc = toc_document(example_episodes[1])
    page = render_html(doc)
    ref = document_reference(doc, html=page)
    first, second = (c["attachment"] for c in ref["content"])
    data = base64.b64decode(first["data"])
    assert orjson.loads(data) == doc
    assert first["contentType"] == "application/fhir+json"
    assert first["size"] == len(data)
    assert first["hash"] == base64.b64encode(hashlib.sha1(data).digest()).decode()
    assert second["contentType"] == "text/html"
    assert base64.b64decode(second["data"]).decode() == page
    composition = doc["entry"][0]["resource"]
    assert ref["type"] == composition["type"]
    assert ref["status"] == "current"
    assert ref["masterIdentifier"] == doc["identifier"]
    assert ref["date"] == doc["timestamp"]
    assert ref["subject"]["type"] == "Patient" and "identifier" in ref["subject"]
    assert ref["context"]["encounter"][0]["type"] == "EpisodeOfCare"
    assert ref["context"]["period"] == composition["event"][0]["period"]
    report = validator.validate(ref)
    assert [str(i) for i in report.errors] == []
    assert [str(i) for i in report.issues if i.severity == "warning"] == []  # dom-6 met
    assert list(ref)[:3] == ["resourceType", "meta", "text"]  # where R4 places it
    div = ET.fromstring(ref["text"]["div"])
    shown = "".join(div.itertext())
    assert composition["title"] in shown and doc["timestamp"] in shown
    # its own values only: no identifier of the patient it is about
    assert ref["subject"]["identifier"]["value"] not in shown
    assert len(document_reference(doc)["content"]) == 1
    assert orjson.dumps(document_reference(doc)) == orjson.dumps(document_reference(doc))


def test_document_reference_refuses_what_is_not_a_document() -> None:
    with pytest.raises(MappingError):
        document_reference({"resourceType": "Bundle", "type": "collection", "entry": []})


# -- the command ----------------------------------------------------------------------------------


def test_toc_command_writes_document_reference_and_page(tmp_path: Path) -> None:
    from iopfhir.cli import main

    example = ROOT / "src/iopfhir/examples/co-occurring-sud-iop.yaml"
    out = tmp_path / "doc.json"
    args = [
        "toc",
        str(example),
        "-o",
        str(out),
        "--document-reference",
        str(tmp_path / "dr.json"),
        "--html",
        str(tmp_path / "page.html"),
    ]
    assert main(args) == 0
    first = out.read_bytes()
    assert main(args) == 0
    assert out.read_bytes() == first
    doc = orjson.loads(first)
    assert document_problems(doc) == []
    dr = orjson.loads((tmp_path / "dr.json").read_bytes())
    assert dr["resourceType"] == "DocumentReference" and len(dr["content"]) == 1
    assert (tmp_path / "page.html").read_text("utf-8").startswith("<!DOCTYPE html>")
    assert main(["toc", str(example), "--at", "referral", "-o", str(out)]) == 0
    assert orjson.loads(out.read_bytes())["entry"][0]["resource"]["type"]["coding"] == [
        toc_type("referral")
    ]


def test_toc_command_pdf_without_chromium_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from iopfhir.cli import main

    monkeypatch.setenv("IOPFHIR_CHROMIUM", str(tmp_path / "no-such-browser"))
    example = ROOT / "src/iopfhir/examples/mental-health-iop.yaml"
    code = main(["toc", str(example), "--pdf", str(tmp_path / "out.pdf")])
    assert code != 0
    assert "chromium" in capsys.readouterr().err.lower()
    assert not (tmp_path / "out.pdf").exists()


def test_toc_command_refuses_a_file_of_many_episodes(tmp_path: Path) -> None:
    from iopfhir.cli import main

    cohort = ROOT / "src/iopfhir/examples"
    assert main(["toc", str(cohort), "-o", str(tmp_path / "d.json")]) == 2
    assert not (tmp_path / "d.json").exists()


def test_dates_in_documents_are_not_the_clock(rich_episode: Episode) -> None:
    doc = toc_document(rich_episode)
    assert doc["timestamp"].startswith(rich_episode.discharge.date.isoformat())  # type: ignore[union-attr]
    assert date.today().isoformat() not in doc["identifier"]["value"] or (
        rich_episode.discharge.date == date.today()  # type: ignore[union-attr]
    )


def test_toc_command_names_what_the_episode_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from iopfhir.cli import main

    data = yaml.safe_load((ROOT / "src/iopfhir/examples/mental-health-iop.yaml").read_text())
    data.pop("discharge")
    data["status"] = "active"
    episode_file = tmp_path / "active.yaml"
    episode_file.write_text(yaml.safe_dump(data))
    out = tmp_path / "doc.json"
    assert main(["toc", str(episode_file), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "$.discharge.date" in err and "Rivera" not in err
    assert not out.exists()
    stamp = "2026-05-01T10:00:00+00:00"
    assert main(["toc", str(episode_file), "-o", str(out), "--timestamp", stamp]) == 0
    assert orjson.loads(out.read_bytes())["timestamp"] == stamp


def _listed_keys(doc: dict[str, Any], key: str) -> set[str]:
    """The local keys (before any ``/``) of iopfhir's identifiers on a section's entries."""
    from iopfhir.fhir.conventions import parse_identifier

    by_url = {e["fullUrl"]: e["resource"] for e in doc["entry"]}
    out = set()
    for ref in _section(doc, key).get("entry", []):
        idents = by_url[ref["reference"]].get("identifier", [])
        for ident in [idents] if isinstance(idents, dict) else idents:  # QR: 0..1
            parsed = parse_identifier(ident.get("system"), ident.get("value"))
            if parsed is not None:
                out.add(parsed[2].split("/")[0])
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(episode=episode_strategy())
def test_discharge_document_lists_every_administration_and_plan(episode: Episode) -> None:
    """Every instrument administration (with or without a QuestionnaireResponse: a total
    alone counts) is in the assessments section, and every treatment plan and foreign
    (``other``) plan in the plan of care."""
    try:
        doc = toc_document(episode, timestamp=datetime(2026, 7, 1, tzinfo=UTC))
    except MappingError:  # for want of a custodian (test_any_episode_gives_a_complete_document)
        return
    assert _listed_keys(doc, "assessments") == {m.key for m in episode.measures}
    div = _section(doc, "assessments")["text"]["div"]
    # one row per administration in the narrative (a row of <td>s; headers are <th>s)
    assert div.count("<tr><td>") == len(episode.measures)
    plans = {p.key for p in episode.care_plans if p.kind in ("treatment", "other")}
    assert plans <= _listed_keys(doc, "plan-of-care")
