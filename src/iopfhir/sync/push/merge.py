"""Concurrent changes: a 3-way merge on top-level elements after a 412.

When an update answers 412 (someone wrote the resource since our look-up),
:func:`merge` re-reads the current versions and applies our changed elements to them
when the other writer did not change the same elements; otherwise it raises
:class:`~iopfhir.errors.SyncConflict` and nothing is overwritten.

Imports :mod:`iopfhir.errors`, :mod:`iopfhir.sync.resources`, :mod:`.content`,
:mod:`.lookup`, :mod:`.report` and :mod:`.state`.
"""

from __future__ import annotations

from iopfhir.errors import Issue, SyncConflict, SyncError
from iopfhir.sync.resources import normalized, same_content

from .content import desired, unrewrite
from .lookup import get_many
from .report import ConflictDetail
from .state import Item, PushRun

__all__ = ["merge"]


def merge(run: PushRun, stale: list[Item]) -> None:
    """Re-read ``stale`` updates; apply our changes to the newer versions, or raise."""
    report = run.report
    urls = [f"{i.type}/{i.server_id}" for i in stale]
    current = {f"{r.get('resourceType')}/{r.get('id')}": r for r in get_many(run, urls)}
    conflicts: list[ConflictDetail] = []
    newer = False
    for item in stale:
        theirs = current.get(f"{item.type}/{item.server_id}")
        base = item.current
        ours = item.sent if item.sent is not None else desired(run, item)
        if theirs is None or base is None:
            conflicts.append(ConflictDetail(item.label, ("(deleted on the server)",)))
            continue
        newer = newer or (theirs.get("meta") or {}).get("versionId") != item.version
        b, o, t = normalized(base), normalized(ours), normalized(theirs)
        keys = set(b) | set(o) | set(t)
        ours_changed = {k for k in keys if b.get(k) != o.get(k)}
        theirs_changed = {k for k in keys if b.get(k) != t.get(k)}
        clash = sorted(k for k in ours_changed & theirs_changed if o.get(k) != t.get(k))
        if clash:
            conflicts.append(ConflictDetail(item.label, tuple(clash)))
            continue
        merged = dict(theirs)
        for key in ours_changed:
            if key in o:
                merged[key] = o[key]
            else:
                merged.pop(key, None)
        meta = theirs.get("meta")
        item.current = theirs
        item.version = str(meta.get("versionId")) if isinstance(meta, dict) else None
        item.resource = unrewrite(merged)
        report.merged.append(item.label)
        if same_content(merged, theirs):
            item.action = "unchanged"
    if not newer and not conflicts:
        raise SyncError(
            "the server answered 412 but no resource changed since we read it (several "
            "resources may match one business identifier)",
            report=report,
        )
    if conflicts:
        report.conflicts.extend(conflicts)
        names = ", ".join(f"{c.resource} ({', '.join(c.elements)})" for c in conflicts)
        raise SyncConflict(
            f"another client changed the same elements: {names}; nothing was overwritten",
            report=report,
            issues=[
                Issue("error", "conflict", f"{c.resource}: {', '.join(c.elements)}", path=None)
                for c in conflicts
            ],
        )
