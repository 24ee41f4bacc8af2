"""The immutable search builder.

Every method of :class:`Search` returns a new ``Search``; nothing is sent until the
search is iterated (or :meth:`Search.bundle`, :meth:`Search.pages`, :meth:`Search.first`,
:meth:`Search.total` is called)::

    obs = (client.search("Observation")
           .where(patient="Patient/1", code="http://loinc.org|44261-6")
           .last_updated(ge="2024-01-01")
           .include("Observation:patient")
           .count(50))
    for resource in obs:          # matches only, across pages, following ``next``
        ...

Keyword names use ``__`` for ``:`` (``code__text="x"`` → ``code:text=x``); pass a dict
for names that are not Python identifiers (``where({"subject:Patient.name": "x"})``).
A list value repeats the parameter (AND); join values with ``,`` for OR. Iteration
follows ``next`` links only on the server's own origin (see ``FhirClient.pages``).

A search sees its client only as a :class:`SearchClient` (URL building and paging), so
this module imports nothing of the client's: ``FhirClient`` depends on it, not the
reverse. Imports only the standard library.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Protocol, Self, cast

__all__ = [
    "Search",
    "SearchClient",
    "SearchQuery",
    "SearchValue",
    "first_page_matches",
    "page_matches",
    "report_outcomes",
]

log = logging.getLogger("iopfhir.client")

SearchValue = str | int | float | bool | date | datetime
# An OperationOutcome issue code (FHIR issue-type): anything else is not logged.
_CODE = re.compile(r"[a-z][a-z0-9-]{0,39}")
_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


def _text(value: SearchValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


class SearchClient(Protocol):
    """What a :class:`Search` needs of its client (``FhirClient`` is one)."""

    def url(self, *segments: str, params: list[tuple[str, str]]) -> str:
        """The URL of ``segments`` under the base, with the query ``params``."""
        ...

    def fetch_bundle(self, url: str, *, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        """GET the Bundle at ``url``."""
        ...

    def pages(
        self, first: dict[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """``first`` and every page its ``next`` links lead to."""
        ...


class SearchQuery:
    """The building half of a search, shared by :class:`Search` and ``AsyncSearch``.

    A subclass is a frozen dataclass with the fields ``resource_type``, ``params`` and
    ``strict_handling`` (and its client); every builder returns a copy of the subclass.
    """

    __slots__ = ()
    resource_type: str
    params: tuple[tuple[str, str], ...]
    strict_handling: bool

    def __repr__(self) -> str:
        # Parameter values may identify a patient: show names only.
        names = ",".join(name for name, _ in self.params)
        return f"Search({self.resource_type}, params=[{names}])"

    def _replace(self, **changes: Any) -> Self:
        return cast(Self, replace(cast(Any, self), **changes))

    def _with(self, *pairs: tuple[str, str], drop: tuple[str, ...] = ()) -> Self:
        kept = tuple(p for p in self.params if p[0] not in drop)
        return self._replace(params=kept + pairs)

    def _headers(self) -> dict[str, str]:
        return {"Prefer": "handling=strict"} if self.strict_handling else {}

    # -- building ----------------------------------------------------------------------
    def where(
        self,
        criteria: Mapping[str, SearchValue | list[SearchValue]] | None = None,
        /,
        **kwargs: SearchValue | list[SearchValue],
    ) -> Self:
        """Add search parameters (AND with the ones already there)."""
        pairs: list[tuple[str, str]] = []
        items: list[tuple[str, Any]] = list((criteria or {}).items())
        items += [(k.replace("__", ":"), v) for k, v in kwargs.items()]
        for name, value in items:
            if not name:
                raise ValueError("empty search parameter name")
            values = value if isinstance(value, list | tuple) else [value]
            pairs.extend((name, _text(v)) for v in values)
        return self._with(*pairs)

    def count(self, n: int) -> Self:
        """Page size (``_count``), replacing any earlier one."""
        if n < 0:
            raise ValueError("_count must not be negative")
        return self._with(("_count", str(n)), drop=("_count",))

    def last_updated(self, **bounds: SearchValue) -> Self:
        """``_lastUpdated`` bounds by prefix: ``last_updated(ge=..., lt=...)``."""
        pairs = []
        for prefix, value in bounds.items():
            if prefix not in _PREFIXES:
                raise ValueError(f"unknown date prefix {prefix!r}")
            pairs.append(("_lastUpdated", f"{prefix}{_text(value)}"))
        return self._with(*pairs)

    def sort(self, *keys: str) -> Self:
        """``_sort`` (``-name`` for descending), replacing any earlier one."""
        return self._with(("_sort", ",".join(keys)), drop=("_sort",))

    def include(self, spec: str, *, iterate: bool = False) -> Self:
        """``_include`` (``Source:param[:Target]``)."""
        return self._with(("_include:iterate" if iterate else "_include", spec))

    def revinclude(self, spec: str, *, iterate: bool = False) -> Self:
        """``_revinclude`` (``Source:param[:Target]``)."""
        return self._with(("_revinclude:iterate" if iterate else "_revinclude", spec))

    def elements(self, *names: str) -> Self:
        """``_elements``, replacing any earlier one."""
        return self._with(("_elements", ",".join(names)), drop=("_elements",))

    def summary(self, mode: str) -> Self:
        """``_summary`` (``true``, ``text``, ``data``, ``count``, ``false``)."""
        return self._with(("_summary", mode), drop=("_summary",))

    def strict(self, on: bool = True) -> Self:
        """Send ``Prefer: handling=strict``: the server must reject unknown parameters."""
        return self._replace(strict_handling=on)


@dataclass(frozen=True, slots=True, repr=False)
class Search(SearchQuery):
    """A FHIR search on one resource type: parameters and headers, no state."""

    client: SearchClient
    resource_type: str
    params: tuple[tuple[str, str], ...] = ()
    strict_handling: bool = False

    # -- running -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The URL of the first page."""
        return self.client.url(self.resource_type, params=list(self.params))

    def bundle(self) -> dict[str, Any]:
        """The first page (a ``searchset`` Bundle)."""
        bundle = self.client.fetch_bundle(self.url, headers=self._headers())
        report_outcomes(self.resource_type, bundle)
        return bundle

    def pages(self) -> Iterator[dict[str, Any]]:
        """Every page, following ``next`` links on the server's own origin."""
        yield from self.client.pages(self.bundle(), headers=self._headers())

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Every matching resource (``search.mode`` ``match`` or absent), page by page."""
        for page in self.pages():
            yield from page_matches(page)

    def first(self) -> dict[str, Any] | None:
        """The first match, fetching one page of one."""
        return next(iter(self.count(1).bundle_matches()), None)

    def bundle_matches(self) -> list[dict[str, Any]]:
        """The matches of the first page only."""
        return first_page_matches(self.bundle())

    def fetch_all(self, *, limit: int | None = None) -> list[dict[str, Any]]:
        """All matches as a list, at most ``limit``."""
        out: list[dict[str, Any]] = []
        for resource in self:
            if limit is not None and len(out) >= limit:
                break
            out.append(resource)
        return out

    def total(self) -> int | None:
        """``Bundle.total`` of a ``_summary=count`` search (``None`` if the server omits it)."""
        total = self.summary("count").bundle().get("total")
        return total if isinstance(total, int) else None


def page_matches(page: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The matching resources of one page (``search.mode`` ``match`` or absent)."""
    for entry in page.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        mode = (entry.get("search") or {}).get("mode", "match")
        if mode == "match":
            yield resource


def first_page_matches(page: dict[str, Any]) -> list[dict[str, Any]]:
    """The matches of one page, as :meth:`Search.bundle_matches` reads them."""
    out = []
    for entry in page.get("entry") or []:
        mode = (entry.get("search") or {}).get("mode", "match")
        if mode == "match" and isinstance(entry.get("resource"), dict):
            out.append(entry["resource"])
    return out


def report_outcomes(resource_type: str, bundle: dict[str, Any]) -> None:
    entries = bundle.get("entry")
    for entry in entries if isinstance(entries, list) else ():
        search = entry.get("search") if isinstance(entry, dict) else None
        if not (isinstance(search, dict) and search.get("mode") == "outcome"):
            continue
        resource = entry.get("resource")
        issues = resource.get("issue") if isinstance(resource, dict) else None
        # Only the codes, and only when they are codes: the rest is server text.
        codes = {
            code if isinstance(code, str) and _CODE.fullmatch(code) else "unknown"
            for code in (i.get("code") for i in issues or () if isinstance(i, dict))
        }
        log.warning(
            "search on %s: the server reported issues (%s)", resource_type, ",".join(sorted(codes))
        )
