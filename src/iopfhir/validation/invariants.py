"""FHIRPath invariants (``ElementDefinition.constraint``): native fast paths and fhirpathpy.

Lives here: :class:`InvariantEngine`, which evaluates one constraint on one element and
answers True (holds), False (violated) or None (could not be evaluated - the reason is kept in
:attr:`InvariantEngine.skipped`).

* The invariants every resource and element carries are implemented in Python
  (:mod:`.native_invariants`), and the simple exists/empty shape is compiled to closures
  (:mod:`.simple_invariants`).
* Everything else is compiled once per expression with fhirpathpy and cached. Functions
  fhirpathpy lacks are handled deliberately: ``hasValue()`` is supplied; ``conformsTo()``,
  ``memberOf()``, ``htmlChecks()`` and ``resolve()`` (outside what we can resolve) make the
  invariant "not evaluated", recorded with the reason, never an error and never a crash.

Imports nothing from iopfhir outside this package (``.native_invariants``,
``.simple_invariants``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import fhirpathpy
import orjson
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models
from fhirpathpy.parser import parse

from .native_invariants import Native, native
from .simple_invariants import Tri, compile_simple

__all__ = ["InvariantEngine"]

_R4_MODEL = models["r4"]
# fhirpathpy has no annotations on these; typed aliases keep mypy --strict meaningful here
_parse: Callable[[str], Any] = parse
_create_node: Callable[[Any, str], Any] = ResourceNode.create_node
_apply: Callable[[Any, Any, dict[str, Any], Any, dict[str, Any]], Any] = (
    fhirpathpy.apply_parsed_path
)

_MEMO_MAX_BYTES = 2048
_MEMO_SIZE = 50_000


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
        self._names_cache: dict[str, frozenset[str] | None] = {}
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

    def _names(self, expression: str) -> frozenset[str] | None:
        """The names an expression may read properties by, or None when it may read any
        (``$this``, ``children()``, ``descendants()``, ``repeat()``...)."""
        try:
            return self._names_cache[expression]
        except KeyError:
            pass
        names: frozenset[str] | None = None
        bare = _STRING_RX.sub("''", expression)
        if not any(w in bare for w in _READS_ANYTHING):
            names = frozenset(_IDENT_RX.findall(bare))
        self._names_cache[expression] = names
        return names

    def native(self, key: str, expression: str) -> Native | None:
        return native(key, expression)

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
            names = self._names(expression)
            if names is not None and isinstance(value, dict):
                # only the properties the expression names can change its answer: the
                # answer on them alone is the answer (and a small, repeatable memo key)
                value = _project(value, names)
            try:
                dumped = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
            except (TypeError, orjson.JSONEncodeError):
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


#: what reads properties that the expression does not name
_READS_ANYTHING = ("$this", "children", "descendants", "repeat", "`", "$index", "$total")
_STRING_RX = re.compile(r"'(?:[^'\\]|\\.)*'")
_IDENT_RX = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _project(value: dict[str, Any], names: frozenset[str]) -> dict[str, Any]:
    """``value`` with only ``resourceType`` and the properties ``names`` may reach: a name,
    its choice forms (``value`` -> ``valueQuantity``) and their ``_`` extensions."""
    out: dict[str, Any] = {}
    for k, v in value.items():
        name = k[1:] if k[:1] == "_" else k
        if name in names or k == "resourceType":
            out[k] = v
            continue
        for n in names:
            if len(name) > len(n) and name.startswith(n) and name[len(n)].isupper():
                out[k] = v
                break
    return out


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
