"""Server text made fit for a message: credentials, request values and identifiers removed.

A server's error text is untrusted: servers repeat what they were sent (a 422 naming the
patient and the MRN of the resource it refused, a 401 echoing the ``Authorization``
header). Before any of it reaches an exception message, a log or a report,
:func:`scrub` removes

* anything that looks like a credential: ``Bearer``/``Basic``/... schemes with their
  token, JWT-shaped strings, ``Authorization:``/``Cookie:`` headers, ``password=``,
  ``token=``, ``secret=``, ``api_key=`` and alike, long opaque token-like strings;
* every value the request carried (:func:`request_values`): the query's values (the
  ``system|value`` of an identifier search), the path's ids, the credential headers, and
  the string values of a JSON body (names, identifiers, narrative) word by word;
* quoted text (``'…'``, ``"…"``), where servers put the values they complain about;
* runs of five or more digits (MRNs, phone and account numbers);

and flattens it to one bounded line. What is left is the server's own wording: enough to
see *why* a request was refused, never *whose* data it was.

Imports only :mod:`iopfhir.errors` and :mod:`.transport`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson

from iopfhir.errors import R4_RESOURCE_TYPES, Issue, one_line

from .transport import Request

__all__ = ["SCRUBBED", "request_values", "scrub", "scrub_issue", "scrub_issues"]

#: What stands where something was removed.
SCRUBBED = "…"

# Values under these keys are FHIR vocabulary (types, codes, canonical URLs), not data
# about a person: leaving them out keeps "Patient.name" readable in a diagnostic.
_STRUCTURAL_KEYS = frozenset(
    {"resourceType", "system", "code", "url", "profile", "status", "use", "method", "mode"}
)
# Parts of references and URLs ("Patient/…", "http://hl7.org/fhir/…"): removing them
# from the server's text would gut it, and they say nothing about a person.
_URL_WORDS = frozenset({"http", "https", "www", "org", "com", "fhir", "hl7", "urn", "oid", "uuid"})
# Words shorter than this are too common to remove without gutting the text.
_MIN_WORD = 3
# A request body larger than this is not parsed for values: an error on a huge Bundle
# still gets the pattern-based scrubbing, just not the word-by-word one.
_MAX_BODY_SCAN = 16 * 1024 * 1024
_MAX_PATH = 120

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CHUNK = re.compile(r"[^\s,;()\[\]{}'\"<>=|&?]+")
_CREDENTIAL_PATTERNS = (
    # "Authorization: Bearer abc", "Cookie: a=b; c=d" up to the end of the header value.
    re.compile(
        r"(?i)\b(?:proxy-)?(?:authorization|cookie|set-cookie|x-api-key)\b\s*[:=]\s*[^,;\s]*"
        r"(?:\s+[^,;\s]+)?"
    ),
    re.compile(r"(?i)\b(?:bearer|basic|digest|negotiate)\s+[A-Za-z0-9._~+/=:-]{6,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)?"),
    re.compile(
        r"(?i)\b[\w-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|assertion|"
        r"credential|session)[\w-]*\b\s*[=:]\s*(?:\"[^\"]*\"|'[^']*'|[^\s,;&]+)"
    ),
    # Long opaque strings mixing letters and digits: API keys, session ids, hashes.
    re.compile(r"\b(?=[A-Za-z0-9_+/=-]*\d)(?=[A-Za-z0-9_+/=-]*[A-Za-z])[A-Za-z0-9_+/=-]{24,}"),
)
_QUOTED = re.compile(
    r"'[^']*'|\"[^\"]*\"|`[^`]*`|\u2018[^\u2019]*\u2019|\u201c[^\u201d]*\u201d|«[^»]*»"
)
_DIGITS = re.compile(r"\d{5,}")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CODE = re.compile(r"[a-z][a-z0-9-]{0,39}")


def _words(text: str, out: set[str]) -> None:
    # Whole chunks ("X-9Q", "urn:mrn") and the words in them: an identifier made of short
    # parts is still recognised whole.
    for chunk in _CHUNK.findall(text):
        if len(chunk) >= _MIN_WORD:
            out.add(chunk.casefold())
    for word in _WORD.findall(text):
        if len(word) >= _MIN_WORD and word not in R4_RESOURCE_TYPES and word not in _URL_WORDS:
            out.add(word.casefold())


def _body_strings(node: Any, out: set[str]) -> None:
    # Iterative: a request body may be deeply nested, recursion is not safe.
    stack: list[Any] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if isinstance(value, str):
                    if key not in _STRUCTURAL_KEYS:
                        _words(value, out)
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            _words(item, out)


def request_values(request: Request | None) -> frozenset[str]:
    """The words (case-folded, three characters or more) of every value ``request`` carried.

    Query values, path segments after the first, credential header values and the
    string values of a JSON or form body (not the values of FHIR vocabulary keys such as
    ``resourceType``, ``system`` or ``code``).
    """
    if request is None:
        return frozenset()
    out: set[str] = set()
    parts = urlsplit(request.url)
    for _, value in parse_qsl(parts.query, keep_blank_values=True):
        _words(value, out)
    in_fhir_path = False
    for segment in unquote(parts.path).split("/"):
        if segment in R4_RESOURCE_TYPES:
            in_fhir_path = True
        elif in_fhir_path and segment and segment[0] not in "_$":
            _words(segment, out)
    for name in ("Authorization", "Proxy-Authorization", "Cookie"):
        credential = request.headers.get(name)
        if credential:
            _words(credential, out)
    condition = request.headers.get("If-None-Exist")
    if condition:
        for _, value in parse_qsl(condition, keep_blank_values=True):
            _words(value, out)
    body = request.body
    if body and len(body) <= _MAX_BODY_SCAN:
        ctype = request.headers.get("Content-Type", "")
        if "form-urlencoded" in ctype:
            for _, value in parse_qsl(body.decode("utf-8", "replace")):
                _words(value, out)
        else:
            try:
                _body_strings(orjson.loads(body), out)
            except orjson.JSONDecodeError:
                _words(body.decode("utf-8", "replace"), out)
    return frozenset(out)


def scrub(text: str, values: Iterable[str] = (), *, limit: int = 200) -> str:
    """``text`` as one line of at most ``limit`` characters, with credentials, quoted
    text, e-mail addresses, long digit runs and every word in ``values`` (case-folded
    words, see :func:`request_values`) replaced by ``…``."""
    # Bound the work before any regex runs: a server may send megabytes of "diagnostics".
    flat = one_line(text[: limit * 8], limit * 4)
    for pattern in _CREDENTIAL_PATTERNS:
        flat = pattern.sub(SCRUBBED, flat)
    flat = _QUOTED.sub(SCRUBBED, flat)
    flat = _EMAIL.sub(SCRUBBED, flat)
    flat = _DIGITS.sub(SCRUBBED, flat)
    known = values if isinstance(values, frozenset | set) else frozenset(values)
    if known:
        flat = _CHUNK.sub(lambda m: SCRUBBED if m.group().casefold() in known else m.group(), flat)
        flat = _WORD.sub(lambda m: SCRUBBED if m.group().casefold() in known else m.group(), flat)
    flat = re.sub(r"…(?:[\s.:,;|/-]*…)+", SCRUBBED, flat)
    return one_line(flat, limit)


def scrub_issue(issue: Issue, values: Iterable[str] = ()) -> Issue:
    """``issue`` with its message and path scrubbed and its code checked."""
    code = issue.code if _CODE.fullmatch(issue.code) else "unknown"
    path = scrub(issue.path, values, limit=_MAX_PATH) if issue.path else None
    return Issue(issue.severity, code, scrub(issue.message, values), path or None, issue.source)


def scrub_issues(issues: Iterable[Issue], request: Request | None) -> list[Issue]:
    """Every issue of ``issues`` scrubbed of credentials and of the values ``request`` sent."""
    values = request_values(request)
    return [scrub_issue(issue, values) for issue in issues]
