"""Native implementations of the invariants every resource and element carries.

Lives here: :data:`NATIVE_EXPRESSIONS` (the R4 core expression text of each invariant
implemented natively) and :func:`native` (the Python evaluator for a constraint, or None).
ele-1, ext-1, dom-2..dom-6, ref-1, per-1, txt-1/txt-2 and a few resource invariants (obs-7,
con-3..con-5) are implemented in Python. A native implementation is used only when the
constraint's expression is exactly the R4 core text, so a profile that redefines a key still
gets its own expression evaluated.

Imports nothing from iopfhir.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

__all__ = ["NATIVE_EXPRESSIONS", "Native", "native"]

#: R4 core expression text of each invariant implemented natively.
NATIVE_EXPRESSIONS: dict[str, str] = {
    "ele-1": "hasValue() or (children().count() > id.count())",
    "ext-1": "extension.exists() != value.exists()",
    "dom-2": "contained.contained.empty()",
    "dom-3": (
        "contained.where((('#'+id in (%resource.descendants().reference | "
        "%resource.descendants().as(canonical) | %resource.descendants().as(uri) | "
        "%resource.descendants().as(url))) or descendants().where(reference = '#').exists() or "
        "descendants().where(as(canonical) = '#').exists() or descendants().where(as(canonical) "
        "= '#').exists()).not()).trace('unmatched', id).empty()"
    ),
    "dom-4": "contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()",
    "dom-5": "contained.meta.security.empty()",
    "dom-6": "text.`div`.exists()",
    "ref-1": (
        "reference.startsWith('#').not() or (reference.substring(1).trace('url') in "
        "%rootResource.contained.id.trace('ids'))"
    ),
    "per-1": "start.hasValue().not() or end.hasValue().not() or (start <= end)",
    "txt-1": "htmlChecks()",
    "txt-2": "htmlChecks()",
    "obs-7": (
        "value.empty() or component.code.where(coding.intersect(%resource.code.coding)"
        ".exists()).empty()"
    ),
    "con-3": (
        "clinicalStatus.exists() or verificationStatus.coding.where(system='http://terminology"
        ".hl7.org/CodeSystem/condition-ver-status' and code = 'entered-in-error').exists() or "
        "category.select($this='problem-list-item').empty()"
    ),
    "con-4": (
        "abatement.empty() or clinicalStatus.coding.where(system='http://terminology.hl7.org/"
        "CodeSystem/condition-clinical' and (code='resolved' or code='remission' or "
        "code='inactive')).exists()"
    ),
    "con-5": (
        "verificationStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/"
        "condition-ver-status' and code='entered-in-error').empty() or clinicalStatus.empty()"
    ),
}

_VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_CLIN = "http://terminology.hl7.org/CodeSystem/condition-clinical"

Native = Callable[[Any, Mapping[str, Any]], bool | None]


def _all_strings(value: Any, out: set[str]) -> None:
    if isinstance(value, str):
        out.add(value)
    elif isinstance(value, dict):
        for v in value.values():
            _all_strings(v, out)
    elif isinstance(value, list):
        for v in value:
            _all_strings(v, out)


def _ele1(value: Any, env: Mapping[str, Any]) -> bool:
    if isinstance(value, dict):
        return any(k != "id" for k in value)
    return value is not None


def _ext1(value: Any, env: Mapping[str, Any]) -> bool:
    if not isinstance(value, dict):
        return True
    has_ext = bool(value.get("extension"))
    has_value = any(k.startswith("value") and len(k) > 5 and k[5].isupper() for k in value)
    return has_ext != has_value


def _contained(value: Any) -> list[Any]:
    c = value.get("contained") if isinstance(value, dict) else None
    return c if isinstance(c, list) else []


def _dom2(value: Any, env: Mapping[str, Any]) -> bool:
    return not any(isinstance(c, dict) and c.get("contained") for c in _contained(value))


def _dom3(value: Any, env: Mapping[str, Any]) -> bool:
    contained = _contained(value)
    if not contained:
        return True
    strings: set[str] = set()
    _all_strings({k: v for k, v in value.items() if k != "contained"}, strings)
    for c in contained:
        if isinstance(c, dict):
            for k, v in c.items():
                if k != "id":
                    _all_strings(v, strings)
    for c in contained:
        if not isinstance(c, dict):
            continue
        cid = c.get("id")
        if f"#{cid}" in strings:
            continue
        inner: set[str] = set()
        _all_strings(c, inner)
        if "#" in inner:  # the contained resource refers back to its container
            continue
        return False
    return True


def _dom4(value: Any, env: Mapping[str, Any]) -> bool:
    for c in _contained(value):
        meta = c.get("meta") if isinstance(c, dict) else None
        if isinstance(meta, dict) and ("versionId" in meta or "lastUpdated" in meta):
            return False
    return True


def _dom5(value: Any, env: Mapping[str, Any]) -> bool:
    for c in _contained(value):
        meta = c.get("meta") if isinstance(c, dict) else None
        if isinstance(meta, dict) and meta.get("security"):
            return False
    return True


def _dom6(value: Any, env: Mapping[str, Any]) -> bool:
    text = value.get("text") if isinstance(value, dict) else None
    return isinstance(text, dict) and bool(text.get("div"))


def _ref1(value: Any, env: Mapping[str, Any]) -> bool:
    ref = value.get("reference") if isinstance(value, dict) else None
    if not isinstance(ref, str) or not ref.startswith("#"):
        return True
    root = env.get("rootResource")
    ids = {c.get("id") for c in _contained(root) if isinstance(c, dict)}
    return ref[1:] in ids or ref == "#"


_DT_RX = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?"
)


def _parse_dt(s: str) -> tuple[datetime, int] | None:
    m = _DT_RX.fullmatch(s)
    if not m:
        return None
    y, mo, d, hh, mi, ss, frac, tz = m.groups()
    precision = sum(1 for p in (y, mo, d, hh) if p)
    try:
        if hh is None:
            return datetime(int(y), int(mo or 1), int(d or 1)), precision
        tzs = tz or "Z"
        iso = f"{y}-{mo}-{d}T{hh}:{mi}:{ss or '00'}{frac or ''}"
        iso += "+00:00" if tzs == "Z" else tzs
        return datetime.fromisoformat(iso), precision
    except ValueError:
        return None


def _per1(value: Any, env: Mapping[str, Any]) -> bool | None:
    if not isinstance(value, dict):
        return True
    start, end = value.get("start"), value.get("end")
    if not isinstance(start, str) or not isinstance(end, str):
        return True
    a, b = _parse_dt(start), _parse_dt(end)
    if a is None or b is None:
        return None
    (da, pa), (db, pb) = a, b
    if pa == 4 and pb == 4:
        return da <= db
    common = min(pa, pb)
    ka = (da.year, da.month, da.day)[:common]
    kb = (db.year, db.month, db.day)[:common]
    if ka != kb:
        return ka < kb
    # same precision: equal; different precisions that agree on the common part: FHIRPath
    # gives no answer, and the HL7 Java validator counts that as a failure
    return pa == pb


_XHTML_NS = 'xmlns="http://www.w3.org/1999/xhtml"'


def _txt(value: Any, env: Mapping[str, Any]) -> bool:
    div = value.get("div") if isinstance(value, dict) else None
    if not isinstance(div, str):
        return True
    s = div.lstrip()
    return s.startswith("<div") and _XHTML_NS in s[: s.find(">") + 1]


def _codings(cc: Any) -> list[Any]:
    c = cc.get("coding") if isinstance(cc, dict) else None
    return [x for x in c if isinstance(x, dict)] if isinstance(c, list) else []


def _has_coding(cc: Any, system: str, codes: tuple[str, ...]) -> bool:
    return any(c.get("system") == system and c.get("code") in codes for c in _codings(cc))


def _has_choice(value: dict[str, Any], name: str) -> bool:
    n = len(name)
    return any(len(k) > n and k.startswith(name) and k[n].isupper() for k in value)


def _obs7(value: Any, env: Mapping[str, Any]) -> bool:
    if not isinstance(value, dict) or not _has_choice(value, "value"):
        return True
    own = _codings(value.get("code"))
    for comp in value.get("component", ()) or ():
        if isinstance(comp, dict) and any(c in own for c in _codings(comp.get("code"))):
            return False
    return True


def _con3(value: Any, env: Mapping[str, Any]) -> bool:
    if not isinstance(value, dict) or "clinicalStatus" in value:
        return True
    if _has_coding(value.get("verificationStatus"), _VER, ("entered-in-error",)):
        return True
    # select() keeps one (false) result per category, so this part holds only without one
    return not value.get("category")


def _con4(value: Any, env: Mapping[str, Any]) -> bool:
    if not isinstance(value, dict) or not _has_choice(value, "abatement"):
        return True
    return _has_coding(value.get("clinicalStatus"), _CLIN, ("resolved", "remission", "inactive"))


def _con5(value: Any, env: Mapping[str, Any]) -> bool:
    if not isinstance(value, dict):
        return True
    if not _has_coding(value.get("verificationStatus"), _VER, ("entered-in-error",)):
        return True
    return "clinicalStatus" not in value


_NATIVE: dict[str, Native] = {
    "obs-7": _obs7,
    "con-3": _con3,
    "con-4": _con4,
    "con-5": _con5,
    "ele-1": _ele1,
    "ext-1": _ext1,
    "dom-2": _dom2,
    "dom-3": _dom3,
    "dom-4": _dom4,
    "dom-5": _dom5,
    "dom-6": _dom6,
    "ref-1": _ref1,
    "per-1": _per1,
    "txt-1": _txt,
}


def native(key: str, expression: str) -> Native | None:
    """The native evaluator of invariant ``key`` when ``expression`` is its R4 core text."""
    if NATIVE_EXPRESSIONS.get(key) == expression:
        return _NATIVE.get(key)
    if key in ("txt-1", "txt-2") and expression == "htmlChecks()":
        return _txt
    return None
