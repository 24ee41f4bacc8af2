"""``AsyncSearch``: the search builder of :mod:`iopfhir.client.search`, run awaited.

The building half (``where``, ``count``, ``include``...) is
:class:`~iopfhir.client.search.SearchQuery`, shared with the sync :class:`Search`; the
running half awaits its client and pages with ``async for``::

    search = client.search("Observation").where(subject="Patient/1").count(50)
    async for resource in search:      # matches, across pages (next links, same origin)
        ...
    first_page = await search.bundle()

Imports only :mod:`iopfhir.client.search`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from iopfhir.client.search import SearchQuery, first_page_matches, page_matches, report_outcomes

__all__ = ["AsyncSearch", "AsyncSearchClient"]


class AsyncSearchClient(Protocol):
    """What an :class:`AsyncSearch` needs of its client (``AsyncFhirClient`` is one)."""

    def url(self, *segments: str, params: list[tuple[str, str]]) -> str:
        """The URL of ``segments`` under the base, with the query ``params``."""
        ...

    async def fetch_bundle(
        self, url: str, *, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """GET the Bundle at ``url``."""
        ...

    def pages(
        self, first: dict[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """``first`` and every page its ``next`` links lead to."""
        ...


@dataclass(frozen=True, slots=True, repr=False)
class AsyncSearch(SearchQuery):
    """A FHIR search on one resource type, run with ``await`` / ``async for``."""

    client: AsyncSearchClient
    resource_type: str
    params: tuple[tuple[str, str], ...] = ()
    strict_handling: bool = False

    @property
    def url(self) -> str:
        """The URL of the first page."""
        return self.client.url(self.resource_type, params=list(self.params))

    async def bundle(self) -> dict[str, Any]:
        """The first page (a ``searchset`` Bundle)."""
        bundle = await self.client.fetch_bundle(self.url, headers=self._headers())
        report_outcomes(self.resource_type, bundle)
        return bundle

    async def pages(self) -> AsyncIterator[dict[str, Any]]:
        """Every page, following ``next`` links on the server's own origin."""
        async for page in self.client.pages(await self.bundle(), headers=self._headers()):
            yield page

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        """Every matching resource (``search.mode`` ``match`` or absent), page by page."""
        async for page in self.pages():
            for resource in page_matches(page):
                yield resource

    async def first(self) -> dict[str, Any] | None:
        """The first match, fetching one page of one."""
        return next(iter(await self.count(1).bundle_matches()), None)

    async def bundle_matches(self) -> list[dict[str, Any]]:
        """The matches of the first page only."""
        return first_page_matches(await self.bundle())

    async def fetch_all(self, *, limit: int | None = None) -> list[dict[str, Any]]:
        """All matches as a list, at most ``limit``."""
        out: list[dict[str, Any]] = []
        async for resource in self:
            if limit is not None and len(out) >= limit:
                break
            out.append(resource)
        return out

    async def total(self) -> int | None:
        """``Bundle.total`` of a ``_summary=count`` search (``None`` if the server omits it)."""
        total = (await self.summary("count").bundle()).get("total")
        return total if isinstance(total, int) else None
