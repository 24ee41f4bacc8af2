"""What each write sends: the unchanged check and our resource in server form.

* :func:`decide` compares each item found on the server with ours (references
  rewritten, ignoring ``id``, server ``meta`` and server ``text``): equal is
  ``unchanged``, different is ``update``, not found is ``create``.
* :func:`desired` is our resource as it is sent: references rewritten from ``urn:uuid``
  to server ids (copying only the paths to them), the server id, and the server's
  identifiers kept.
* :func:`unrewrite` turns a merged resource (server form) back into an item's content.

Imports :mod:`iopfhir.sync.resources` and :mod:`.state`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iopfhir.sync.resources import rewrite_references, unchanged_on_server

from .state import Item, PushRun, Resource

__all__ = ["decide", "desired", "unrewrite"]


def decide(run: PushRun) -> None:
    """Set each item's action from the look-up; count the unchanged ones."""
    for item in run.items:
        if item.action == "failed":
            continue
        if item.current is None:
            item.action = "create"
            continue
        if unchanged_on_server(item.resource, item.current, run.ids):
            item.action = "unchanged"
            run.report.unchanged += 1
        else:
            item.action = "update"


def desired(run: PushRun, item: Item) -> Resource:
    """The resource to send for ``item``, with every reference known so far rewritten."""
    resource = rewrite_references(item.resource, run.ids, item.sites)
    resource.pop("id", None)
    if item.current is not None:
        resource = _keep_their_identifiers(resource, item.current)
    if item.server_id is not None and (item.current is not None or item.strategy == "put-id"):
        resource["id"] = item.server_id
    return resource


def _keep_their_identifiers(ours: Resource, theirs: Mapping[str, Any]) -> Resource:
    """Identifiers are a set that others add to: keep the server's (in its order) and add
    ours that are missing. A Patient, Practitioner or Organization shared by several
    episodes then gathers each episode's identifier once instead of flipping between them,
    and identifiers another system added are never dropped."""
    mine, current = ours.get("identifier"), theirs.get("identifier")
    if not isinstance(mine, list) or not isinstance(current, list):
        return ours
    merged = list(current) + [i for i in mine if i not in current]
    return {**ours, "identifier": merged}


def unrewrite(resource: Resource) -> Resource:
    """A merged resource is already in server form; keep it as the item's content."""
    out = {k: v for k, v in resource.items() if k not in ("id",)}
    meta = out.get("meta")
    if isinstance(meta, dict):
        kept = {k: v for k, v in meta.items() if k not in ("versionId", "lastUpdated", "source")}
        if kept:
            out["meta"] = kept
        else:
            out.pop("meta")
    return out
