"""Bytes to text: the one encoding rule (UTF-8 with or without a BOM), and the limits
every document is read under. Imports: :mod:`iopfhir.errors` only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from iopfhir.errors import LoadError


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one JSON or YAML document may hold.

    The defaults are far above what FHIR and episode files need (the deepest resource in
    the HL7, US Core, PACIO and Synthea corpus nests 21 levels) and far below what would
    exhaust the stack or the memory of the readers behind.
    """

    #: containers (objects, arrays, mappings, sequences) nested inside each other
    max_depth: int = 100
    #: characters of one string or key
    max_string_chars: int = 1 << 20
    #: characters of a string under a key of :data:`LONG_KEYS`: R4 bounds ``string`` at
    #: 1 MB but not ``base64Binary`` (``Attachment.data``, ``Binary.data``) nor ``xhtml``
    #: (``Narrative.div``: the official examples hold a narrative of 1.1 MB); 64 MiB of
    #: base64 is 48 MiB of content, more than any document an IOP record attaches inline
    max_data_chars: int = 64 << 20
    #: digits of one number (FHIR ``integer`` has 10, ``decimal`` rarely 20)
    max_number_digits: int = 100
    #: YAML nodes that aliases may add by repeating anchored nodes: this many, or
    #: ``max_alias_ratio`` times the document's own nodes when that is more (memory and
    #: time stay linear in the input; "billion laughs" is refused)
    max_alias_nodes: int = 100_000
    max_alias_ratio: int = 10


DEFAULT_LIMITS: Final = Limits()

#: keys whose string values are bounded by ``Limits.max_data_chars``, not
#: ``max_string_chars``: base64 data and narrative XHTML
LONG_KEYS: Final = frozenset({"data", "div"})

_BOM8: Final = b"\xef\xbb\xbf"
#: byte-order marks of encodings refused by name (longest first: UTF-32 LE starts as UTF-16 LE)
_BOMS: Final = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
    (b"\x2b\x2f\x76", "UTF-7"),
    (b"\x84\x31\x95\x33", "GB 18030"),
    (b"\xdd\x73\x66\x73", "UTF-EBCDIC"),
)


def _fail(
    origin: str, detail: str, *, line: int | None = None, column: int | None = None
) -> LoadError:
    return LoadError(detail, origin=origin, line=line, column=column)


def _refused_encoding(data: bytes) -> str | None:
    """The name of a non-UTF-8 encoding that ``data`` evidently uses, or None."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    head = data[:4]
    # Text starts with an ASCII character; in UTF-16/32 its other bytes are NUL (RFC 4627 §3)
    if len(head) == 4 and head[:3] == b"\0\0\0" and head[3]:
        return "UTF-32"
    if len(head) == 4 and head[0] and head[1:] == b"\0\0\0":
        return "UTF-32"
    if len(head) >= 2 and (head[0] == 0) != (head[1] == 0):
        return "UTF-16"
    return None


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and byte column of ``offset`` in ``data``."""
    line = data.count(b"\n", 0, offset) + 1
    return line, offset - (data.rfind(b"\n", 0, offset) + 1) + 1


def _utf8(data: bytes, origin: str) -> bytes:
    """``data`` without its UTF-8 BOM, after refusing other encodings by name (the rest
    of the UTF-8 check is left to the parser, and redone only to name where it broke)."""
    name = _refused_encoding(data)
    if name is not None:
        raise _fail(origin, f"is {name}; iopfhir reads UTF-8")
    return data[3:] if data.startswith(_BOM8) else data


def decode(data: bytes, origin: str) -> str:
    """``data`` as text: UTF-8 with or without a BOM; anything else raises
    :class:`~iopfhir.errors.LoadError` naming the encoding, or the line and byte where
    the UTF-8 breaks (never the bytes themselves)."""
    return _decode(_utf8(data, origin), origin)


def _decode(data: bytes, origin: str, first_line: int = 1) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _position(data, exc.start)
        raise _fail(
            origin,
            "is not valid UTF-8; iopfhir reads UTF-8",
            line=line + first_line - 1,
            column=column,
        ) from None


def _as_bytes(data: bytes | bytearray | str, origin: str, line: int) -> bytes:
    if not isinstance(data, str):
        return bytes(data)
    try:
        return data.encode("utf-8")
    except UnicodeEncodeError as exc:
        at = data.count("\n", 0, exc.start) + line
        raise _fail(origin, "holds a lone surrogate", line=at) from None
