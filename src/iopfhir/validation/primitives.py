"""Primitive values: JSON kind, formats, ranges and profile-fixed values.

Lives here: :class:`Primitives` - one primitive value (and its ``_key`` Element): the JSON kind
of each FHIR primitive type, integer ranges, the R4 regexes of string-based types, calendar
dates, the narrative's XHTML (entities, form, elements, attributes: ``.xhtml`` parses it),
maxLength, fixed/pattern values, minValue/maxValue; then its required binding and its
invariants through the checks it is given. :func:`quantity_range` compares a Quantity with a
profile's minValue/maxValue Quantity (simple metric UCUM units).

Imports only sibling modules below the walk (``.bindings``, ``.constraints``, ``.context``,
``.definitions``, ``.model``, ``.values``, ``.xhtml``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from .bindings import Bindings
from .constraints import Constraints
from .context import Ctx, ObjectWalk, add, add_ele1
from .definitions import Definitions
from .model import ElementNode
from .values import describe, json_expect, json_kind, prim_equal
from .xhtml import XHTML_NS, narrative

__all__ = ["Primitives", "quantity_range", "xsd_regex"]

_INT32 = (-(2**31), 2**31 - 1)
_INTEGER_TYPES = frozenset({"integer", "positiveInt", "unsignedInt"})
_ENTITY_RX = re.compile(r"&([A-Za-z0-9#]+);")
_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})


def _xhtml(value: str, path: str, ctx: Ctx) -> None:
    """A narrative div: XML entities only, well-formed, a ``div`` in the XHTML namespace, only
    the elements and attributes of R4's subset (which ``txt-1`` sums up), and no script URL."""
    for m in _ENTITY_RX.finditer(value):
        if m.group(1) not in _XML_ENTITIES and not m.group(1).startswith("#"):
            # an HTML entity (&nbsp;) is not XML's: the parse would only repeat this
            add(ctx, "error", "value", path, "Invalid entity in the XHTML (not an XML entity)")
            return
    parsed = narrative(value)
    if parsed.error is not None:
        add(ctx, "error", "value", path, f"The XHTML is not well-formed: {parsed.error}")
        return
    if parsed.root != "div":
        add(ctx, "error", "value", path, f"Wrong name on the XHTML ('{parsed.root}'): must be div")
    if parsed.root_ns != XHTML_NS:
        found = parsed.root_ns or "none"
        add(
            ctx,
            "error",
            "value",
            path,
            f"Wrong namespace on the XHTML ('{found}', should be '{XHTML_NS}')",
        )
    for element in parsed.bad_elements:
        if element != parsed.root:
            add(ctx, "error", "invalid", path, f"Invalid element name in the XHTML ('{element}')")
    for attribute, element in parsed.bad_attributes:
        text = f"Invalid attribute name in the XHTML ('{attribute}' on '{element}')"
        add(ctx, "error", "invalid", path, text)
    for element in parsed.blocks_in_paragraph:
        text = f"Illegal element name inside a paragraph in the XHTML ('{element}')"
        add(ctx, "error", "invalid", path, text)
    for attribute, element, scheme in parsed.script_urls:
        # the scheme is one of the package data's few, never the rest of the URL
        text = (
            f"Active content in the XHTML: a {scheme} URL in '{attribute}' on '{element}' "
            "(a narrative holds no scripts)"
        )
        add(ctx, "error", "invalid", path, text)
    if parsed.xml_space:
        text = "The attribute xml:space is not part of R4's XHTML (it is ignored)"
        add(ctx, "information", "invalid", path, text)


def _bare_element(
    ext: Mapping[str, Any], value: Any, node: ElementNode, path: str, ctx: Ctx
) -> None:
    """A ``_key`` object with neither extensions nor anything but an id: ``{}`` is an empty
    object (FHIR JSON has none), and without a value the element has no value and no children
    (ele-1), as the Java validator reports them."""
    if not ext:
        add(ctx, "error", "structure", path, f"_{node.name}: an object must have some content")
    if value is None:
        add_ele1(ctx, path, node)


class Primitives:
    """Check primitive values; ``check_object`` walks a ``_key`` Element, ``bindings`` and
    ``constraints`` run the binding and invariant checks."""

    def __init__(
        self,
        definitions: Definitions,
        bindings: Bindings,
        constraints: Constraints,
        check_object: ObjectWalk,
    ) -> None:
        self.definitions = definitions
        # compiled without the C0 control characters R4 forbids in strings: the fullmatch
        # every string value goes through then refuses them too, at no cost on clean values
        self._regex = {
            k: re.compile(xsd_regex(v, controls=False))
            for k, v in definitions.primitive_regex.items()
        }
        self._bindings = bindings
        self._constraints = constraints
        self._object = check_object

    def check(
        self, value: Any, ext: Any, node: ElementNode, type_code: str, path: str, ctx: Ctx
    ) -> None:
        if ext is not None:
            if not isinstance(ext, dict):
                add(ctx, "error", "structure", path, f"_{node.name} must be a JSON object")
            else:
                eroot = self.definitions.type_tree("Element")
                if eroot is not None:
                    self._object(ext, eroot, "Element", path, ctx, eroot)
                if not any(k != "id" and k != "fhir_comments" for k in ext):
                    _bare_element(ext, value, node, path, ctx)
        if value is None:
            if ext is None:
                add(ctx, "error", "structure", path, f"{node.path}: null is not allowed here")
            return
        ok = True
        if type_code == "boolean":
            ok = isinstance(value, bool)
        elif type_code in ("integer", "positiveInt", "unsignedInt"):
            ok = isinstance(value, int) and not isinstance(value, bool)
            if ok:
                lo = (
                    1
                    if type_code == "positiveInt"
                    else 0
                    if type_code == "unsignedInt"
                    else (_INT32[0])
                )
                if not lo <= value <= _INT32[1]:
                    add(
                        ctx,
                        "error",
                        "value",
                        path,
                        f"The value is outside the range of {type_code}",
                    )
        elif type_code == "decimal":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
            if ok:
                self._string_format(value, node, type_code, path, ctx)
        if not ok and isinstance(value, float) and type_code in _INTEGER_TYPES:
            # a JSON number all the same (1.0, 1e3): its form is what is wrong
            text = f"The value is not a valid {type_code} (a number with a fraction or exponent)"
            add(ctx, "error", "value", path, text)
            return
        if not ok:
            add(
                ctx,
                "error",
                "structure",
                path,
                f"Error parsing JSON: the primitive value must be a "
                f"{json_expect(type_code)} (type {type_code}), not {json_kind(value)}",
            )
            return
        if node.fixed is not None and not prim_equal(value, node.fixed):
            add(
                ctx,
                "error",
                "value",
                path,
                f"{node.path}: value does not match the fixed value "
                f"{describe(node.fixed, type_code)}",
            )
        if node.pattern is not None and not prim_equal(value, node.pattern):
            add(
                ctx,
                "error",
                "value",
                path,
                f"{node.path}: value does not match the required pattern "
                f"{describe(node.pattern, type_code)}",
            )
        if (
            node.binding_strength == "required"
            and node.binding_vs
            and type_code in ("code", "string", "uri")
            and isinstance(value, str)
        ):
            self._bindings.code(value, node.binding_vs, path, ctx)
        if node.extra_vs and type_code in ("code", "string", "uri") and isinstance(value, str):
            for vs in node.extra_vs:
                self._bindings.code(value, vs, path, ctx)
        if node.min_value is not None or node.max_value is not None:
            _range(value, node, path, ctx)
        if node.constraints:
            self._constraints.check(node, value, path, ctx, type_code, primitive=True)

    def _string_format(
        self, value: str, node: ElementNode, type_code: str, path: str, ctx: Ctx
    ) -> None:
        if value == "":
            add(ctx, "error", "value", path, "@value cannot be empty")
            return
        if type_code == "xhtml":
            _xhtml(value, path, ctx)
            return
        if type_code == "base64Binary":
            # the answers of R4's regex, about 60x faster on a large attachment
            if not base64_ok(value):
                add(ctx, "error", "value", path, "The value is not a valid base64Binary")
            return
        rx = self._regex.get(type_code)
        if rx is not None and rx.fullmatch(value) is None:
            if (control := _CONTROL_RX.search(value)) is not None:
                _control_character(value, control, path, ctx)
            else:
                add(ctx, "error", "value", path, f"The value is not a valid {type_code}")
            return
        if type_code in ("date", "dateTime", "instant") and not _valid_calendar(value):
            add(ctx, "error", "value", path, f"The value is not a valid {type_code}")
            return
        if node.max_length is not None and len(value) > node.max_length:
            add(
                ctx,
                "error",
                "value",
                path,
                f"{node.path}: value exceeds the maximum length {node.max_length}",
            )
        if type_code in ("string", "markdown") and value[0].isspace() and _all_whitespace(value):
            add(ctx, "error", "value", path, "@value cannot be only whitespace")


def _control_character(value: str, first: re.Match[str], path: str, ctx: Ctx) -> None:
    """A string holding C0 control characters (R4, datatypes: none below U+0020 but tab, line
    feed and carriage return): the first one by code point and position (1-based), and how
    many there are - never the text around them."""
    more = len(_CONTROL_RX.findall(value, first.end()))
    text = (
        f"The value contains a control character (U+{ord(first.group()):04X}) at character "
        f"{first.start() + 1}{f' (and {more} more)' if more else ''}: strings may not hold "
        "characters below U+0020 other than tab, line feed and carriage return"
    )
    add(ctx, "error", "value", path, text)


#: the characters of R4's base64Binary regex, ``(\s*([0-9a-zA-Z\+/=]){4}\s*)+``
_BASE64_CHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/="
_DROP_BASE64 = (_BASE64_CHARS + " \t\n\r").encode("ascii")


def base64_ok(value: str) -> bool:
    """Whether ``value`` matches R4's base64Binary regex: runs of its characters whose
    lengths are multiples of four, between XML Schema whitespace (a group of four holds
    no whitespace, so whitespace may only fall between whole groups). Byte operations in
    C instead of the regex's steps over every character (a 750 KB PDF: 77 -> 1 ms)."""
    if not value or not value.isascii():
        return False
    raw = value.encode("ascii")
    if raw.translate(None, _DROP_BASE64):  # another character
        return False
    # only XML Schema whitespace is left besides the characters, and bytes.split() cuts
    # at runs of ASCII whitespace (a superset) and drops them at both ends
    words = raw.split()
    return bool(words) and all(len(w) % 4 == 0 for w in words)


# XML Schema's whitespace (``\s``): space, tab, newline, carriage return - nothing else
_XSD_SPACE = " \t\n\r"
# the complement of _XSD_SPACE, written for inside a character class
_XSD_NON_SPACE = "\x00-\x08\x0b\x0c\x0e-\x1f\x21-\U0010ffff"
# the C0 control characters R4 forbids in a string (all below U+0020 but tab, LF and CR)
_CONTROLS = "\x00-\x08\x0b\x0c\x0e-\x1f"
_CONTROL_RX = re.compile(f"[{_CONTROLS}]")


def xsd_regex(pattern: str, *, controls: bool = True) -> str:
    r"""An R4 primitive regex (XML Schema syntax) as a Python regex with the same meaning.

    FHIR's regexes are XML Schema regular expressions: there ``\s`` is only space, tab,
    newline and carriage return, ``\S`` everything else (a no-break space U+00A0 too), and
    ``.`` every character but newline and carriage return. Python's ``\s`` is any Unicode
    whitespace, so they are rewritten as explicit classes; the rest is the same in both.

    ``controls=False``: the characters that stand for "any but..." (``\S``, ``.``, a negated
    class) leave out the C0 control characters R4 forbids in strings too, so ``string``'s
    ``[ \r\n\t\S]+`` or ``uri``'s ``\S*`` refuse them; the characters a regex names
    (tab, newline...) are untouched.
    """
    extra = "" if controls else _CONTROLS
    non_space = _XSD_NON_SPACE if controls else "\x21-\U0010ffff"
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt == "s":
                out.append(_XSD_SPACE if in_class else f"[{_XSD_SPACE}]")
            elif nxt == "S":
                out.append(non_space if in_class else f"[^{_XSD_SPACE}{extra}]")
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
            if pattern[i + 1 : i + 2] == "^":
                out.append("[^" + extra)
                i += 2
                continue
        elif ch == "]" and in_class:
            in_class = False
        elif ch == "." and not in_class:
            ch = f"[^\n\r{extra}]"
        out.append(ch)
        i += 1
    return "".join(out)


def _all_whitespace(value: str) -> bool:
    """Only whitespace as the HL7 Java validator counts it (``Character.isWhitespace``: a
    no-break space is not whitespace)."""
    return all(c.isspace() and c not in "\u00a0\u2007\u202f" for c in value)


def _range(value: Any, node: ElementNode, path: str, ctx: Ctx) -> None:
    def cmp(a: Any, b: Any) -> int | None:
        try:
            if isinstance(a, (int, float)) and isinstance(b, (int, float)):
                da, db = Decimal(str(a)), Decimal(str(b))
                return (da > db) - (da < db)
            if isinstance(a, str) and isinstance(b, str):
                return (a > b) - (a < b)
        except InvalidOperation:
            return None
        return None

    if node.min_value is not None and (c := cmp(value, node.min_value)) is not None and c < 0:
        add(
            ctx,
            "error",
            "value",
            path,
            f"{node.path}: value is less than the minimum {node.min_value}",
        )
    if node.max_value is not None and (c := cmp(value, node.max_value)) is not None and c > 0:
        add(
            ctx,
            "error",
            "value",
            path,
            f"{node.path}: value is greater than the maximum {node.max_value}",
        )


def quantity_range(value: Mapping[str, Any], node: ElementNode, path: str, ctx: Ctx) -> None:
    for bound, sign, word in ((node.min_value, -1, "minimum"), (node.max_value, 1, "maximum")):
        if not isinstance(bound, dict):
            continue
        a = _canonical_quantity(value)
        b = _canonical_quantity(bound)
        if a is None or b is None or a[1] != b[1]:
            continue
        if (a[0] - b[0]) * sign > 0:
            add(
                ctx,
                "error",
                "value",
                path,
                f"{node.path}: the quantity is {'less' if sign < 0 else 'greater'} "
                f"than the {word} {bound.get('value')} {bound.get('code', '')}",
            )


_UCUM_PREFIX = {"": 0, "k": 3, "h": 2, "da": 1, "d": -1, "c": -2, "m": -3, "u": -6, "n": -9}
_UCUM_BASE = ("g", "m", "L", "l", "s", "mol")


def _canonical_quantity(q: Mapping[str, Any]) -> tuple[Decimal, str] | None:
    """(value in base unit, base unit) for simple metric UCUM units; None otherwise."""
    v = q.get("value")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    code = q.get("code") if isinstance(q.get("code"), str) else q.get("unit")
    if not isinstance(code, str):
        return Decimal(str(v)), ""
    for base in sorted(_UCUM_BASE, key=len, reverse=True):
        if code.endswith(base):
            prefix = code[: -len(base)]
            if prefix in _UCUM_PREFIX:
                return Decimal(str(v)).scaleb(_UCUM_PREFIX[prefix]), base
    return Decimal(str(v)), code


_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _valid_calendar(value: str) -> bool:
    """Reject dates the regex lets through, such as 2021-02-30."""
    if len(value) < 10:
        return True
    try:
        y, m, d = int(value[0:4]), int(value[5:7]), int(value[8:10])
    except ValueError:
        return False
    if d > _DAYS[m - 1]:
        return False
    return not (m == 2 and d == 29 and not (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)))
