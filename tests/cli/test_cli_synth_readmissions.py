"""``iopfhir synth`` readmissions: by default a readmitted patient's next stay is a further
episode of the same patient (referred from that stay); ``--no-readmissions`` writes one
episode per patient."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

from iopfhir.cli import main
from iopfhir.domain import Episode, load_episodes


def _patients(folder: Path) -> Counter[tuple[str, str]]:
    """Episodes per patient, the patient known by its first identifier."""
    count: Counter[tuple[str, str]] = Counter()
    for episode in load_episodes(folder):
        ident = episode.patient.identifiers[0]
        count[(ident.system, ident.value)] += 1
    return count


def test_readmitted_patients_come_back_as_a_further_episode(tmp_path: Path) -> None:
    cohort = tmp_path / "cohort"
    assert main(["synth", "--patients", "120", "--seed", "7", "-o", str(cohort)]) == 0
    per_patient = _patients(cohort)
    assert sum(per_patient.values()) == 120
    readmitted = [p for p, n in per_patient.items() if n > 1]
    assert readmitted and len(readmitted) < len(per_patient)
    # the further episode is referred from an inpatient stay after the first discharge
    by_patient: dict[tuple[str, str], list[Episode]] = {}
    for episode in load_episodes(cohort):
        ident = episode.patient.identifiers[0]
        by_patient.setdefault((ident.system, ident.value), []).append(episode)
    for key in readmitted:
        first, later = sorted(by_patient[key], key=lambda e: e.admission)[:2]
        assert first.discharge is not None and later.referral is not None
        assert later.referral.stay is not None and later.referral.stay.start is not None
        start = later.referral.stay.start
        day = start.date() if isinstance(start, datetime) else start
        assert day > first.discharge.date


def test_no_readmissions_writes_one_episode_per_patient(tmp_path: Path) -> None:
    cohort = tmp_path / "cohort"
    argv = ["synth", "--patients", "120", "--seed", "7", "--no-readmissions", "-o", str(cohort)]
    assert main(argv) == 0
    assert set(_patients(cohort).values()) == {1}
