"""Paging: a Bundle's ``next`` link and the walk along them.

:func:`follow_pages` yields a first page and every page its ``next`` links lead to,
fetching each through a function the caller gives (``FhirClient.fetch_bundle``;
:func:`afollow_pages` is the same walk for ``AsyncFhirClient``, the rules in
:func:`next_page_url`), so
paging holds no client and the client depends on it, never the reverse. Links are
followed only on the server's own origin, and a loop is refused.

Imports :mod:`iopfhir.errors`, :mod:`._syntax` and :mod:`.security`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from urllib.parse import urljoin

from iopfhir.errors import InsecureTransportError, MalformedResponse

from ._syntax import Resource
from .security import same_origin

__all__ = ["afollow_pages", "follow_pages", "next_link", "next_page_url"]


def next_link(bundle: Resource) -> str | None:
    """The ``next`` link of a Bundle, if any."""
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            if isinstance(url, str) and url:
                return url
    return None


def next_page_url(bundle: Resource, base_url: str, seen: set[str]) -> str | None:
    """The absolute URL of ``bundle``'s next page (``None`` on the last page), after the
    rules below; ``seen`` holds the links followed so far and gets this one."""
    link = next_link(bundle)
    if link is None:
        return None
    absolute = urljoin(base_url + "/", link)
    if not same_origin(absolute, base_url):
        raise InsecureTransportError(
            "refusing to follow a 'next' link to another origin", url=absolute
        )
    if absolute in seen:
        raise MalformedResponse(
            "the server sent the same 'next' link twice", method="GET", url=absolute
        )
    seen.add(absolute)
    return absolute


def follow_pages(
    first: Resource, base_url: str, fetch: Callable[[str], Resource]
) -> Iterator[Resource]:
    """``first``, then every page its ``next`` links lead to, fetched by ``fetch(url)``.

    A ``next`` link on another origin than ``base_url`` raises
    :class:`~iopfhir.errors.InsecureTransportError` (credentials would follow it); a
    link seen twice raises :class:`~iopfhir.errors.MalformedResponse` (a loop).
    """
    seen: set[str] = set()
    bundle = first
    while True:
        yield bundle
        url = next_page_url(bundle, base_url, seen)
        if url is None:
            return
        bundle = fetch(url)


async def afollow_pages(
    first: Resource, base_url: str, fetch: Callable[[str], Awaitable[Resource]]
) -> AsyncIterator[Resource]:
    """:func:`follow_pages`, fetching with an awaitable ``fetch`` (the same rules)."""
    seen: set[str] = set()
    bundle = first
    while True:
        yield bundle
        url = next_page_url(bundle, base_url, seen)
        if url is None:
            return
        bundle = await fetch(url)
