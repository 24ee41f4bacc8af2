"""Same episodes in → byte-identical output (transaction, collection, NDJSON files), also
across separately built but equal episode objects; no clock, no random ids."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from iopfhir.domain import Episode
from iopfhir.fhir.bundle import collection_bundle, dumps, transaction_bundle
from iopfhir.fhir.ndjson import write_ndjson


def test_transaction_bytes_identical(all_episodes: list[Episode]) -> None:
    assert dumps(transaction_bundle(all_episodes)) == dumps(transaction_bundle(all_episodes))


def test_collection_bytes_identical(all_episodes: list[Episode]) -> None:
    assert dumps(collection_bundle(all_episodes)) == dumps(collection_bundle(all_episodes))


def test_equal_episodes_built_separately_give_identical_bytes(
    make_rich: Callable[..., Episode],
) -> None:
    first = dumps(transaction_bundle([make_rich(), make_rich(part2=True)]))
    second = dumps(transaction_bundle([make_rich(), make_rich(part2=True)]))
    assert first == second


def test_ndjson_files_identical(all_episodes: list[Episode], tmp_path: Path) -> None:
    counts_a = write_ndjson(all_episodes, tmp_path / "a")
    counts_b = write_ndjson(all_episodes, tmp_path / "b")
    assert counts_a == counts_b
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    assert names == sorted(f"{t}.ndjson" for t in counts_a)
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_no_timestamps_or_random_ids(rich_episode: Episode) -> None:
    bundle = transaction_bundle([rich_episode])
    assert "id" not in bundle
    assert "timestamp" not in bundle
    assert "meta" not in bundle
    assert all("id" not in e["resource"] for e in bundle["entry"])
