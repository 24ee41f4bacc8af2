"""Fixtures for the sync tests: the live-server fixtures and unique copies of the examples."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.servers.fixtures import fhir_server as live_server  # noqa: E402
from tests.servers.fixtures import medplum_server  # noqa: E402

from iopfhir.domain import Episode, load_episodes  # noqa: E402

__all__ = ["live_server", "medplum_server", "unique_episode"]

EXAMPLES = _ROOT / "examples"


def unique_episode(name: str = "mental-health-iop") -> Episode:
    """An example episode with its own episode key and patient identifier (fresh on a server)."""
    episode = load_episodes(EXAMPLES / f"{name}.yaml")[0]
    tag = uuid.uuid4().hex[:12]
    ident = episode.patient.identifiers[0].model_copy(update={"value": f"MRN-{tag}"})
    patient = episode.patient.model_copy(update={"identifiers": [ident]})
    return episode.model_copy(update={"key": f"{episode.key}-{tag}", "patient": patient})


@pytest.fixture
def episode() -> Episode:
    return unique_episode()
