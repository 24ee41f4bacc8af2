"""Bundles written as they are built, and what every writer checks across episodes.

``write_bundle`` gives the bytes of ``dumps(transaction_bundle(...))`` (and of the
collection Bundle); an episode given twice is merged when identical (counted) and refused
when it differs, naming positions, never identifiers; a time without a UTC offset is
refused with its path, by every writer.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from iopfhir.domain import Episode, load_episodes
from iopfhir.errors import EpisodeInputError, InputError
from iopfhir.fhir.bundle import (
    collection_bundle,
    dumps,
    transaction_bundle,
    unique_entries,
    write_bundle,
)
from iopfhir.fhir.ndjson import Ledger, to_ndjson, write_ndjson
from iopfhir.synth import synth_episodes

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _inputs() -> list[tuple[str, list[Episode]]]:
    return [
        ("mental-health", load_episodes(EXAMPLES / "mental-health-iop.yaml")),
        ("co-occurring", load_episodes(EXAMPLES / "co-occurring-sud-iop.yaml")),
        ("cohort", list(synth_episodes(40, 11))),
    ]


@pytest.mark.parametrize("kind", ["transaction", "collection"])
def test_write_bundle_is_byte_identical(kind: str) -> None:
    build = transaction_bundle if kind == "transaction" else collection_bundle
    for _name, episodes in _inputs():
        handle = io.BytesIO()
        written = write_bundle(iter(episodes), handle, kind=kind)  # type: ignore[arg-type]
        expected = dumps(build(episodes))
        assert handle.getvalue() == expected
        assert written.entries == len(orjson.loads(expected)["entry"])
        assert written.episodes == len(episodes)
        assert written.merged == 0


def test_write_bundle_of_nothing_and_bad_kind() -> None:
    handle = io.BytesIO()
    assert write_bundle([], handle).entries == 0
    assert handle.getvalue() == dumps(transaction_bundle([]))
    with pytest.raises(ValueError):
        write_bundle([], io.BytesIO(), kind="batch")  # type: ignore[arg-type]


def test_the_same_episode_twice_is_merged() -> None:
    episodes = list(synth_episodes(3, 5))
    once = io.BytesIO()
    write_bundle(episodes, once)
    twice = io.BytesIO()
    written = write_bundle([*episodes, episodes[1]], twice)
    assert twice.getvalue() == once.getvalue()
    assert written.merged > 0
    assert written.episodes == 4

    ledger = Ledger()
    assert to_ndjson([*episodes, *episodes], ledger=ledger) == to_ndjson(episodes)
    lines = to_ndjson(episodes).splitlines()
    ids = [orjson.loads(line)["id"] for line in lines]
    assert len(ids) == len(set(ids))
    # every resource of the repeated episodes, shared ones aside, was merged once
    shared = sum(
        1
        for line in lines
        if orjson.loads(line)["resourceType"] in ("Patient", "Practitioner", "Organization")
    )
    assert ledger.merged == len(lines) - shared


def test_write_ndjson_reports_merges(tmp_path: Path) -> None:
    episodes = list(synth_episodes(2, 9))
    ledger = Ledger()
    counts = write_ndjson([*episodes, episodes[0]], tmp_path / "out", ledger=ledger)
    assert counts == write_ndjson(episodes, tmp_path / "plain")
    assert ledger.merged > 0


def _changed(episode: Episode) -> Episode:
    """The same episode (same key) with one session moved by an hour."""
    session = episode.sessions[0]
    moved = session.model_copy(update={"start": session.start.replace(hour=6)})
    return episode.model_copy(update={"sessions": [moved, *episode.sessions[1:]]})


def test_the_same_episode_with_other_content_is_refused() -> None:
    episodes = list(synth_episodes(3, 5))
    other = _changed(episodes[1])
    for write in (
        lambda eps: write_bundle(eps, io.BytesIO()),
        lambda eps: write_bundle(eps, io.BytesIO(), kind="collection"),
        lambda eps: to_ndjson(eps),
    ):
        with pytest.raises(EpisodeInputError) as info:
            write([*episodes, other])
        message = str(info.value)
        assert "episodes 2 and 4" in message
        assert "\n" not in message and len(message) < 200
        for ident in other.patient.identifiers:
            assert ident.value not in message
        assert other.key not in message
        assert isinstance(info.value, InputError)  # exit 2 in the CLI


def _naive(episode: Episode, index: int) -> Episode:
    session = episode.sessions[index]
    naive = session.model_copy(
        update={
            "start": session.start.replace(tzinfo=None),
            "end": session.end.replace(tzinfo=None),
            "actual_start": None,
            "actual_end": None,
        }
    )
    sessions = list(episode.sessions)
    sessions[index] = naive
    return episode.model_copy(update={"sessions": sessions})


def test_a_time_without_offset_is_refused_with_its_path() -> None:
    episodes = list(synth_episodes(2, 5))
    bad = _naive(episodes[1], 3)
    assert isinstance(bad.sessions[3].start, datetime)
    for write in (
        lambda eps: write_bundle(eps, io.BytesIO()),
        lambda eps: to_ndjson(eps),
        lambda eps: transaction_bundle(eps),
        lambda eps: list(unique_entries(eps)),
    ):
        with pytest.raises(EpisodeInputError) as info:
            write([episodes[0], bad])
        assert info.value.path == "$.sessions[3].start"
        assert "episode 2" in str(info.value)
        assert "$.sessions[3].start" in str(info.value)
