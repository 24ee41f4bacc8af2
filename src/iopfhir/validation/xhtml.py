"""The narrative's XHTML: well-formed, one ``div`` in the XHTML namespace, R4's subset of HTML.

Lives here: :func:`narrative` - one parse of a ``Narrative.div`` (expat, namespace-aware,
cached per text: ``txt-1``, ``txt-2`` and the format check all ask about the same div) into a
:class:`Narrative`: the parse error if any, the root element and its namespace, the element
and attribute names outside the subset R4 allows (the HL7 Java validator's lists: HTML 4.0
chapters 7-11 without section 9.4, chapter 15 without ``s``, ``strike`` and ``u``, ``a`` and
``img``), the block elements inside a ``p``, whether an ``xml:space`` was met (the Java
validator only notes it), and whether it has content (text that is not whitespace, or an
image).

Imports nothing of the project; reads its package data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from xml.parsers import expat

__all__ = ["XHTML_NS", "Narrative", "narrative"]


def _subset() -> tuple[
    str, frozenset[str], frozenset[str], dict[str, frozenset[str]], frozenset[str]
]:
    data = json.loads(
        resources.files("iopfhir.validation").joinpath("data", "narrative-xhtml.json").read_bytes()
    )
    return (
        data["namespace"],
        frozenset(data["elements"]),
        frozenset(data["common_attributes"]),
        {k: frozenset(v) for k, v in data["attributes"].items()},
        frozenset(data["block_elements"]),
    )


#: R4's subset (package data ``data/narrative-xhtml.json``): the namespace, the elements, the
#: attributes every element may carry, the further attributes of some, and the block elements
#: a paragraph may not hold
XHTML_NS, _ELEMENTS, _COMMON, _ATTRIBUTES, _BLOCKS = _subset()
_XML_NS = "http://www.w3.org/XML/1998/namespace"
_NONE: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Narrative:
    """What one parse of a narrative div found (names are markup, never its text)."""

    error: str | None = None
    root: str = ""
    root_ns: str = ""
    bad_elements: tuple[str, ...] = ()
    #: (attribute, element)
    bad_attributes: tuple[tuple[str, str], ...] = ()
    #: block elements (``div``, ``table``, ``ul``...) inside a ``p``: not txt-1's, an error
    blocks_in_paragraph: tuple[str, ...] = ()
    #: an ``xml:space`` attribute: outside the subset, but only noted (the Java validator's hint)
    xml_space: bool = False
    has_content: bool = False

    @property
    def allowed(self) -> bool:
        """txt-1: only the elements and attributes of R4's subset."""
        return not self.bad_elements and not self.bad_attributes


class _Doctype(Exception):
    """A DOCTYPE met: the parse stops there."""


def _split(name: str) -> tuple[str, str]:
    ns, _, local = name.rpartition(" ")
    return ns, local


@lru_cache(maxsize=512)
def narrative(div: str) -> Narrative:
    """Parse ``div`` once (the three checks that ask share the answer)."""
    parser = expat.ParserCreate(namespace_separator=" ")
    root: list[tuple[str, str]] = []
    bad_elements: list[str] = []
    bad_attributes: list[tuple[str, str]] = []
    in_paragraph: list[str] = []
    #: per open element: whether it is a ``p`` below the root (its descendants are in it too)
    opened: list[bool] = []
    paragraphs = 0
    content = False
    xml_space = False

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal content, xml_space, paragraphs
        ns, local = _split(name)
        paragraph = local == "p" and bool(root)
        if not root:
            root.append((ns, local))
        if paragraphs and local in _BLOCKS and local not in in_paragraph:
            in_paragraph.append(local)
        opened.append(paragraph)
        paragraphs += paragraph
        # no namespace at all is the root's fault (reported once, as such); another one is
        # markup from elsewhere (SVG, MathML) that R4's subset does not have
        if (ns and ns != XHTML_NS) or local not in _ELEMENTS:
            if local not in bad_elements:
                bad_elements.append(local)
            return
        if local == "img":
            content = True
        extra = _ATTRIBUTES.get(local, _NONE)
        for attribute in attributes:
            ans, alocal = _split(attribute)
            if ans == _XML_NS and alocal in ("lang", "space"):
                xml_space = xml_space or alocal == "space"
                continue
            if ans or (alocal not in _COMMON and alocal not in extra):
                pair = (f"{ans} {alocal}".strip() if ans else alocal, local)
                if pair not in bad_attributes:
                    bad_attributes.append(pair)

    def text(data: str) -> None:
        nonlocal content
        if not content and not data.isspace():
            content = True

    def end(name: str) -> None:
        nonlocal paragraphs
        paragraphs -= opened.pop()

    def doctype(*_args: object) -> None:
        raise _Doctype

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    # a narrative is a fragment: a DOCTYPE could only declare entities to expand (the
    # invariants parse even a div whose entities the format check refused)
    parser.StartDoctypeDeclHandler = doctype
    try:
        parser.Parse(div, True)
    except _Doctype:
        return Narrative(error="a DOCTYPE declaration (a narrative has none)")
    except expat.ExpatError as exc:
        # expat's message names the problem and where, never the text
        return Narrative(
            error=f"{expat.errors.messages[exc.code]} (line {exc.lineno}, column {exc.offset + 1})"
        )
    ns, local = root[0] if root else ("", "")
    return Narrative(
        root=local,
        root_ns=ns,
        bad_elements=tuple(bad_elements),
        bad_attributes=tuple(bad_attributes),
        blocks_in_paragraph=tuple(in_paragraph),
        xml_space=xml_space,
        has_content=content,
    )
