"""Paging: a Bundle's ``next`` link and the walk along them.

:func:`follow_pages` yields a first page and every page its ``next`` links lead to,
fetching each through a function the caller gives (``FhirClient.fetch_bundle``), so
paging holds no client and the client depends on it, never the reverse. Links are
followed only on the server's own origin, and a loop is refused.

Imports :mod:`iopfhir.errors`, :mod:`._syntax` and :mod:`.security`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urljoin

from iopfhir.errors import InsecureTransportError, MalformedResponse

from ._syntax import Resource
from .security import same_origin

__all__ = ["follow_pages", "next_link"]


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
        link = next_link(bundle)
        if link is None:
            return
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
        bundle = fetch(absolute)
