"""Whole numbers beyond R4's 32-bit integers, as other systems may write them, are named.

R4's ``integer`` is 32-bit; a JSON number of 20 digits fits no 64-bit read either, so the
engine's read fails. The message names the file, line and element (and the range R4 gives),
never the engine's own text or the value.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from iopfhir.views import Source, ViewError, iop_view
from iopfhir.views.r4_shapes import first_mismatch

HUGE = b"98765432109876543210"  # 20 digits: beyond 64 bits, a value never to be shown
RANGE = "an integer from -2147483648 to 2147483647"


def _obs(value: bytes, oid: str) -> bytes:
    head = {
        "resourceType": "Observation", "id": oid, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "70274-6"}]},
        "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2025-02-03",
    }  # fmt: skip
    return orjson.dumps(head)[:-1] + b',"valueInteger":' + value + b"}\n"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (7, None),
        (2**31 - 1, None),
        (-(2**31), None),
        (2**31, ("Observation.valueInteger", "a number", RANGE)),
        (-(2**31) - 1, ("Observation.valueInteger", "a number", RANGE)),
        (1e20, ("Observation.valueInteger", "a number", RANGE)),
    ],
)
def test_first_mismatch_knows_r4_integers_are_32_bit(
    value: float, expected: tuple[str, str, str] | None
) -> None:
    resource = orjson.loads(_obs(b"0", "o1"))
    resource["valueInteger"] = value
    assert first_mismatch(resource) == expected


def test_a_positive_int_out_of_range_is_named_too() -> None:
    appointment = {"resourceType": "Appointment", "id": "a1", "status": "booked",
                   "participant": [{"status": "accepted"}], "minutesDuration": 2**40}  # fmt: skip
    assert first_mismatch(appointment) == ("Appointment.minutesDuration", "a number", RANGE)


def test_the_engine_names_a_number_too_large_for_its_read(
    tmp_path: Path, duckdb_engine: object
) -> None:
    (tmp_path / "Observation.ndjson").write_bytes(
        _obs(b"5", "o1") + _obs(b"6", "o2") + _obs(HUGE, "o3")
    )
    with Source.from_path(tmp_path) as source, pytest.raises(ViewError) as caught:
        duckdb_engine.run(iop_view("iop-observation-score"), source)  # type: ignore[attr-defined]
    message = str(caught.value)
    assert (
        message
        == f"Observation.ndjson line 3: Observation.valueInteger: a number where R4 has {RANGE}"
    )
    assert HUGE.decode() not in message
