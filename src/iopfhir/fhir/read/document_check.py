"""The rules a FHIR document Bundle must keep to be read as one (:func:`check_document`),
and what a Composition section is (:func:`section_kind`, by its LOINC code).

:mod:`~iopfhir.fhir.read.source` calls :func:`check_document` when it unpacks a ``Bundle``
of type ``document``, so both readers (``read_fhir`` and the streaming
``read_fhir_stream``) refuse the same documents with the same
:class:`~iopfhir.errors.FhirInputError`: the place as a FHIRPath
(``Bundle.entry[0].resource.section[3].entry[1]``), the section by its LOINC code and the
section of ours it corresponds to, and the reason (the first entry is not a Composition,
its subject or a section entry names by ``reference`` what is not inside the Bundle; one
named only by identifier or display names nothing to look for). A Composition with no
subject, or a subject other than a Patient, is a document R4 allows: it is read, its
resources by their own patients, the Composition counted in ``unmapped`` (no patient's).
Never a value of the document: a section's own title is left out too (documents put the
patient's name in it). Reading the sections is
:mod:`~iopfhir.fhir.read.document`.

Imports: :mod:`iopfhir.errors`, :mod:`iopfhir.terminology` and the reader's ``values``
(not ``source``, which imports this module).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from iopfhir.errors import R4_RESOURCE_TYPES, FhirInputError
from iopfhir.fhir.read.values import as_dict, as_list, codings
from iopfhir.terminology.documents import document_data, toc_section_by_code

__all__ = ["check_document", "loinc_code", "section_kind", "sections"]

#: ``Type/id`` at the end of a reference or RESTful ``fullUrl`` (``_history`` dropped)
_TYPE_ID = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


def section_kind(code: str | None) -> str | None:
    """The section of ours (``problems``, ``medications``...) a LOINC section code
    corresponds to, or ``None``."""
    if code is None:
        return None
    ours = toc_section_by_code(code)
    if ours is not None:
        return ours.key
    found: str | None = document_data()["reading"]["sections"].get(code)
    return found


def loinc_code(section: dict[str, Any]) -> str | None:
    """The first LOINC code of a section's ``code``, or ``None``."""
    loinc = document_data()["loinc"]
    return next((c for s, c in codings(section.get("code")) if s == loinc), None)


def sections(composition: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every section (nested ones too) with its FHIRPath, in document order."""
    for i, section in enumerate(as_list(composition.get("section"))):
        if isinstance(section, dict):
            here = f"{path}.section[{i}]"
            yield here, section
            yield from sections(section, here)


def _named(section: dict[str, Any]) -> str:
    """A section as an error names it: its LOINC code and the section of ours it is;
    never the document's own title (it may hold the patient's name)."""
    code = loinc_code(section)
    if code is None:
        return "a section without a LOINC code"
    kind = section_kind(code)
    return f"section LOINC {code} ({kind})" if kind else f"section LOINC {code}"


# -- checking a document Bundle --------------------------------------------------------------


class _Names:
    """What a reference may name inside one Bundle (its ``fullUrl`` s, ``Type/id``)."""

    def __init__(self, entries: list[Any]) -> None:
        self.types: dict[str, str] = {}  # a name → the resource type it names
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            resource = as_dict(entry.get("resource"))
            rtype = resource.get("resourceType")
            url = entry.get("fullUrl")
            names = []
            if isinstance(url, str) and url:
                names.append(url)
                match = _TYPE_ID.search(url)
                if match and not url.startswith("urn:"):
                    names.append(f"{match.group(1)}/{match.group(2)}")
            rid = resource.get("id")
            if isinstance(rtype, str) and isinstance(rid, str) and rid:
                names.append(f"{rtype}/{rid}")
            for name in names:
                self.types.setdefault(name, str(rtype))

    def type_of(self, ref: Any, contained: dict[str, str]) -> str | None:
        """The resource type a Reference names inside the Bundle (``contained``: the
        Composition's contained resources by id), ``None``: none."""
        value = as_dict(ref).get("reference")
        if not isinstance(value, str) or not value:
            return None
        if value.startswith("#"):
            return contained.get(value[1:])
        if value in self.types:
            return self.types[value]
        match = _TYPE_ID.search(value.split("?", 1)[0])
        if match is None or value.startswith("urn:"):
            return None
        return self.types.get(f"{match.group(1)}/{match.group(2)}")


def _literal(ref: Any) -> bool:
    """Whether a Reference names its target by ``reference`` (not only by identifier or
    display)."""
    if ref is None:
        return False
    value = ref.get("reference") if isinstance(ref, dict) else None
    return not isinstance(ref, dict) or (isinstance(value, str) and value != "")


def check_document(bundle: dict[str, Any], origin: str, json_path: str = "$") -> None:
    """Raise :class:`FhirInputError` when the document Bundle ``bundle`` cannot be read as a
    document (see the module docstring); ``origin`` names the input, ``json_path`` where
    the Bundle is in it."""
    where = "" if json_path == "$" else f" (the document at {json_path})"

    def fail(path: str, reason: str) -> FhirInputError:
        return FhirInputError(f"{path}: {reason}{where}", path=origin)

    entries = as_list(bundle.get("entry"))
    first = as_dict(entries[0]).get("resource") if entries else None
    if not isinstance(first, dict) or first.get("resourceType") != "Composition":
        found = first.get("resourceType") if isinstance(first, dict) else None
        what = "no resource" if found is None else "a resource of another type"
        if found in R4_RESOURCE_TYPES:  # a type's name, never a value
            what = f"a {found}"
        raise fail(
            "Bundle.entry[0].resource", f"a document starts with its Composition, not {what}"
        )
    names = _Names(entries)
    contained = {
        str(c.get("id")): str(c.get("resourceType"))
        for c in as_list(first.get("contained"))
        if isinstance(c, dict)
    }
    comp = "Bundle.entry[0].resource"
    # R4 lets a Composition name no subject, or one of any type: such a document is no
    # patient's record, and its Composition is counted where its patient is looked for
    subject = first.get("subject")
    if _literal(subject) and names.type_of(subject, contained) is None:
        raise fail(f"{comp}.subject", "the subject does not resolve inside the document")
    for path, section in sections(first, comp):
        for k, ref in enumerate(as_list(section.get("entry"))):
            # a Reference by identifier or display only (R4 allows it) names no entry to
            # look for: the reader counts it as not read; a literal one must be inside
            if _literal(ref) and names.type_of(ref, contained) is None:
                raise fail(
                    f"{path}.entry[{k}]",
                    f"{_named(section)}: the entry does not resolve inside the document",
                )
