"""Small XHTML builders for FHIR narratives (``Narrative.div``, R4 txt-1 / txt-2).

Every value is escaped here (``&``, ``<``, ``>``, quotes); callers pass plain text and
get well-formed XHTML fragments made of the basic elements R4 allows (``p``, ``table``,
``ul``, ``h3``, ``b``...), with no style attributes, scripts or links.
No iopfhir imports.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

__all__ = ["XHTML_NS", "bullets", "div", "esc", "heading", "para", "table"]

XHTML_NS = "http://www.w3.org/1999/xhtml"


def esc(text: object) -> str:
    """``text`` escaped for XHTML content and attribute values."""
    return escape(str(text), quote=True)


def div(inner: str) -> str:
    """A narrative ``div`` in the XHTML namespace around ``inner`` (already XHTML)."""
    return f'<div xmlns="{XHTML_NS}">{inner}</div>'


def para(text: str, *, label: str | None = None) -> str:
    """A paragraph; ``label`` in bold before the text."""
    lead = f"<b>{esc(label)}</b>: " if label else ""
    return f"<p>{lead}{esc(text)}</p>"


def heading(text: str) -> str:
    """A sub-heading inside a section (``h4``: the section title is the page's ``h2``)."""
    return f"<h4>{esc(text)}</h4>"


def bullets(items: Iterable[str]) -> str:
    """An unordered list of plain-text items (empty string for none)."""
    inner = "".join(f"<li>{esc(item)}</li>" for item in items)
    return f"<ul>{inner}</ul>" if inner else ""


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, caption: str = "") -> str:
    """A table with a header row; cells are plain text (``None`` shows as empty)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc('' if c is None else c)}</td>" for c in row) + "</tr>"
        for row in rows
    )
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
