"""Code systems and value sets as the validator needs them: code lists and membership.

Lives here: :class:`Expansion` (the codes a value set allows, per system, plus the systems
whose content we cannot enumerate offline) and :class:`TerminologyIndex`, which expands
``ValueSet.compose`` from the code systems it knows and answers "is this code allowed?".

The index starts from the package data built by ``tools/build_validation_data.py``
(pre-expanded core R4 value sets and complete core code systems) and takes more
ValueSet/CodeSystem resources at runtime (from an IG folder or a test case).

Imports nothing from iopfhir except the standard library.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CodeSystemInfo", "Expansion", "TerminologyIndex"]

JSON = dict[str, Any]

#: Terminologies far too large to enumerate; a stated expansion of them is never trusted.
BIG_EXTERNAL_SYSTEMS = frozenset(
    {
        "http://snomed.info/sct",
        "http://loinc.org",
        "http://unitsofmeasure.org",
        "http://www.nlm.nih.gov/research/umls/rxnorm",
        "http://hl7.org/fhir/sid/icd-10-cm",
        "http://hl7.org/fhir/sid/icd-10",
        "http://hl7.org/fhir/sid/ndc",
        "http://www.ama-assn.org/go/cpt",
        "urn:ietf:bcp:47",
        "urn:ietf:bcp:13",
    }
)


@dataclass(frozen=True, slots=True)
class CodeSystemInfo:
    """The codes of one code system and (for hierarchies) each code's children."""

    url: str
    codes: frozenset[str]
    children: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    complete: bool = True
    case_sensitive: bool = True

    def descendants(self, code: str) -> set[str]:
        """``code``'s descendants, not including ``code`` itself."""
        out: set[str] = set()
        stack = list(self.children.get(code, ()))
        while stack:
            c = stack.pop()
            if c not in out:
                out.add(c)
                stack.extend(self.children.get(c, ()))
        return out


@dataclass(frozen=True, slots=True)
class Expansion:
    """What a value set allows.

    ``codes`` maps a system to its allowed codes. ``open_systems`` are systems the value set
    draws on whose content is not available offline (SNOMED CT, LOINC, VSAC...): a code from
    one of them cannot be judged. ``complete`` is False when part of the definition could not
    be read at all (an imported value set we do not have).
    """

    codes: Mapping[str, frozenset[str]]
    open_systems: frozenset[str] = frozenset()
    complete: bool = True

    def check(self, system: str | None, code: str) -> bool | None:
        """True if allowed, False if not, None when it cannot be known offline."""
        if system is None:
            for codes in self.codes.values():
                if code in codes:
                    return True
            return None if (self.open_systems or not self.complete) else False
        if code in self.codes.get(system, ()):
            return True
        if system in self.open_systems or not self.complete:
            return None
        return False

    @property
    def judgeable(self) -> bool:
        """True when every code can be judged (nothing open, nothing missing)."""
        return self.complete and not self.open_systems

    def to_json(self) -> JSON:
        out: JSON = {"c": {s: sorted(c) for s, c in sorted(self.codes.items())}}
        if self.open_systems:
            out["o"] = sorted(self.open_systems)
        if not self.complete:
            out["i"] = True
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Expansion:
        return cls(
            codes={s: frozenset(c) for s, c in data.get("c", {}).items()},
            open_systems=frozenset(data.get("o", ())),
            complete=not data.get("i", False),
        )


def _strip_version(url: str) -> str:
    return url.split("|", 1)[0]


def code_system_from_resource(cs: Mapping[str, Any]) -> CodeSystemInfo:
    """Read a ``CodeSystem`` resource (nested concepts and ``parent``/``subsumedBy`` properties)."""
    codes: set[str] = set()
    children: dict[str, list[str]] = {}

    def walk(concepts: Iterable[Mapping[str, Any]], parent: str | None) -> None:
        for c in concepts:
            code = c.get("code")
            if not isinstance(code, str):
                continue
            codes.add(code)
            if parent is not None:
                children.setdefault(parent, []).append(code)
            for prop in c.get("property", ()) or ():
                if prop.get("code") in ("parent", "subsumedBy") and "valueCode" in prop:
                    children.setdefault(str(prop["valueCode"]), []).append(code)
            walk(c.get("concept", ()) or (), code)

    walk(cs.get("concept", ()) or (), None)
    content = cs.get("content", "complete")
    return CodeSystemInfo(
        url=str(cs.get("url", "")),
        codes=frozenset(codes),
        children={k: tuple(v) for k, v in children.items()},
        complete=content == "complete",
        case_sensitive=bool(cs.get("caseSensitive", True)),
    )


def _flatten_contains(contains: Iterable[Mapping[str, Any]], out: dict[str, set[str]]) -> None:
    for c in contains:
        if "system" in c and "code" in c:
            out.setdefault(str(c["system"]), set()).add(str(c["code"]))
        _flatten_contains(c.get("contains", ()) or (), out)


class TerminologyIndex:
    """Known code systems and value sets; expands value sets on demand and caches results."""

    def __init__(self) -> None:
        self.code_systems: dict[str, CodeSystemInfo] = {}
        self._vs_resources: dict[str, Mapping[str, Any]] = {}
        self._expansions: dict[str, Expansion] = {}
        self._expanding: set[str] = set()
        #: urls of CodeSystem supplements (never valid as Coding.system)
        self.supplements: set[str] = set()
        #: changes with every code system or value set added (results cached on the walk
        #: are dropped when it does)
        self.generation = 0

    # -- loading -----------------------------------------------------------------------
    def add_code_system(self, info: CodeSystemInfo) -> None:
        if info.url:
            self.code_systems[info.url] = info
            self.generation += 1

    def add_expansion(self, url: str, expansion: Expansion) -> None:
        self._expansions[_strip_version(url)] = expansion
        self.generation += 1

    def add_resource(self, resource: Mapping[str, Any]) -> None:
        """Take a ValueSet or CodeSystem resource (others are ignored)."""
        self.generation += 1
        rt = resource.get("resourceType")
        url = resource.get("url")
        if not isinstance(url, str):
            return
        if rt == "CodeSystem":
            info = code_system_from_resource(resource)
            if resource.get("supplements"):
                self.supplements.add(url)
                return
            if info.complete and info.codes:
                self.add_code_system(info)
            elif resource.get("content") == "supplement" or resource.get("supplements"):
                self.supplements.add(url)
                return
            else:
                self.code_systems.setdefault(url, info)
        elif rt == "ValueSet":
            self._vs_resources[url] = resource
            self._expansions.pop(url, None)

    def knows_value_set(self, url: str) -> bool:
        u = _strip_version(url)
        return u in self._expansions or u in self._vs_resources

    # -- queries ------------------------------------------------------------------------
    def expand(self, url: str) -> Expansion | None:
        """The expansion of value set ``url``, or None when the value set is unknown."""
        u = _strip_version(url)
        got = self._expansions.get(u)
        if got is not None:
            return got
        vs = self._vs_resources.get(u)
        if vs is None:
            return None
        if u in self._expanding:  # a cycle: treat as unknown content
            return Expansion({}, complete=False)
        self._expanding.add(u)
        try:
            exp = self.expand_resource(vs)
        finally:
            self._expanding.discard(u)
        self._expansions[u] = exp
        return exp

    def expand_resource(self, vs: Mapping[str, Any]) -> Expansion:
        """Expand a ValueSet resource from its compose (falling back to its expansion)."""
        compose = vs.get("compose")
        if isinstance(compose, Mapping):
            exp = self._expand_compose(compose)
            stated = vs.get("expansion")
            if not exp.judgeable and isinstance(stated, Mapping) and _expansion_is_full(stated):
                codes: dict[str, set[str]] = {}
                _flatten_contains(stated.get("contains", ()) or (), codes)
                return Expansion({s: frozenset(c) for s, c in codes.items()})
            return exp
        stated = vs.get("expansion")
        if isinstance(stated, Mapping):
            codes = {}
            _flatten_contains(stated.get("contains", ()) or (), codes)
            return Expansion(
                {s: frozenset(c) for s, c in codes.items()}, complete=_expansion_is_full(stated)
            )
        return Expansion({}, complete=False)

    def _expand_compose(self, compose: Mapping[str, Any]) -> Expansion:
        codes: dict[str, set[str]] = {}
        open_systems: set[str] = set()
        complete = True
        for inc in compose.get("include", ()) or ():
            part = self._expand_include(inc)
            for s, cs in part.codes.items():
                codes.setdefault(s, set()).update(cs)
            open_systems |= part.open_systems
            complete = complete and part.complete
        for exc in compose.get("exclude", ()) or ():
            part = self._expand_include(exc)
            for s, cs in part.codes.items():
                if s in codes:
                    codes[s] -= cs
        return Expansion(
            {s: frozenset(c) for s, c in codes.items()}, frozenset(open_systems), complete
        )

    def _expand_include(self, inc: Mapping[str, Any]) -> Expansion:
        parts: list[Expansion] = []
        for vs_url in inc.get("valueSet", ()) or ():
            sub = self.expand(str(vs_url))
            parts.append(sub if sub is not None else Expansion({}, complete=False))
        system = inc.get("system")
        if isinstance(system, str):
            parts.append(self._expand_system(system, inc))
        if not parts:
            return Expansion({}, complete=False)
        result = parts[0]
        for p in parts[1:]:
            result = _intersect(result, p)
        return result

    def _expand_system(self, system: str, inc: Mapping[str, Any]) -> Expansion:
        concepts = inc.get("concept")
        filters = inc.get("filter")
        cs = self.code_systems.get(system)
        if concepts:
            listed = frozenset(str(c["code"]) for c in concepts if "code" in c)
            return Expansion({system: listed})
        if cs is None or not cs.complete:
            return Expansion({}, frozenset({system}))
        if not filters:
            return Expansion({system: cs.codes})
        selected: set[str] | None = None
        for f in filters:
            got = _apply_filter(cs, f)
            if got is None:
                return Expansion({}, frozenset({system}))
            selected = got if selected is None else selected & got
        return Expansion({system: frozenset(selected or ())})


def _apply_filter(cs: CodeSystemInfo, f: Mapping[str, Any]) -> set[str] | None:
    prop, op, value = f.get("property"), f.get("op"), str(f.get("value", ""))
    if prop == "concept" and op == "is-a":
        return {value, *cs.descendants(value)} if value in cs.codes else set()
    if prop == "concept" and op == "descendent-of":
        return cs.descendants(value)
    if prop == "concept" and op == "is-not-a":
        return set(cs.codes) - {value, *cs.descendants(value)}
    if prop == "code" and op == "regex":
        rx = re.compile(value)
        return {c for c in cs.codes if rx.fullmatch(c)}
    return None


def _intersect(a: Expansion, b: Expansion) -> Expansion:
    codes: dict[str, frozenset[str]] = {}
    for s in set(a.codes) | set(b.codes):
        if s in a.codes and s in b.codes:
            codes[s] = a.codes[s] & b.codes[s]
        elif s in a.codes and s in b.open_systems:
            codes[s] = a.codes[s]
        elif s in b.codes and s in a.open_systems:
            codes[s] = b.codes[s]
    return Expansion(codes, a.open_systems & b.open_systems, a.complete and b.complete)


def _expansion_is_full(expansion: Mapping[str, Any]) -> bool:
    for p in expansion.get("parameter", ()) or ():
        if p.get("name") in ("limitedExpansion", "expansion-incomplete"):
            return False
    if any(c.get("system") in BIG_EXTERNAL_SYSTEMS for c in expansion.get("contains", ()) or ()):
        return False  # an enumeration of SNOMED CT / LOINC / UCUM... is always a sample
    contains = expansion.get("contains") or []
    total = expansion.get("total")
    if isinstance(total, int):
        flat: dict[str, set[str]] = {}
        _flatten_contains(contains, flat)
        return total <= sum(len(v) for v in flat.values())
    return False  # no total: possibly truncated
