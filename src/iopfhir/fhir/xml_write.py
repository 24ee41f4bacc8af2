"""FHIR R4 JSON written as FHIR XML: the other form R4 defines for the same content.

:func:`dump_fhir_xml` writes one resource (a Bundle included) as the XML R4 gives for its
JSON, the inverse of :func:`iopfhir.fhir.xml.load_fhir_xml`: elements in the order R4
defines them (XML, unlike JSON, fixes it), a primitive as a ``value`` attribute with its
``id`` and extensions from ``_name`` (parallel arrays in a list), ``id`` of a complex
element and ``url`` of an extension as attributes, a contained resource inside its
element, the narrative's XHTML as it is. For systems that take XML only;
``iopfhir convert --xml`` writes a Bundle so.

A key R4 does not define for its type cannot be placed in XML and is refused naming its
FHIR path (:class:`~iopfhir.errors.MappingError`), never its value.

Imports :mod:`iopfhir.errors`, :mod:`iopfhir.terminology` and :mod:`iopfhir.fhir.xml`.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from iopfhir.errors import MappingError
from iopfhir.fhir.xml import FHIR_NS
from iopfhir.terminology.r4 import r4_definitions

__all__ = ["BUNDLE_END", "bundle_start", "dump_fhir_xml", "entry_xml", "write_fhir_xml"]

#: what an attribute value may not hold as it is (a line end would read back as a space)
_ATTRIBUTE: Final = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;",
     "\t": "&#9;"}
)  # fmt: skip


def dump_fhir_xml(resource: dict[str, Any]) -> bytes:
    """The FHIR XML of one resource (UTF-8, with an XML declaration)."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    write_fhir_xml(resource, parts)
    parts.append("\n")
    return "".join(parts).encode()


def write_fhir_xml(resource: dict[str, Any], parts: list[str]) -> None:
    """Append the FHIR XML of ``resource`` (no declaration) to ``parts``."""
    _Writer().resource(resource, parts, "")


def bundle_start(kind: str) -> bytes:
    """The start of a Bundle of type ``kind`` written entry by entry (:func:`entry_xml`,
    then :data:`BUNDLE_END`)."""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Bundle xmlns="{FHIR_NS}">'
        f'<type value="{kind.translate(_ATTRIBUTE)}"/>'
    ).encode()


#: the end of a Bundle started with :func:`bundle_start`
BUNDLE_END: Final = b"</Bundle>\n"


def entry_xml(entry: dict[str, Any], index: int) -> bytes:
    """One ``Bundle.entry`` (the ``index``-th, as errors name it) as XML."""
    parts: list[str] = []
    _Writer().element({"entry": entry}, "entry", "Bundle.entry", False, parts,
                      f"Bundle.entry[{index}]")  # fmt: skip
    return "".join(parts).encode()


class _Writer:
    def __init__(self) -> None:
        self.elements, self.primitives, _resources = r4_definitions()

    def resource(self, resource: dict[str, Any], parts: list[str], path: str) -> None:
        rtype = resource.get("resourceType")
        if not isinstance(rtype, str) or rtype not in self.elements:
            raise MappingError("not an R4 resource type", path=path or "resourceType")
        at = f"{path}.ofType({rtype})" if path else rtype
        parts.append(f'<{rtype} xmlns="{FHIR_NS}">')
        self.children(resource, rtype, parts, at, top=True)
        parts.append(f"</{rtype}>")

    def children(
        self, value: dict[str, Any], owner: str, parts: list[str], path: str, *, top: bool
    ) -> None:
        """The elements of ``value`` (of type ``owner``) in R4's order."""
        kids = self.elements[owner]
        # an element's id, an extension's url: attributes (a resource's id is an element)
        attributes = set() if top else {"id", "url"} if owner == "Extension" else {"id"}
        placed = {"resourceType", *attributes}
        for name, (repeats, types) in kids.items():
            if name in attributes:
                continue
            if name.endswith("[x]"):
                base = name[:-3]
                for kind in types:
                    key = base + kind[:1].upper() + kind[1:]
                    if key in value or f"_{key}" in value:
                        placed.update((key, f"_{key}"))
                        self.element(value, key, kind, repeats, parts, f"{path}.{key}")
            elif name in value or f"_{name}" in value:
                placed.update((name, f"_{name}"))
                self.element(value, name, types[0], repeats, parts, f"{path}.{name}")
        for key in value:
            if key not in placed:
                raise MappingError("not an R4 element of its type: cannot be written as XML",
                                   path=f"{path}.{key.lstrip('_')}")  # fmt: skip

    def element(
        self,
        holder: dict[str, Any],
        name: str,
        kind: str,
        repeats: bool,
        parts: list[str],
        path: str,
    ) -> None:
        value, extra = holder.get(name), holder.get(f"_{name}")
        if kind in self.primitives:
            if kind == "xhtml":
                if isinstance(value, str):
                    parts.append(value)
                return
            if repeats:  # (one value where R4 has a list: written as a list of one)
                values = value if isinstance(value, list) else [] if value is None else [value]
                extras = extra if isinstance(extra, list) else [] if extra is None else [extra]
                for i in range(max(len(values), len(extras))):
                    self.primitive(
                        name,
                        values[i] if i < len(values) else None,
                        extras[i] if i < len(extras) else None,
                        parts,
                        f"{path}[{i}]",
                    )
            else:
                self.primitive(name, value, extra, parts, path)
            return
        for i, item in enumerate(value if repeats and isinstance(value, list) else [value]):
            at = f"{path}[{i}]" if repeats else path
            if not isinstance(item, dict):
                raise MappingError("not a JSON object", path=at)
            if kind == "Resource":
                parts.append(f"<{name}>")
                self.resource(item, parts, at)
                parts.append(f"</{name}>")
                continue
            parts.append(f"<{name}{self.attributes(item, kind)}>")
            self.children(item, kind, parts, at, top=False)
            parts.append(f"</{name}>")

    def attributes(self, item: dict[str, Any], kind: str) -> str:
        out = ""
        if isinstance(item.get("id"), str):
            out += f' id="{item["id"].translate(_ATTRIBUTE)}"'
        if kind == "Extension" and isinstance(item.get("url"), str):
            out += f' url="{item["url"].translate(_ATTRIBUTE)}"'
        return out

    def primitive(self, name: str, value: Any, extra: Any, parts: list[str], path: str) -> None:
        attrs = ""
        extra = extra if isinstance(extra, dict) else {}
        if isinstance(extra.get("id"), str):
            attrs += f' id="{extra["id"].translate(_ATTRIBUTE)}"'
        if value is not None:
            attrs += f' value="{_text(value, path).translate(_ATTRIBUTE)}"'
        extensions = extra.get("extension")
        if not isinstance(extensions, list) or not extensions:
            parts.append(f"<{name}{attrs}/>")
            return
        parts.append(f"<{name}{attrs}>")
        for i, ext in enumerate(extensions):
            if not isinstance(ext, dict):
                raise MappingError("not a JSON object", path=f"{path}.extension[{i}]")
            parts.append(f"<extension{self.attributes(ext, 'Extension')}>")
            self.children(ext, "Extension", parts, f"{path}.extension[{i}]", top=False)
            parts.append("</extension>")
        parts.append(f"</{name}>")


def _text(value: Any, path: str) -> str:
    """A primitive's JSON value as its XML ``value`` attribute."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return orjson.dumps(value).decode()  # as JSON writes the number
    raise MappingError("not a primitive value", path=path)
