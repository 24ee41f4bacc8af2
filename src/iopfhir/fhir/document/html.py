"""A ToC document as a page clinicians read: self-contained, printable HTML.

:func:`render_html` renders a document Bundle (from
:func:`~iopfhir.fhir.document.toc_document`): a header (title, patient, date, author,
custodian), a "who to call" box (the relapse-prevention plan's crisis contacts and
supports, the author and the custodian, with phone numbers), a table of contents and each
section with its narrative (scores over time per instrument, the relapse-prevention plan,
the care team, aftercare...). No script, no external resource (CSS inline, print CSS for
paper). Section narratives are re-serialised through an allow-list of plain XHTML
elements without attributes, and every value is escaped, so a hostile document cannot
inject markup. Imports: the document's ``_index`` and ``_xhtml``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from iopfhir.errors import MappingError
from iopfhir.fhir.document._index import DocIndex, concept_text, short_moment
from iopfhir.fhir.document._xhtml import esc

__all__ = ["PAGE_CSS", "render_html", "safe_xhtml"]

#: Elements a section narrative keeps on the page (everything else becomes its text).
_ALLOWED = frozenset(
    {
        "p",
        "b",
        "i",
        "em",
        "strong",
        "br",
        "ul",
        "ol",
        "li",
        "table",
        "caption",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "h3",
        "h4",
        "h5",
        "span",
        "div",
        "code",
    }
)
_VOID = frozenset({"br"})

PAGE_CSS = """
:root { color-scheme: light; }
body { font: 11pt/1.4 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
       color: #1a1a1a; margin: 0 auto; max-width: 60rem; padding: 1.5rem; }
header { border-bottom: 2px solid #2a4d69; margin-bottom: 1rem; }
h1 { font-size: 1.5rem; margin: 0 0 .5rem; color: #2a4d69; }
h2 { font-size: 1.2rem; color: #2a4d69; border-bottom: 1px solid #c8d3dc;
     margin: 1.5rem 0 .5rem; padding-bottom: .2rem; }
h4 { font-size: 1rem; margin: .8rem 0 .3rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem;
           margin: 0 0 .8rem; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
table { border-collapse: collapse; width: 100%; margin: .3rem 0 .8rem; }
caption { text-align: left; font-weight: 600; padding: .2rem 0; }
th, td { border: 1px solid #c8d3dc; padding: .25rem .45rem; text-align: left; vertical-align: top; }
th { background: #eef3f7; }
.call { border: 2px solid #b03a2e; background: #fdf2f0; padding: .6rem 1rem; margin: 1rem 0; }
.call h2 { color: #b03a2e; border: 0; margin-top: 0; }
nav ol { columns: 2; margin: .3rem 0; }
footer { margin-top: 2rem; font-size: .85rem; color: #555; border-top: 1px solid #c8d3dc; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  nav { display: none; }
  section, .call, tr { break-inside: avoid; }
  h2 { break-after: avoid; }
  @page { margin: 15mm; }
}
"""


def safe_xhtml(div: str) -> str:
    """The inside of a narrative ``div`` re-serialised through the allow-list (plain
    elements, no attributes, text escaped); ``""`` when it is not well-formed XHTML."""
    if "<!" in div:  # no DOCTYPE, entity declarations or CDATA: narratives never need them
        return ""
    try:
        root = ET.fromstring(div)  # noqa: S314 - declarations refused above: no entity expansion
    except ET.ParseError:
        return ""
    return "".join(_serialise_children(root))


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _serialise_children(elem: ET.Element) -> list[str]:
    out = [esc(elem.text)] if elem.text else []
    for child in elem:
        out.extend(_serialise(child))
        if child.tail:
            out.append(esc(child.tail))
    return out


def _serialise(elem: ET.Element) -> list[str]:
    name = _local(elem.tag)
    if name in ("script", "style"):
        return []
    inner = _serialise_children(elem)
    if name not in _ALLOWED:
        return inner
    if name in _VOID:
        return ["<br>"]
    return [f"<{name}>", *inner, f"</{name}>"]


def _facts(rows: list[tuple[str, str]]) -> str:
    inner = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows if v)
    return f'<dl class="facts">{inner}</dl>'


def _who_to_call(ix: DocIndex, composition: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Crisis contacts and supports of the relapse-prevention plans, then the author and
    the custodian: (who, what for, phone), those with a phone only, each once."""
    rows: list[tuple[str, str, str]] = []
    for url in ix.care_plans("relapse-prevention"):
        plan = ix.by_url[url]
        contained = {c.get("id"): c for c in plan.get("contained", [])}
        for activity in plan.get("activity", []):
            detail = activity.get("detail") or {}
            what = concept_text(detail.get("code"))
            for ref in detail.get("performer", []):
                target = str(ref.get("reference", ""))
                if target.startswith("#") and target[1:] in contained:
                    org = contained[target[1:]]
                    phone = next((t.get("value", "") for t in org.get("telecom", [])), "")
                    note = concept_text((org.get("type") or [{}])[0])
                    rows.append(
                        (org.get("name", ""), " - ".join(p for p in (what, note) if p), phone)
                    )
                else:
                    rows.append(
                        (
                            ix.name(ref),
                            " - ".join(p for p in (what, ix.role(ref)) if p),
                            ix.phone(ref),
                        )
                    )
    for label, ref in (
        ("Author of this document", (composition.get("author") or [None])[0]),
        ("Program", composition.get("custodian")),
    ):
        if ref:
            rows.append((ix.name(ref), label, ix.phone(ref)))
    seen: set[tuple[str, str]] = set()
    out = []
    for who, what, phone in rows:
        if phone and (who, phone) not in seen:
            seen.add((who, phone))
            out.append((who, what, phone))
    return out


def render_html(document: dict[str, Any]) -> str:
    """The page of ToC ``document`` (a document Bundle): a complete HTML5 document."""
    entries = document.get("entry") or []
    composition = entries[0].get("resource", {}) if entries else {}
    if document.get("type") != "document" or composition.get("resourceType") != "Composition":
        raise MappingError("not a FHIR document Bundle with its Composition first", path="Bundle")
    ix = DocIndex([(e["fullUrl"], e["resource"]) for e in entries[1:]])
    patient = ix.by_url[ix.patient_url]
    title = str(composition.get("title") or "Transition of care")
    period: dict[str, Any] = next(
        (e["period"] for e in composition.get("event", []) if e.get("period")), {}
    )
    facts = _facts(
        [
            ("Patient", ix.name(ix.patient_url)),
            ("Born", str(patient.get("birthDate", ""))),
            ("Document", concept_text(composition.get("type"))),
            ("Date", short_moment(composition.get("date"))),
            ("Period", " to ".join(p for p in (period.get("start"), period.get("end")) if p)),
            ("Author", ix.name((composition.get("author") or [None])[0])),
            ("Custodian", ix.name(composition.get("custodian"))),
        ]
    )
    calls = _who_to_call(ix, composition)
    call_box = ""
    if calls:
        rows = "".join(
            f"<tr><td>{esc(w)}</td><td>{esc(f)}</td><td>{esc(p)}</td></tr>" for w, f, p in calls
        )
        call_box = (
            '<aside class="call"><h2>Who to call</h2><table><thead><tr><th>Who</th>'
            f"<th>For</th><th>Phone</th></tr></thead><tbody>{rows}</tbody></table></aside>"
        )
    sections = composition.get("section", [])
    nav = "".join(
        f'<li><a href="#s{i}">{esc(s.get("title", ""))}</a></li>' for i, s in enumerate(sections)
    )
    body = []
    for i, section in enumerate(sections):
        inner = safe_xhtml(section.get("text", {}).get("div", ""))
        body.append(f'<section id="s{i}"><h2>{esc(section.get("title", ""))}</h2>{inner}</section>')
    ident = document.get("identifier", {})
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{PAGE_CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1>{facts}</header>{call_box}"
        f'<nav aria-label="Sections"><ol>{nav}</ol></nav><main>{"".join(body)}</main>'
        f"<footer>FHIR R4 document {esc(ident.get('value', ''))}, "
        f"timestamp {esc(document.get('timestamp', ''))}.</footer></body></html>\n"
    )
