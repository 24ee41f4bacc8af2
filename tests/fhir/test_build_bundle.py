"""Bundles and NDJSON: full URLs, conditional creates, shared resources once, references
that resolve, streaming NDJSON with ids and ``Type/id`` references."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from iopfhir.domain import Episode
from iopfhir.fhir import build
from iopfhir.fhir.build import episode_entries, episode_to_resources
from iopfhir.fhir.bundle import collection_bundle, condition_query, dumps, transaction_bundle
from iopfhir.fhir.conventions import urn_uuid
from iopfhir.fhir.ndjson import to_ndjson, write_ndjson


def references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str):
            yield ref
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def first_identifier(resource: dict[str, Any]) -> dict[str, str]:
    ident = resource["identifier"]
    return ident if isinstance(ident, dict) else ident[0]


def test_public_api() -> None:
    assert build.__all__ == sorted(build.__all__)
    assert set(build.__all__) == {
        "Entry",
        "Resource",
        "episode_entries",
        "episode_to_resources",
        "questionnaire_to_fhir",
        "questionnaires",
        "with_derived",
    }


def test_transaction_entries(rich_episode: Episode, part2_episode: Episode) -> None:
    bundle = transaction_bundle([rich_episode, part2_episode])
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "transaction"
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(urls) == len(set(urls))
    for entry in bundle["entry"]:
        res = entry["resource"]
        ident = first_identifier(res)
        assert entry["fullUrl"] == urn_uuid(res["resourceType"], ident["system"], ident["value"])
        assert entry["request"]["method"] == "POST"
        assert entry["request"]["url"] == res["resourceType"]
        assert entry["request"]["ifNoneExist"] == condition_query(res)
        assert entry["request"]["ifNoneExist"].startswith("identifier=")


def test_condition_query_encodes_reserved_characters() -> None:
    res = {"identifier": [{"system": "urn:x", "value": "a b&c|d/e"}]}
    assert condition_query(res) == "identifier=urn:x|a%20b%26c%7Cd/e"
    assert condition_query({"identifier": {"system": "urn:y", "value": "v"}}) == (
        "identifier=urn:y|v"
    )


def test_every_reference_resolves_inside_the_bundle(
    rich_episode: Episode, part2_episode: Episode
) -> None:
    bundle = transaction_bundle([rich_episode, part2_episode])
    urls = {e["fullUrl"] for e in bundle["entry"]}
    for entry in bundle["entry"]:
        contained = {f"#{c['id']}" for c in entry["resource"].get("contained", [])}
        for ref in references(entry["resource"]):
            assert ref in urls or ref in contained, ref


def test_shared_practitioners_and_organizations_appear_once(
    rich_episode: Episode, part2_episode: Episode
) -> None:
    one = Counter(r["resourceType"] for r in episode_to_resources(rich_episode))
    bundle = transaction_bundle([rich_episode, part2_episode])
    both = Counter(e["resource"]["resourceType"] for e in bundle["entry"])
    # practitioners with an NPI (th, md) and the organization with an NPI (site) are shared;
    # the rest are identified per episode
    assert both["Practitioner"] == 2 * one["Practitioner"] - 2
    assert both["Organization"] == 2 * one["Organization"] - 1
    assert both["Patient"] == 2
    assert both["PractitionerRole"] == 2 * one["PractitionerRole"]
    assert both["EpisodeOfCare"] == 2


def test_same_episode_twice_is_written_once(rich_episode: Episode) -> None:
    assert transaction_bundle([rich_episode, rich_episode]) == transaction_bundle([rich_episode])


def test_collection_bundle(rich_episode: Episode) -> None:
    bundle = collection_bundle([rich_episode])
    assert bundle["type"] == "collection"
    assert all(set(e) == {"fullUrl", "resource"} for e in bundle["entry"])
    assert [e["resource"] for e in bundle["entry"]] == episode_to_resources(rich_episode)


def test_dumps_is_orjson(rich_episode: Episode) -> None:
    bundle = transaction_bundle([rich_episode])
    assert orjson.loads(dumps(bundle)) == bundle


def test_ndjson_files(
    rich_episode: Episode, part2_episode: Episode, minimal_episode: Episode, tmp_path: Path
) -> None:
    counts = write_ndjson(iter([rich_episode, part2_episode, minimal_episode]), tmp_path)
    bundle = transaction_bundle([rich_episode, part2_episode, minimal_episode])
    assert counts == dict(
        sorted(Counter(e["resource"]["resourceType"] for e in bundle["entry"]).items())
    )
    ids: set[str] = set()
    resources = []
    for rtype, n in counts.items():
        lines = (tmp_path / f"{rtype}.ndjson").read_bytes().splitlines()
        assert len(lines) == n
        for line in lines:
            res = orjson.loads(line)
            assert res["resourceType"] == rtype
            ids.add(f"{rtype}/{res['id']}")
            resources.append(res)
    full_urls = {e["fullUrl"][len("urn:uuid:") :] for e in bundle["entry"]}
    assert {i.split("/", 1)[1] for i in ids} == full_urls
    for res in resources:
        for ref in references(res):
            assert ref.startswith("#") or ref in ids, ref
            assert not ref.startswith("urn:")


def test_ndjson_and_bundle_hold_the_same_resources(rich_episode: Episode) -> None:
    bundle_style = episode_entries(rich_episode)
    ndjson_style = episode_entries(rich_episode, ndjson=True)
    assert [u for u, _ in bundle_style] == [u for u, _ in ndjson_style]
    for (url, a), (_, b) in zip(bundle_style, ndjson_style, strict=True):
        assert b["id"] == url[len("urn:uuid:") :]
        assert {k for k in b if k != "id"} == set(a)


def test_to_ndjson_is_one_resource_per_line(rich_episode: Episode) -> None:
    text = to_ndjson([rich_episode])
    assert text.endswith(b"\n")
    lines = text.splitlines()
    assert len(lines) == len(episode_to_resources(rich_episode))
    assert all(b"\n" not in line for line in lines)


@pytest.mark.parametrize("n", [0, 1])
def test_empty_and_single_cohorts(n: int, minimal_episode: Episode, tmp_path: Path) -> None:
    counts = write_ndjson([minimal_episode] * n, tmp_path)
    assert counts == ({"Patient": 1} if n else {})
    assert transaction_bundle([minimal_episode] * n)["entry"] == (
        [] if n == 0 else transaction_bundle([minimal_episode])["entry"]
    )
