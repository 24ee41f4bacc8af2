"""The state one push works on: an :class:`Item` per resource and the shared :class:`PushRun`.

Every step of a push (:mod:`.plan`, :mod:`.lookup`, :mod:`.content`, :mod:`.write`,
:mod:`.merge`) is a function of a :class:`PushRun`: the client, what the server supports,
the report being filled in, the server ids found or assigned so far, and the items.

Imports :mod:`iopfhir.client`, :mod:`iopfhir.sync.capabilities`,
:mod:`iopfhir.sync.resources` and :mod:`.report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from iopfhir.client import FhirClient
from iopfhir.sync.capabilities import ServerSupport
from iopfhir.sync.resources import Site, reference_sites

from .report import PushReport

__all__ = ["Action", "Item", "PushRun", "Resource"]

Resource = dict[str, Any]
Action = Literal["create", "update", "unchanged", "created", "updated", "failed"]


@dataclass
class Item:
    """One resource of the push: ours, what the server holds, and what is done with it."""

    full_url: str
    type: str
    _resource: Resource
    ident: tuple[str, str] | None
    strategy: str = "identifier"
    server_id: str | None = None
    version: str | None = None
    current: Resource | None = None
    action: Action = "create"
    sent: Resource | None = None  # what the last attempt sent (the 'ours' of a merge)
    # Where the references are: found by one walk, on first use (an unchanged resource
    # never needs it), and kept for every later step.
    _sites: list[Site] | None = None
    _refs: frozenset[str] | None = None

    @property
    def resource(self) -> Resource:
        """Our version of the resource (references still to be rewritten)."""
        return self._resource

    @resource.setter
    def resource(self, value: Resource) -> None:
        self._resource, self._sites, self._refs = value, None, None

    @property
    def sites(self) -> list[Site]:
        """Paths to the references of :attr:`resource`."""
        if self._sites is None:
            self._sites = reference_sites(self._resource)
        return self._sites

    @property
    def refs(self) -> frozenset[str]:
        """The references of :attr:`resource`."""
        if self._refs is None:
            self._refs = frozenset(ref for _, ref in self.sites)
        return self._refs

    @property
    def label(self) -> str:
        """A name for reports: the type and a server id or the bundle's fullUrl."""
        return f"{self.type}/{self.server_id}" if self.server_id else f"{self.type} {self.full_url}"


@dataclass
class PushRun:
    """What the steps of one push share."""

    client: FhirClient
    support: ServerSupport
    report: PushReport
    chunk_size: int
    ids: dict[str, str] = field(default_factory=dict)  # fullUrl → Type/id on the server
    items: list[Item] = field(default_factory=list)
    # The input's own fullUrl of an entry, where the push named it otherwise (see
    # .sources), and each entry's place in the input (for FHIRPaths in messages).
    sources: dict[str, str | None] = field(default_factory=dict)
    positions: dict[str, int] = field(default_factory=dict)
    from_bundle: bool = False
    lone: bool = False  # one resource on its own

    def where(self, item: Item) -> str:
        """The FHIRPath of ``item`` in the input, for messages: ``Bundle.entry[n].resource``,
        or its type where the input is no Bundle."""
        if self.from_bundle and not self.lone and item.full_url in self.positions:
            return f"Bundle.entry[{self.positions[item.full_url]}].resource"
        return item.type
