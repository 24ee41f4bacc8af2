"""A narrative's div is checked as R4 defines it: well-formed XHTML, one ``div`` in the XHTML
namespace, only the elements and attributes of txt-1's subset, some content (txt-2)."""

from __future__ import annotations

import pytest

from iopfhir.validation import Validator

NS = 'xmlns="http://www.w3.org/1999/xhtml"'


def _issues(validator: Validator, div: str) -> list[tuple[str, str]]:
    resource = {
        "resourceType": "Basic",
        "code": {"text": "note"},
        "text": {"status": "generated", "div": div},
    }
    report = validator.validate(resource)
    assert all(i.path == "Basic.text.div" for i in report.issues), report.issues
    return [(i.code, i.message) for i in report.errors]


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator()


@pytest.mark.parametrize(
    "div",
    [
        f"<div {NS}>plain</div>",
        f'<div {NS} xml:lang="en" lang="en"><p class="a" style="color:red">x</p></div>',
        f'<div {NS}><table border="1"><tr><td colspan="2">1</td></tr></table></div>',
        f'<div {NS}><a href="#x" name="y">link</a><img src="#pic" alt="a picture"/></div>',
        # an image alone is content
        f'<div {NS}><img src="http://example.org/a.png" alt=""/></div>',
        f"<div {NS}>&lt;5 &#8805; &amp;</div>",
        '<x:div xmlns:x="http://www.w3.org/1999/xhtml"><x:b>prefixed</x:b></x:div>',
    ],
)
def test_narratives_r4_allows(validator: Validator, div: str) -> None:
    assert _issues(validator, div) == []


@pytest.mark.parametrize(
    ("div", "expected"),
    [
        (
            "<div>no namespace</div>",
            [
                (
                    "value",
                    "Wrong namespace on the XHTML ('none', should be "
                    "'http://www.w3.org/1999/xhtml')",
                )
            ],
        ),
        (
            '<div xmlns="http://example.org/other">x</div>',
            [
                (
                    "value",
                    "Wrong namespace on the XHTML ('http://example.org/other', should be "
                    "'http://www.w3.org/1999/xhtml')",
                ),
                ("invariant", "Constraint failed: txt-1: htmlChecks()"),
            ],
        ),
        (f"<p {NS}>not a div</p>", [("value", "Wrong name on the XHTML ('p'): must be div")]),
        (
            f"<div {NS}><script>alert(1)</script>text</div>",
            [
                ("invalid", "Invalid element name in the XHTML ('script')"),
                ("invariant", "Constraint failed: txt-1: htmlChecks()"),
            ],
        ),
        (
            f'<div {NS}><p onclick="go()">x</p></div>',
            [
                ("invalid", "Invalid attribute name in the XHTML ('onclick' on 'p')"),
                ("invariant", "Constraint failed: txt-1: htmlChecks()"),
            ],
        ),
        (
            f'<div {NS}><table><tr idref="a"><td>1</td></tr></table></div>',
            [
                ("invalid", "Invalid attribute name in the XHTML ('idref' on 'tr')"),
                ("invariant", "Constraint failed: txt-1: htmlChecks()"),
            ],
        ),
        (f"<div {NS}> \n\t </div>", [("invariant", "Constraint failed: txt-2: htmlChecks()")]),
        (
            f"<div {NS}><p>unclosed</div>",
            [("value", "The XHTML is not well-formed: mismatched tag (line 1, column 56)")],
        ),
        (
            # a DOCTYPE could only declare entities to expand: the parse stops at it
            f'<!DOCTYPE div [<!ENTITY a "aaaa">]><div {NS}>&amp;</div>',
            [
                (
                    "value",
                    "The XHTML is not well-formed: a DOCTYPE declaration (a narrative has none)",
                )
            ],
        ),
        (
            f"<div {NS}>a&nbsp;b</div>",
            [("value", "Invalid entity in the XHTML (not an XML entity)")],
        ),
    ],
)
def test_narratives_r4_refuses(
    validator: Validator, div: str, expected: list[tuple[str, str]]
) -> None:
    assert sorted(_issues(validator, div)) == sorted(expected)


def test_a_refused_narrative_does_not_echo_its_text(validator: Validator) -> None:
    issues = _issues(validator, f"<div {NS}><p>Jane Roe, DOB 1980-01-01<br></p></div>")
    assert issues and not any("Jane" in message or "1980" in message for _, message in issues)


# The HL7 Java validator's lists (its XhtmlValidator, txt-1): the table attributes go on any
# element, a few more pairs are allowed (img.ismap, pre.space); xml:space is only noted.
@pytest.mark.parametrize(
    "div",
    [
        f'<div {NS}><span align="center" width="10" valign="top">x</span></div>',
        f'<div {NS}><p style="a" rowspan="2" colspan="2" scope="row" headers="h">x</p></div>',
        f'<div {NS}><img src="#pic" alt="" ismap="ismap"/></div>',
        f'<div {NS}><pre space="preserve">x</pre></div>',
        f'<div {NS}><td nowrap="nowrap">x</td></div>',
        # block elements are fine out of a paragraph, and a paragraph inside a div
        f"<div {NS}><p>x</p><div><p>y</p><table><tr><td>1</td></tr></table></div></div>",
    ],
)
def test_narratives_the_java_validator_allows(validator: Validator, div: str) -> None:
    assert _issues(validator, div) == []


def test_xml_space_is_noted_not_an_error(validator: Validator) -> None:
    report = validator.validate(
        {
            "resourceType": "Basic",
            "code": {"text": "note"},
            "text": {
                "status": "generated",
                "div": f'<div {NS}><pre xml:space="preserve">x</pre></div>',
            },
        }
    )
    assert report.errors == []
    assert [(i.severity, i.path) for i in report.issues if "xml:space" in i.message] == [
        ("information", "Basic.text.div")
    ]


_TXT1 = ("invariant", "Constraint failed: txt-1: htmlChecks()")


@pytest.mark.parametrize(
    ("div", "expected"),
    [
        # HTML 4.0's deprecated s, strike and u are not in the subset (nor in fhir-xhtml.xsd)
        (
            f"<div {NS}><u>x</u></div>",
            [("invalid", "Invalid element name in the XHTML ('u')"), _TXT1],
        ),
        (
            f"<div {NS}><s>x</s><strike>y</strike></div>",
            [
                ("invalid", "Invalid element name in the XHTML ('s')"),
                ("invalid", "Invalid element name in the XHTML ('strike')"),
                _TXT1,
            ],
        ),
        (
            f'<div {NS}><a href="http://example.org" target="_blank">x</a></div>',
            [("invalid", "Invalid attribute name in the XHTML ('target' on 'a')"), _TXT1],
        ),
        (
            f'<div {NS}><ol start="2"><li value="3">x</li></ol></div>',
            [
                ("invalid", "Invalid attribute name in the XHTML ('start' on 'ol')"),
                ("invalid", "Invalid attribute name in the XHTML ('value' on 'li')"),
                _TXT1,
            ],
        ),
        (
            f'<div {NS}><table bgcolor="red"><tr><td>1</td></tr></table></div>',
            [("invalid", "Invalid attribute name in the XHTML ('bgcolor' on 'table')"), _TXT1],
        ),
        # a block element inside a paragraph, however deep: an error, not txt-1's
        (
            f"<div {NS}><p>x<ul><li>a</li></ul></p></div>",
            [("invalid", "Illegal element name inside a paragraph in the XHTML ('ul')")],
        ),
        (
            f"<div {NS}><p>x<b><div>a</div></b><p>b</p></p></div>",
            [
                ("invalid", "Illegal element name inside a paragraph in the XHTML ('div')"),
                ("invalid", "Illegal element name inside a paragraph in the XHTML ('p')"),
            ],
        ),
    ],
)
def test_narratives_the_java_validator_refuses(
    validator: Validator, div: str, expected: list[tuple[str, str]]
) -> None:
    assert sorted(_issues(validator, div)) == sorted(expected)


# -- active content: a script URL in an allowed URL attribute, event handlers ---------------
def _script(scheme: str, attribute: str, element: str) -> tuple[str, str]:
    text = f"Active content in the XHTML: a {scheme} URL in '{attribute}' on '{element}'"
    return ("invalid", text + " (a narrative holds no scripts)")


_JS = "javascript:"


@pytest.mark.parametrize(
    ("div", "expected"),
    [
        (f'<div {NS}><a href="javascript:alert(1)">x</a></div>', [_script(_JS, "href", "a")]),
        # any case, after spaces, tabs and line feeds (written as references: XML would turn
        # literal ones into spaces), with a tab inside the scheme: what a browser runs
        (f'<div {NS}><a href="JaVaScRiPt:go()">x</a></div>', [_script(_JS, "href", "a")]),
        (
            f'<div {NS}><a href=" &#9;&#10;&#13; javascript:go()">x</a></div>',
            [_script(_JS, "href", "a")],
        ),
        (f'<div {NS}><a href="java&#9;scr&#10;ipt:go()">x</a></div>', [_script(_JS, "href", "a")]),
        (f'<div {NS}><a href="&#106;avascript:go()">x</a></div>', [_script(_JS, "href", "a")]),
        (
            f'<div {NS}><img src="javascript:go()" alt="" longdesc="vbscript:go"/></div>',
            [_script(_JS, "src", "img"), _script("vbscript:", "longdesc", "img")],
        ),
        (
            f'<div {NS}><img src="#m" alt="" usemap="javascript:x"/>'
            f'<map name="m"><area href="javascript:x" alt=""/></map></div>',
            [_script(_JS, "usemap", "img"), _script(_JS, "href", "area")],
        ),
        (
            f'<div {NS}><blockquote cite="javascript:x">q</blockquote>'
            f'<p><q cite="javascript:x">q</q></p></div>',
            [_script(_JS, "cite", "blockquote"), _script(_JS, "cite", "q")],
        ),
        # one issue per attribute and element, however many times it is met
        (
            f'<div {NS}><a href="javascript:a">x</a><a href="javascript:b">y</a></div>',
            [_script(_JS, "href", "a")],
        ),
    ],
)
def test_script_urls_are_refused(
    validator: Validator, div: str, expected: list[tuple[str, str]]
) -> None:
    """Allowed markup, so not txt-1's failure: an error of its own, naming the scheme, the
    attribute and the element, never the URL."""
    issues = _issues(validator, div)
    assert sorted(issues) == sorted(expected)
    assert not any("go()" in message or "alert" in message for _, message in issues)


@pytest.mark.parametrize(
    "div",
    [
        f'<div {NS}><a href="javascript-notes.html">x</a><a href="#javascript:">y</a></div>',
        f'<div {NS}><a href="http://example.org/?next=javascript:x">x</a></div>',
        f'<div {NS}><a href="mailto:clinic@example.org">x</a></div>',
        f'<div {NS}><img src="data:image/png;base64,iVBORw0KGgo=" alt="javascript:"/></div>',
        f'<div {NS}><p title="javascript:x">javascript: is only text here</p></div>',
    ],
)
def test_urls_that_run_nothing_pass(validator: Validator, div: str) -> None:
    assert _issues(validator, div) == []


@pytest.mark.parametrize(
    ("div", "attribute", "element"),
    [
        (f'<div {NS}><img src="#a" alt="" onload="go()"/></div>', "onload", "img"),
        (f'<div {NS}><a href="#a" onmouseover="go()">x</a></div>', "onmouseover", "a"),
        (f'<div {NS}><p ONCLICK="go()">x</p></div>', "ONCLICK", "p"),
        (
            f'<div {NS} xmlns:h="http://www.w3.org/1999/xhtml"><p h:onclick="go()">x</p></div>',
            "http://www.w3.org/1999/xhtml onclick",
            "p",
        ),
    ],
)
def test_event_handler_attributes_are_refused(
    validator: Validator, div: str, attribute: str, element: str
) -> None:
    """No ``on*`` attribute is in R4's subset: each is named as outside it, and fails txt-1."""
    assert sorted(_issues(validator, div)) == sorted(
        [("invalid", f"Invalid attribute name in the XHTML ('{attribute}' on '{element}')"), _TXT1]
    )


def test_dom6_warns_on_a_resource_without_narrative_but_not_on_a_contained_one(
    validator: Validator,
) -> None:
    # R4 DomainResource.text: contained resources do not have narrative; the others should
    resource = {
        "resourceType": "Basic",
        "code": {"text": "note"},
        "contained": [{"resourceType": "Basic", "id": "inner", "code": {"text": "inner"}}],
        "extension": [{"url": "http://example.org/x", "valueReference": {"reference": "#inner"}}],
    }
    dom6 = [i.path for i in validator.validate(resource).warnings if "dom-6" in i.message]
    assert dom6 == ["Basic"]
    narrated = {**resource, "text": {"status": "generated", "div": f"<div {NS}>note</div>"}}
    assert not [i for i in validator.validate(narrated).warnings if "dom-6" in i.message]
