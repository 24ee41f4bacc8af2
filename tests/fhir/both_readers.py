"""Hand-built resources read by both readers, which must agree (the unmapped-count tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from iopfhir.fhir.read import ImportResult, read_fhir, read_fhir_streamed

FORMS = pytest.mark.parametrize("form", ["ndjson", "bundle"])


def read_both(
    resources: list[dict[str, Any]], tmp_path: Path, form: str, **options: Any
) -> ImportResult:
    """``resources`` read by both readers (NDJSON lines or a collection Bundle), with the
    readers' keyword ``options``; their answers must agree, and the in-memory one is
    returned."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    if form == "ndjson":
        source = tmp_path / "nd"
        source.mkdir()
        (source / "all.ndjson").write_bytes(b"\n".join(orjson.dumps(r) for r in resources))
    else:
        source = tmp_path / "bundle.json"
        entries = [
            {"fullUrl": f"https://example.org/fhir/{r['resourceType']}/{r['id']}", "resource": r}
            for r in resources
        ]
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
        source.write_bytes(orjson.dumps(bundle))
    whole = read_fhir(source, **options)
    streamed = read_fhir_streamed(source, **options)
    assert streamed.episodes == whole.episodes
    assert streamed.unmapped == whole.unmapped
    assert streamed.ignored == whole.ignored
    return whole


def unmapped_delta(
    plain: list[dict[str, Any]],
    more: list[dict[str, Any]],
    tmp: Path,
    form: str,
    **options: Any,
) -> tuple[Any, ImportResult, ImportResult]:
    """What ``more`` counts that ``plain`` does not, the result of ``more`` and of
    ``plain`` (both read with ``options``)."""
    before = read_both(plain, tmp / "plain", form, **options)
    after = read_both(more, tmp / "more", form, **options)
    return after.unmapped - before.unmapped, after, before
