"""Reference targets: every reference of a push resolves, or the push stops before writing.

A server rejects a transaction whose references name nothing (sekmet: "unresolved
reference"; Medplum writes what came before it), and a rerun fails the same way. So
after the look-up and before the first write, :func:`check_targets` looks at every
reference the push would send that does not name one of its own entries:

* a conditional reference (``Practitioner?identifier=system|value``): a resource of the
  push matching it (same type, carrying that identifier) is the target, and the
  reference is pointed at it; otherwise the server is searched: one match is the target
  (the reference is sent as ``Type/id``), none is *missing*, several are *ambiguous*. A
  search the server cannot do (a parameter its CapabilityStatement does not list for the
  type) cannot be checked and is named as such;
* a relative reference ``Type/id``: read on the server; not there is *missing*;
* a ``urn:uuid:`` or ``urn:oid:`` that no entry has: *missing* (it can only name an entry);
* ``#contained`` and absolute URLs (another server's) are not checked.

Anything missing, ambiguous or uncheckable raises :class:`~iopfhir.errors.SyncError`
naming each place (``Bundle.entry[3].resource.participant[0].individual``) and the kind
and type of the reference, never the identifier or id in it; nothing has been written.

Imports :mod:`iopfhir.errors`, :mod:`iopfhir.sync.resources`, :mod:`.lookup` and
:mod:`.state`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, Final
from urllib.parse import parse_qsl

from iopfhir.errors import Issue, ServerError, SyncError
from iopfhir.sync.resources import identifiers, rewrite_references

from .lookup import LOOKUP_BATCH, status
from .state import Item, PushRun

__all__ = ["check_targets"]

_RELATIVE: Final = re.compile(
    r"([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/[A-Za-z0-9\-.]{1,64})?"
)
_CONDITIONAL: Final = re.compile(r"([A-Z][A-Za-z]+)\?(.+)")
#: Places listed in the message (all of them are in the error's issues).
SHOWN: Final = 10


def check_targets(run: PushRun) -> None:
    """Resolve or name every reference that is not to an entry of the push (see module)."""
    own = {item.full_url for item in run.items}
    conditional: dict[str, list[tuple[Item, tuple[str | int, ...]]]] = defaultdict(list)
    relative: dict[str, list[tuple[Item, tuple[str | int, ...]]]] = defaultdict(list)
    problems: list[Issue] = []
    for item in run.items:
        if item.action == "failed":
            continue
        for path, ref in item.sites:
            if ref in own or ref in run.ids or ref.startswith("#"):
                continue
            if _CONDITIONAL.fullmatch(ref):  # (its search value may hold a URL)
                conditional[ref].append((item, path))
            elif "://" in ref:
                continue  # another server's resource: not ours to check
            elif ref.startswith("urn:"):
                problems.append(_issue(run, item, path, "a urn reference", None, "missing"))
            elif _RELATIVE.fullmatch(ref):
                relative[ref].append((item, path))
            else:
                problems.append(_issue(run, item, path, "a reference", None, "malformed"))
    to_entries = _in_push(run, conditional)
    if to_entries:
        for item in run.items:
            if not item.refs.isdisjoint(to_entries):
                item.resource = rewrite_references(item.resource, to_entries, item.sites)
    searches = {ref: places for ref, places in conditional.items() if ref not in to_entries}
    found = _ask(run, [*searches, *relative])
    for ref, places in searches.items():
        rtype = _CONDITIONAL.fullmatch(ref)
        kind = rtype.group(1) if rtype else None
        if ref in found and len(found[ref]) == 1:
            run.ids[ref] = found[ref][0]
            continue
        why = _why(run, ref, found)
        problems.extend(_issue(run, i, p, "a conditional reference", kind, why) for i, p in places)
    for ref, places in relative.items():
        if ref not in found or not found[ref]:
            kind = ref.split("/", 1)[0]
            problems.extend(
                _issue(run, i, p, "a relative reference", kind, "missing") for i, p in places
            )
    if problems:
        # a lone resource naming another by the id it had in its own file: the server gave
        # that one its own id when it was pushed, so the reference names nothing there
        lone = run.lone and any(not found.get(ref) for ref in relative)
        _fail(run, sorted(problems, key=_place), _LONE_HINT if lone else "")


def _in_push(
    run: PushRun, conditional: dict[str, list[tuple[Item, tuple[str | int, ...]]]]
) -> dict[str, str]:
    """Conditional references ``Type?identifier=system|value`` that one entry matches."""
    wanted: dict[tuple[str, str, str], str] = {}
    for ref in conditional:
        match = _CONDITIONAL.fullmatch(ref)
        if match is None:
            continue
        params = parse_qsl(match.group(2))
        if len(params) == 1 and params[0][0] == "identifier" and "|" in params[0][1]:
            system, _, value = params[0][1].partition("|")
            wanted[(match.group(1), system, value)] = ref
    if not wanted:
        return {}
    hits: dict[str, list[str]] = defaultdict(list)
    for item in run.items:
        for system, value in set(identifiers(item.resource)):
            named = wanted.get((item.type, system, value))
            if named is not None:
                hits[named].append(item.full_url)
    return {ref: urls[0] for ref, urls in hits.items() if len(urls) == 1}


def _searchable(run: PushRun, ref: str) -> bool:
    match = _CONDITIONAL.fullmatch(ref)
    if match is None:
        return False
    support = run.support.type(match.group(1))
    names = {k.split(":", 1)[0] for k, _ in parse_qsl(match.group(2))}
    return bool(names) and all(support.searchable_by(n) or n.startswith("_") for n in names)


def _why(run: PushRun, ref: str, found: dict[str, list[str]]) -> str:
    if ref not in found:
        return "unsearchable" if not _searchable(run, ref) else "missing"
    return "ambiguous" if len(found[ref]) > 1 else "missing"


def _ask(run: PushRun, refs: list[str]) -> dict[str, list[str]]:
    """``Type/id`` of what the server holds for each reference (a search or a read)."""
    urls = [r for r in refs if "?" not in r or _searchable(run, r)]
    out: dict[str, list[str]] = {}
    if not urls:
        return out
    if run.support.batch:
        for start in range(0, len(urls), LOOKUP_BATCH):
            part = urls[start : start + LOOKUP_BATCH]
            bundle = {
                "resourceType": "Bundle",
                "type": "batch",
                "entry": [{"request": {"method": "GET", "url": _request(u)}} for u in part],
            }
            response = run.client.batch(bundle)
            for ref, entry in zip(part, response.get("entry") or [], strict=False):
                code = status((entry.get("response") or {}).get("status"))
                body = entry.get("resource")
                out[ref] = _matches(body) if code < 300 and isinstance(body, dict) else []
        return out
    for ref in urls:
        try:
            out[ref] = _matches(run.client.get(_request(ref)))
        except ServerError as exc:
            if exc.status not in (404, 410):
                raise
            out[ref] = []
    return out


def _request(ref: str) -> str:
    # two matches are enough to call a conditional reference ambiguous
    return f"{ref}&_count=2" if "?" in ref else ref.split("/_history/", 1)[0]


def _matches(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return []
    if body.get("resourceType") != "Bundle":
        return [f"{body.get('resourceType')}/{body.get('id')}"]
    out = []
    for entry in body.get("entry") or []:
        found = entry.get("resource") if isinstance(entry, dict) else None
        mode = (entry.get("search") or {}).get("mode", "match")
        if isinstance(found, dict) and mode == "match":
            out.append(f"{found.get('resourceType')}/{found.get('id')}")
    total = body.get("total")
    if isinstance(total, int) and total > len(out):
        out.extend(["?"] * (total - len(out)))
    return out


_WHY: Final = {
    "missing": "names nothing the file or the server holds",
    "ambiguous": "matches several resources on the server",
    "unsearchable": "cannot be resolved: the server cannot search that type by those parameters",
    "malformed": "is not a reference a server can resolve",
}


def _issue(
    run: PushRun,
    item: Item,
    path: tuple[str | int, ...],
    what: str,
    target: str | None,
    why: str,
) -> Issue:
    where = _fhirpath(run, item, path)
    to = f" to {'an' if target and target[0] in 'AEIOU' else 'a'} {target}" if target else ""
    code = "not-found" if why == "missing" else "invalid"
    return Issue("error", code, f"{what}{to} {_WHY[why]}", where)


def _fhirpath(run: PushRun, item: Item, path: tuple[str | int, ...]) -> str:
    out = run.where(item)
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else f".{step}"
    return out + ".reference"


def _place(issue: Issue) -> tuple[int, str]:
    """Sort key: entry number, then path (``Bundle.entry[12]`` after ``Bundle.entry[3]``)."""
    path = issue.path or ""
    match = re.match(r"Bundle\.entry\[(\d+)\]", path)
    return (int(match.group(1)) if match else -1, path)


_LONE_HINT: Final = (
    ". A resource pushed before from another file is on the server under the id the server"
    " gave it: push the resources together as one Bundle (references between its entries"
    " are kept), or name the target by identifier (Type?identifier=system|value)"
)


def _fail(run: PushRun, problems: list[Issue], hint: str = "") -> None:
    report = run.report
    for item in run.items:
        if item.action in ("create", "update"):
            item.action = "failed"
    failed = [i for i in run.items if i.action == "failed"]
    report.failed = len(failed)
    report.not_written = [i.label for i in failed]
    report.issues.extend(problems)
    shown = "; ".join(f"{p.path}: {p.message}" for p in problems[:SHOWN])
    more = f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
    raise SyncError(
        f"{len(problems)} reference(s) cannot be resolved, so nothing was written "
        f"(a rerun fails the same way until the targets exist): {shown}{more}{hint}",
        report=report,
        issues=problems,
    )
