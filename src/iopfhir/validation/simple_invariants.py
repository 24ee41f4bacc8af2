"""A fast path for the most common invariant shape, compiled to Python closures.

Lives here: :func:`compile_simple`. Boolean combinations (and / or / implies, parentheses,
.not()) of ``path.exists()`` and ``path.empty()`` where ``path`` is a dotted list of element
names: tim-1, cpl-3, obs-6, qrs-1, qty-3, us-core-2... They are compiled to Python closures over
the JSON; anything else goes to fhirpathpy.

Imports nothing from iopfhir.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["Tri", "compile_simple"]

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
                    # a choice primitive given only by its extensions (``_valueString``)
                    for k, kv in v.items():
                        if k[:1] == "_" and k[1:].startswith(step) and k[n + 1 : n + 2].isupper():
                            got = kv
                            break
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
