"""The narrative's XHTML: well-formed, one ``div`` in the XHTML namespace, R4's subset of HTML.

Lives here: :func:`narrative` - one parse of a ``Narrative.div`` (expat, namespace-aware,
cached per text: ``txt-1``, ``txt-2`` and the format check all ask about the same div) into a
:class:`Narrative`: the parse error if any, the root element and its namespace, the element
and attribute names outside the subset R4 allows (the HL7 Java validator's lists: HTML 4.0
chapters 7-11 without section 9.4, chapter 15 without ``s``, ``strike`` and ``u``, ``a`` and
``img``), the block elements inside a ``p``, the URL attributes that hold a script URL
(``javascript:``, ``vbscript:``: active content, as a browser would read the URL), whether an
``xml:space`` was met (the Java validator only notes it), and whether it has content (text
that is not whitespace, or an image).

Imports nothing of the project; reads its package data.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from xml.parsers import expat

__all__ = ["XHTML_NS", "Narrative", "narrative"]


_Subset = tuple[
    str,
    frozenset[str],
    frozenset[str],
    dict[str, frozenset[str]],
    frozenset[str],
    frozenset[str],
    re.Pattern[str],
]


def _subset() -> _Subset:
    data = json.loads(
        resources.files("iopfhir.validation").joinpath("data", "narrative-xhtml.json").read_bytes()
    )
    # a scheme as a browser reads it: ASCII letters in any case, then the colon
    schemes = "|".join(re.escape(s) for s in data["script_schemes"])
    return (
        data["namespace"],
        frozenset(data["elements"]),
        frozenset(data["common_attributes"]),
        {k: frozenset(v) for k, v in data["attributes"].items()},
        frozenset(data["block_elements"]),
        frozenset(data["url_attributes"]),
        re.compile(f"(?:{schemes}):", re.IGNORECASE | re.ASCII),
    )


#: R4's subset (package data ``data/narrative-xhtml.json``): the namespace, the elements, the
#: attributes every element may carry, the further attributes of some, the block elements
#: a paragraph may not hold, the attributes whose value is a URL, and the URL schemes that
#: run a script
XHTML_NS, _ELEMENTS, _COMMON, _ATTRIBUTES, _BLOCKS, _URL_ATTRIBUTES, _SCRIPT_RX = _subset()
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
    #: (attribute, element, scheme) of each URL attribute holding a script URL: allowed
    #: markup (not txt-1's), but active content, an error of its own
    script_urls: tuple[tuple[str, str, str], ...] = ()
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


#: what a browser drops from a URL before it reads the scheme (the WHATWG URL parser): C0
#: controls and spaces at the start, tab, line feed and carriage return anywhere (``&#9;``
#: inside ``java&#9;script:`` survives XML's attribute-value normalisation)
_URL_LEAD = "".join(map(chr, range(0x21)))
_URL_DROP = str.maketrans("", "", "\t\n\r")


def _script_scheme(url: str) -> str | None:
    """The scheme (lower case) when ``url`` runs a script once a browser has read it."""
    m = _SCRIPT_RX.match(url.lstrip(_URL_LEAD).translate(_URL_DROP))
    return m.group().lower() if m is not None else None


@lru_cache(maxsize=512)
def narrative(div: str) -> Narrative:
    """Parse ``div`` once (the three checks that ask share the answer)."""
    parser = expat.ParserCreate(namespace_separator=" ")
    root: list[tuple[str, str]] = []
    bad_elements: list[str] = []
    bad_attributes: list[tuple[str, str]] = []
    script_urls: list[tuple[str, str, str]] = []
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
            elif alocal in _URL_ATTRIBUTES:
                scheme = _script_scheme(attributes[attribute])
                if scheme is not None and (found := (alocal, local, scheme)) not in script_urls:
                    script_urls.append(found)

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
        script_urls=tuple(script_urls),
        xml_space=xml_space,
        has_content=content,
    )
