"""Two gaps of issue 11's import, closed.

- A Practitioner, PractitionerRole, Organization or Location that no episode takes (nothing
  references it, and it carries no iopfhir identifier of an episode) is counted in
  ``unmapped`` (``<type>: taken by no episode (dropped)``) by both readers, and one that an
  episode takes is not.
- A Condition without ``clinicalStatus`` (and an AllergyIntolerance / CareTeam without a
  status) keeps no status through the episode file: the file writes ``null`` where the
  model would otherwise read its default back (``active``).

And the shortcut the faster import takes: a compact JSON line (as bulk exports write NDJSON)
that orjson writes back as the same bytes, with fewer containers than the depth limit, skips
the indented re-serialisation of the JSON check; every line it lets through, the exact
checker lets through, and every error is still raised (duplicate keys, nesting, long numbers
and strings, at and around each limit); an Encounter participant built without validation
has a member the reader checked as the domain would.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from iopfhir.cli import main
from iopfhir.domain import SessionParticipant, dump_episodes
from iopfhir.domain.files import dump_episode, load_episodes
from iopfhir.errors import LoadError
from iopfhir.fhir.read import ImportResult, read_fhir, read_fhir_streamed
from iopfhir.fhir.read.keys import is_key
from iopfhir.loading import Limits
from iopfhir.loading.json_values import _exact_check, iter_json_stream_raw

REASON = "taken by no episode (dropped)"


def _patient_bundle(*extra: dict[str, Any]) -> dict[str, Any]:
    """A Patient with one Encounter (whose participant, location and service provider are
    a Practitioner, a Location and an Organization of the bundle), plus ``extra``."""
    resources: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": "p1", "name": [{"family": "Doe"}]},
        {"resourceType": "Practitioner", "id": "used-doc", "name": [{"family": "Used"}]},
        {"resourceType": "Organization", "id": "used-org", "name": "Used clinic"},
        {"resourceType": "Location", "id": "used-loc", "name": "Room 1"},
        {
            "resourceType": "Encounter",
            "id": "e1",
            "status": "finished",
            "class": {"code": "AMB"},
            "subject": {"reference": "Patient/p1"},
            "period": {"start": "2024-01-02T10:00:00Z", "end": "2024-01-02T11:00:00Z"},
            "participant": [{"individual": {"reference": "Practitioner/used-doc"}}],
            "location": [{"location": {"reference": "Location/used-loc"}}],
            "serviceProvider": {"reference": "Organization/used-org"},
        },
        *extra,
    ]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"http://example.org/fhir/{r['resourceType']}/{r['id']}", "resource": r}
            for r in resources
        ],
    }


_UNREFERENCED = [
    {"resourceType": "Practitioner", "id": "lone-doc", "name": [{"family": "Alone"}]},
    {"resourceType": "Practitioner", "id": "lone-doc-2", "name": [{"family": "Alone"}]},
    {"resourceType": "Location", "id": "lone-loc", "name": "Annex"},
    {"resourceType": "Organization", "id": "lone-org", "name": "Elsewhere"},
    {
        "resourceType": "PractitionerRole",
        "id": "lone-role",
        "practitioner": {"reference": "Practitioner/lone-doc-2"},
    },
]


def _both(source: Any) -> ImportResult:
    whole = read_fhir(source)
    streamed = read_fhir_streamed(source)
    assert dict(streamed.unmapped) == dict(whole.unmapped)
    assert streamed.episodes == whole.episodes
    return whole


def test_unreferenced_shared_resources_are_counted() -> None:
    result = _both(json.dumps(_patient_bundle(*_UNREFERENCED)))
    assert result.unmapped[f"Practitioner: {REASON}"] == 2
    assert result.unmapped[f"Location: {REASON}"] == 1
    assert result.unmapped[f"Organization: {REASON}"] == 1
    assert result.unmapped[f"PractitionerRole: {REASON}"] == 1
    (episode,) = result.episodes
    assert [p.key for p in episode.practitioners] == ["used-doc"]
    assert [o.key for o in episode.organizations] == ["used-org"]
    assert [loc.key for loc in episode.locations] == ["used-loc"]


def test_referenced_shared_resources_are_not_counted() -> None:
    result = _both(json.dumps(_patient_bundle()))
    assert not [k for k in result.unmapped if k.endswith(REASON)]


def test_a_role_counts_as_taken_with_its_practitioner() -> None:
    role = {
        "resourceType": "PractitionerRole",
        "id": "role-of-used",
        "practitioner": {"reference": "Practitioner/used-doc"},
        "organization": {"reference": "Organization/used-org"},
    }
    result = _both(json.dumps(_patient_bundle(role)))
    assert not [k for k in result.unmapped if k.endswith(REASON)]


def test_cli_summary_names_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.json"
    src.write_text(json.dumps(_patient_bundle(*_UNREFERENCED)))
    assert main(["import", str(src), "--summary"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["unmapped"]["Location"] == {f"Location: {REASON}": 1}
    assert summary["unmapped"]["Practitioner"] == {f"Practitioner: {REASON}": 2}


def _condition(cid: str, **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F32.1"}]},
        **fields,
    }


_ACTIVE = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
            "code": "active",
        }
    ]
}


def test_condition_without_clinical_status_stays_without(tmp_path: Path) -> None:
    bundle = _patient_bundle(
        _condition("no-status"),
        _condition("with-status", clinicalStatus=_ACTIVE),
        {
            "resourceType": "CareTeam",
            "id": "t1",
            "subject": {"reference": "Patient/p1"},
            "participant": [{"member": {"reference": "Practitioner/used-doc"}}],
        },
    )
    (episode,) = _both(json.dumps(bundle)).episodes
    status = {d.key: d.clinical_status for d in episode.diagnoses}
    assert status == {"no-status": None, "with-status": "active"}
    assert [d.verification_status for d in episode.diagnoses] == [None, None]
    assert [t.status for t in episode.teams] == [None]

    data = dump_episode(episode)
    by_key = {d["key"]: d for d in data["diagnoses"]}
    assert by_key["no-status"]["clinical_status"] is None
    assert "clinical_status" in by_key["no-status"]  # written as null, not left out
    assert by_key["with-status"]["clinical_status"] == "active"
    # the null sits where the field is, not at the end
    assert list(by_key["no-status"]) == list(by_key["with-status"])

    for suffix in ("json", "yaml"):
        out = tmp_path / f"ep.{suffix}"
        assert main(["import", str(_write(tmp_path, bundle)), "-o", str(out)]) == 0
        (back,) = load_episodes(out)
        assert {d.key: d.clinical_status for d in back.diagnoses} == status
        assert [d.verification_status for d in back.diagnoses] == [None, None]
        assert [t.status for t in back.teams] == [None]
        assert back == episode


def test_defaults_that_are_set_are_left_out_as_before() -> None:
    """Only ``None`` of a field with another default is written: a value equal to the
    default stays as it was (written), and no other empty field appears."""
    confirmed = {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                "code": "confirmed",
            }
        ]
    }
    bundle = _patient_bundle(
        _condition("with-status", clinicalStatus=_ACTIVE, verificationStatus=confirmed)
    )
    (episode,) = read_fhir(json.dumps(bundle)).episodes
    (dx,) = dump_episodes([episode])["diagnoses"]  # type: ignore[call-overload]
    assert None not in dx.values()
    assert dx["clinical_status"] == "active" and dx["verification_status"] == "confirmed"


def _write(root: Path, bundle: dict[str, Any]) -> Path:
    path = root / "bundle.json"
    path.write_text(json.dumps(bundle))
    return path


def _nested(depth: int) -> bytes:
    """A compact object whose innermost value sits inside ``depth`` containers."""
    return b'{"a":' + b"[" * (depth - 1) + b"1" + b"]" * (depth - 1) + b"}"


_COMPACT = [
    *(_nested(d) for d in range(1, 9)),
    b'{"resourceType":"Patient","id":"a","id":"b"}',
    b'{"resourceType":"Patient","id":"a","name":[{"family":"x","family":"y"}]}',
    b'{"a":{"b":1,"b":1}}',
    b'{"n":' + b"1" * 12 + b"}",
    b'{"n":' + b"1" * 13 + b"}",
    b'{"s":"' + b"x" * 20 + b'"}',
    b'{"s":"' + b"x" * 21 + b'"}',
    b'{"' + b"k" * 21 + b'":1}',
    b'{"s":"a:b","t":["{","["]}',
    b'{"data":"' + b"x" * 30 + b'"}',
    b'{"data":"' + b"x" * 31 + b'"}',
]


@pytest.mark.parametrize("line", _COMPACT)
def test_compact_line_shortcut_agrees_with_the_exact_check(line: bytes) -> None:
    limits = Limits(max_depth=5, max_number_digits=12, max_string_chars=20, max_data_chars=30)
    try:
        _exact_check(line, "<t>", 1, limits, frozenset())
        exact_ok = True
    except LoadError:
        exact_ok = False
    try:
        list(iter_json_stream_raw(io.BytesIO(line + b"\n"), "<t>", limits=limits))
        fast_ok = True
    except LoadError:
        fast_ok = False
    assert fast_ok == exact_ok


def test_compact_line_shortcut_refuses_what_it_must() -> None:
    """The cases above are not all accepted: the check still refuses some of each kind."""
    limits = Limits(max_depth=5, max_number_digits=12, max_string_chars=20, max_data_chars=30)
    refused = []
    for line in _COMPACT:
        try:
            list(iter_json_stream_raw(io.BytesIO(line + b"\n"), "<t>", limits=limits))
        except LoadError as exc:
            refused.append(str(exc))
    assert len(refused) == 10  # nesting 6, 7, 8; three repeats; 13 digits; 21, 21, 31 chars
    assert sum("repeats a key" in r for r in refused) == 3
    assert sum("nested deeper" in r for r in refused) == 3


@pytest.mark.parametrize(
    "text", ["abc", "abc\n", "a" * 48, "a" * 49, "-a", "a.b-c", "é", "A1", "", "a b", "1"]
)
def test_reader_key_check_is_the_domain_check(text: str) -> None:
    """Encounter participants are built without validating again where the reader checked
    the member key itself: its check accepts exactly what the domain's ``Key`` accepts."""
    try:
        SessionParticipant(member=text)
        valid = True
    except ValidationError:
        valid = False
    assert is_key(text) == valid
