"""FHIRPath invariants (``ElementDefinition.constraint``): native fast paths and fhirpathpy.

Lives here: :class:`InvariantEngine`, which evaluates one constraint on one element and
answers True (holds), False (violated) or None (could not be evaluated - the reason is kept in
:attr:`InvariantEngine.skipped`).

* The invariants every resource and element carries (ele-1, ext-1, dom-2..dom-6, ref-1,
  per-1, txt-1/txt-2) are implemented in Python. A native implementation is used only when the
  constraint's expression is exactly the R4 core text, so a profile that redefines a key still
  gets its own expression evaluated.
* Everything else is compiled once per expression with fhirpathpy and cached. Functions
  fhirpathpy lacks are handled deliberately: ``hasValue()`` is supplied; ``conformsTo()``,
  ``memberOf()``, ``htmlChecks()`` and ``resolve()`` (outside what we can resolve) make the
  invariant "not evaluated", recorded with the reason, never an error and never a crash.

Imports nothing from iopfhir.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import fhirpathpy
import orjson
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models
from fhirpathpy.parser import parse

__all__ = ["NATIVE_EXPRESSIONS", "InvariantEngine"]

_R4_MODEL = models["r4"]
# fhirpathpy has no annotations on these; typed aliases keep mypy --strict meaningful here
_parse: Callable[[str], Any] = parse
_create_node: Callable[[Any, str], Any] = ResourceNode.create_node
_apply: Callable[[Any, Any, dict[str, Any], Any, dict[str, Any]], Any] = (
    fhirpathpy.apply_parsed_path
)

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
_MEMO_MAX_BYTES = 2048
_MEMO_SIZE = 50_000


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


# -- a fast path for the most common invariant shape ----------------------------------------
# Boolean combinations (and / or / implies, parentheses, .not()) of ``path.exists()`` and
# ``path.empty()`` where ``path`` is a dotted list of element names: tim-1, cpl-3, obs-6,
# qrs-1, qty-3, us-core-2... They are compiled to Python closures over the JSON; anything
# else goes to fhirpathpy.
_TOKEN_RX = re.compile(
    r"\s*(\(|\)|\.not\(\)|and\b|or\b|implies\b|"
    r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\.(?:exists|empty)\(\))"
)

Tri = Callable[[Any], "bool | None"]


def _path_values(value: Any, steps: tuple[str, ...]) -> bool:
    """True when ``steps`` selects at least one value in ``value``."""
    current = [value]
    for step in steps:
        nxt: list[Any] = []
        for v in current:
            if not isinstance(v, dict):
                continue
            got = v.get(step)
            if got is None:
                n = len(step)
                for k, kv in v.items():
                    if len(k) > n and k.startswith(step) and k[n].isupper():
                        got = kv
                        break
                if got is None and ("_" + step) in v:
                    got = v["_" + step]
            if got is None:
                continue
            if isinstance(got, list):
                nxt.extend(x for x in got if x is not None)
            else:
                nxt.append(got)
        if not nxt:
            return False
        current = nxt
    return True


def compile_simple(expression: str) -> Tri | None:
    """Compile the simple exists/empty shape; None when the expression is anything else."""
    pos = 0
    tokens: list[str] = []
    text = expression.strip()
    while pos < len(text):
        m = _TOKEN_RX.match(text, pos)
        if m is None:
            return None
        tokens.append(m.group(1))
        pos = m.end()
    i = 0

    def peek() -> str | None:
        return tokens[i] if i < len(tokens) else None

    def atom() -> Tri | None:
        nonlocal i
        t = peek()
        if t is None:
            return None
        i += 1
        fn: Tri | None
        if t == "(":
            fn = expr()
            if fn is None or peek() != ")":
                return None
            i += 1
        elif t.endswith((".exists()", ".empty()")):
            path, _, op = t.rpartition(".")
            steps = tuple(path.split("."))
            if op == "exists()":

                def fn(v: Any, steps: tuple[str, ...] = steps) -> bool | None:
                    return _path_values(v, steps)
            else:

                def fn(v: Any, steps: tuple[str, ...] = steps) -> bool | None:
                    return not _path_values(v, steps)
        else:
            return None
        while peek() == ".not()":
            i += 1
            inner = fn

            def fn(v: Any, inner: Tri = inner) -> bool | None:
                r = inner(v)
                return None if r is None else not r

        return fn

    def conj() -> Tri | None:
        nonlocal i
        left = atom()
        while left is not None and peek() == "and":
            i += 1
            right = atom()
            if right is None:
                return None
            left = _and(left, right)
        return left

    def expr() -> Tri | None:
        nonlocal i
        left = conj()
        while left is not None and peek() in ("or", "implies"):
            op = peek()
            i += 1
            right = conj()
            if right is None:
                return None
            left = _or(left, right) if op == "or" else _implies(left, right)
        return left

    result = expr()
    return result if result is not None and i == len(tokens) else None


def _and(a: Tri, b: Tri) -> Tri:
    def f(v: Any) -> bool | None:
        x, y = a(v), b(v)
        if x is False or y is False:
            return False
        return None if x is None or y is None else True

    return f


def _or(a: Tri, b: Tri) -> Tri:
    def f(v: Any) -> bool | None:
        x, y = a(v), b(v)
        if x is True or y is True:
            return True
        return None if x is None or y is None else False

    return f


def _implies(a: Tri, b: Tri) -> Tri:
    def f(v: Any) -> bool | None:
        x = a(v)
        if x is False:
            return True
        y = b(v)
        if y is True:
            return True
        return None if x is None or y is None else False

    return f


def _has_value(inputs: list[Any]) -> list[bool]:
    if len(inputs) != 1:
        return [False]
    v = inputs[0]
    return [v is not None and not isinstance(v, (dict, list))]


Resolver = Callable[[str], "Mapping[str, Any] | None"]


class InvariantEngine:
    """Evaluate constraints; compile each expression once."""

    def __init__(self) -> None:
        self._compiled: dict[str, Any] = {}
        self._simple: dict[str, Tri | None] = {}
        # results of context-free expressions on small values, keyed by content
        self._memo: dict[tuple[str, str, bytes], bool | None] = {}
        self._broken: dict[str, str] = {}
        #: invariant key -> why it was not evaluated
        self.skipped: dict[str, str] = {}
        self._resolver: Resolver | None = None
        self._options: dict[str, Any] = {
            "userInvocationTable": {
                "hasValue": {"fn": _has_value, "arity": {0: []}},
                "resolve": {"fn": self._resolve, "arity": {0: []}},
            },
            "traceFn": _no_trace,
        }

    def _resolve(self, inputs: list[Any]) -> list[Any]:
        """FHIRPath ``resolve()``: contained resources and Bundle entries only."""
        out: list[Any] = []
        if self._resolver is None:
            return out
        for item in inputs:
            ref = item.get("reference") if isinstance(item, dict) else item
            if isinstance(ref, str):
                got = self._resolver(ref)
                if isinstance(got, dict) and isinstance(got.get("resourceType"), str):
                    out.append(_create_node(got, got["resourceType"]))
        return out

    def native(self, key: str, expression: str) -> Native | None:
        if NATIVE_EXPRESSIONS.get(key) == expression:
            return _NATIVE.get(key)
        if key in ("txt-1", "txt-2") and expression == "htmlChecks()":
            return _txt
        return None

    def fast(self, key: str, expression: str) -> Native | None:
        """A native or simple-compiled evaluator for an invariant, or None when it needs
        fhirpathpy (then call :meth:`evaluate`)."""
        fn = self.native(key, expression)
        if fn is not None:
            return fn
        if expression not in self._simple:
            self._simple[expression] = compile_simple(expression)
        simple = self._simple[expression]
        if simple is None:
            return None

        def run(value: Any, _env: Mapping[str, Any]) -> bool | None:
            return simple(value)

        return run

    def evaluate(
        self,
        key: str,
        expression: str,
        value: Any,
        model_path: str,
        env: Mapping[str, Any],
        resolver: Resolver | None = None,
    ) -> bool | None:
        """True if the invariant holds, False if violated, None if it could not be evaluated."""
        fn = self.native(key, expression)
        if fn is not None:
            return fn(value, env)
        if expression not in self._simple:
            self._simple[expression] = compile_simple(expression)
        simple = self._simple[expression]
        if simple is not None:
            return simple(value)
        if expression in self._broken:
            self.skipped.setdefault(key, self._broken[expression])
            return None
        parsed = self._compiled.get(expression)
        if parsed is None:
            if (
                "htmlChecks" in expression
                or "conformsTo" in expression
                or ("memberOf" in expression)
            ):
                reason = "uses a function this validator does not implement"
                self._broken[expression] = reason
                self.skipped.setdefault(key, reason)
                return None
            try:
                parsed = _parse(_fhir_type_names(expression))
            except Exception as exc:  # fhirpathpy raises bare exceptions on syntax errors
                self._broken[expression] = f"cannot parse ({exc.__class__.__name__})"
                self.skipped.setdefault(key, self._broken[expression])
                return None
            self._compiled[expression] = parsed
        memo_key: tuple[str, str, bytes] | None = None
        if "%" not in expression and "resolve" not in expression:
            try:
                dumped = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
            except TypeError:
                dumped = b""
            if dumped and len(dumped) <= _MEMO_MAX_BYTES:
                memo_key = (expression, model_path, dumped)
                if memo_key in self._memo:
                    return self._memo[memo_key]
        try:
            node: Any = value
            if not (isinstance(value, dict) and "resourceType" in value):
                node = _create_node(value, model_path)
            self._resolver = resolver
            result = _apply(node, parsed, dict(env), _R4_MODEL, self._options)
        except Exception as exc:  # unsupported function or engine limitation
            msg = str(exc)
            reason = (
                f"unsupported FHIRPath: {msg[:80]}"
                if "Not implemented" in msg
                else f"evaluation failed ({exc.__class__.__name__})"
            )
            self.skipped.setdefault(key, reason)
            return None
        finally:
            self._resolver = None
        verdict = _truth(result)
        if memo_key is not None:
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[memo_key] = verdict
        return verdict


def _no_trace(*_args: Any) -> None:
    return None


_SYSTEM_TYPE_RX = re.compile(
    r"\b(is|as)\s+(?:System\.)?(Boolean|String|Integer|Decimal|Date|DateTime|Time)\b"
    r"|\b(ofType|is|as)\((?:System\.)?(Boolean|String|Integer|Decimal|Date|DateTime|Time)\)"
)


def _fhir_type_names(expression: str) -> str:
    """``answer is Boolean`` -> ``answer is boolean``.

    R4 invariants name primitive types with System names; the validator's data are FHIR
    primitives, which fhirpathpy only recognises by their FHIR names.
    """

    def low(m: re.Match[str]) -> str:
        if m.group(1):
            t = m.group(2)
            return f"{m.group(1)} {t[0].lower()}{t[1:]}"
        t = m.group(4)
        return f"{m.group(3)}({t[0].lower()}{t[1:]})"

    return _SYSTEM_TYPE_RX.sub(low, expression)


def _truth(result: Any) -> bool | None:
    if isinstance(result, list):
        if not result:
            return None  # empty: the constraint could not decide; not a failure
        if len(result) == 1 and isinstance(result[0], bool):
            return result[0]
        return True
    if isinstance(result, bool):
        return result
    return True
