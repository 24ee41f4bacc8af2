"""The one place where untrusted bytes become JSON or YAML values, under limits.

Every reader of the package (episode files, FHIR JSON and NDJSON, configuration files,
Bundles read for push) goes through :func:`decode`, :func:`load_json` or
:func:`load_yaml`, so every input follows one rule:

- **Encoding**: UTF-8, with or without a byte-order mark. UTF-16 and UTF-32 (found by
  their BOM or by the NUL bytes of their first characters) and a few other encodings
  with a BOM are refused by name; invalid UTF-8 is refused naming the line and byte.
- **JSON**: RFC 8259 and no more: no duplicate object keys (FHIR JSON forbids them), no
  ``NaN``/``Infinity``, no lone surrogates, nesting, number and string sizes bounded by
  :class:`Limits`.
- **YAML**: the safe subset of YAML 1.1, with dates and times kept as strings (as JSON
  would give them), only JSON's types, no duplicate keys, nesting and alias expansion
  ("billion laughs") bounded, the same number and string limits.

Every failure is an :class:`~iopfhir.errors.LoadError` (an ``InputError``, so the command
line exits with 2): one line naming the origin and the line, column or JSON path, never
the content (keys and values may be patient data or secrets).

Speed: JSON goes through orjson. Its result is checked at C speed where the check can
only pass when the input is clean (duplicate keys: structural colons of the input against
those of the re-serialised value; depth: the indentation of the value re-serialised with
indents), and only suspicious input is read a second time by the exact, slower reader that
finds the JSON path. Imports: :mod:`iopfhir.errors` only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Container, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Final

import orjson
import yaml

from iopfhir.errors import LoadError

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "decode",
    "iter_json_lines",
    "iter_json_stream",
    "load_json",
    "load_yaml",
]


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
    #: characters of a string under the key ``data``: R4 ``Attachment.data`` and
    #: ``Binary.data`` are base64 with no bound in the specification; 64 MiB of base64
    #: is 48 MiB of content, more than any document an IOP record attaches inline
    max_data_chars: int = 64 << 20
    #: digits of one number (FHIR ``integer`` has 10, ``decimal`` rarely 20)
    max_number_digits: int = 100
    #: YAML nodes that aliases may add by repeating anchored nodes: this many, or
    #: ``max_alias_ratio`` times the document's own nodes when that is more (memory and
    #: time stay linear in the input; "billion laughs" is refused)
    max_alias_nodes: int = 100_000
    max_alias_ratio: int = 10


DEFAULT_LIMITS: Final = Limits()

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


# -- JSON ------------------------------------------------------------------------------

_SAFE_REASON: Final = re.compile(r"[a-z][a-z ,()-]{0,79}")


def load_json(
    data: bytes | bytearray | str,
    origin: str,
    *,
    limits: Limits = DEFAULT_LIMITS,
    line: int = 1,
    path_keys: Container[str] = frozenset(),
) -> Any:
    """Parse one JSON document under :class:`Limits`.

    ``origin`` names the input in messages (a file name, ``<bytes>``...); ``line`` is the
    line ``data`` starts on (NDJSON passes each line's number). JSON paths in messages
    show a key only when it is in ``path_keys`` (the reader's own vocabulary); any other
    key is shown by its position, ``<key 3>``, because keys are input too.

    Raises :class:`~iopfhir.errors.LoadError`.
    """
    raw = _utf8(_as_bytes(data, origin, line), origin)
    return _load(raw, origin, line, limits, path_keys)


def iter_json_lines(
    data: bytes | bytearray | str,
    origin: str,
    *,
    limits: Limits = DEFAULT_LIMITS,
    path_keys: Container[str] = frozenset(),
) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` for every non-blank line of NDJSON ``data``, lazily.

    The same rule as :func:`load_json` for the whole input (UTF-8, a BOM allowed at the
    start) and for each line. Lines end at ``\\n``, ``\\r\\n`` or ``\\r`` (bytes, whatever
    the type of ``data``: U+2028 inside a string is text, not a line end); numbers count
    every line from 1, blank ones too. Raises :class:`~iopfhir.errors.LoadError` naming the
    line.
    """
    raw = _utf8(_as_bytes(data, origin, 1), origin)
    for number, line in enumerate(raw.splitlines(), start=1):
        if line.strip():
            yield number, _load(line, origin, number, limits, path_keys)


def iter_json_stream(
    handle: BinaryIO,
    origin: str,
    *,
    limits: Limits = DEFAULT_LIMITS,
    path_keys: Container[str] = frozenset(),
    block: int = 1 << 20,
) -> Iterator[tuple[int, Any]]:
    """:func:`iter_json_lines` over a binary stream, read ``block`` bytes at a time, so
    memory follows the longest line rather than the whole input (the same rule, the same
    line numbers, the same errors)."""
    # the encoding is told by the first four bytes: have them before looking
    head = b""
    while len(head) < 4 and (more := handle.read(max(block, 4) - len(head))):
        head += more
    pending = b""
    number = 0
    chunk = _utf8(head, origin)
    while chunk:
        lines = (pending + chunk).splitlines(keepends=True)
        # the last piece may be cut short; one ending in \r may be half of a \r\n
        pending = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
        for line in lines:
            number += 1
            if line.strip():
                yield number, _load(line.rstrip(b"\r\n"), origin, number, limits, path_keys)
        chunk = handle.read(block)
    if pending:
        for line in pending.splitlines():
            number += 1
            if line.strip():
                yield number, _load(line, origin, number, limits, path_keys)


def _as_bytes(data: bytes | bytearray | str, origin: str, line: int) -> bytes:
    if not isinstance(data, str):
        return bytes(data)
    try:
        return data.encode("utf-8")
    except UnicodeEncodeError as exc:
        at = data.count("\n", 0, exc.start) + line
        raise _fail(origin, "holds a lone surrogate", line=at) from None


def _load(raw: bytes, origin: str, line: int, limits: Limits, path_keys: Container[str]) -> Any:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _json_syntax_error(raw, origin, line, exc, limits) from None
    if _suspicious(raw, value, limits):
        _exact_check(raw, origin, line, limits, path_keys)
    if len(raw) >= _INT64_DIGITS and b"0" * _INT64_DIGITS in raw.translate(_DIGITS_AS_ZERO):
        # orjson reads an integer beyond 64 bits as a float, silently changing it; the
        # standard library keeps it exact (a long digit run inside a string costs only time)
        value = json.loads(raw)
    return value


#: digits of the longest 64-bit integers: a run this long may be one orjson cannot hold
_INT64_DIGITS: Final = 19


def _suspicious(raw: bytes, value: Any, limits: Limits) -> bool:
    """True unless cheap checks prove ``raw`` clean; they never pass bad input."""
    try:
        out = orjson.dumps(value, option=orjson.OPT_INDENT_2)
    except orjson.JSONEncodeError:  # nested beyond orjson's writer (255 levels)
        return True
    # Each object member has one structural colon. The input's colons are those plus the
    # literal colons in its strings; the output's, the members kept plus every colon in
    # the strings kept (escaped ones written literally). A member dropped as a duplicate
    # makes the output's count smaller, so equal counts prove there was none.
    colons = raw.count(b":")
    if b"\\u003" in raw:
        colons += raw.count(b"\\u003a") + raw.count(b"\\u003A")
    if colons != out.count(b":"):
        return True
    # Indented output puts every element inside k containers on its own line after 2k
    # spaces (a string holds no raw line break): a container nested deeper than the
    # limit is such an element for k = the limit.
    if b"\n" + b"  " * limits.max_depth in out:
        return True
    digits = limits.max_number_digits
    if digits < len(raw) and b"0" * (digits + 1) in raw.translate(_DIGITS_AS_ZERO):
        return True  # a long run of digits: a number, or only inside a string
    if not _has_long_line(out, min(limits.max_string_chars, limits.max_data_chars)):
        return False  # a string is on one line of the indented output, and no line is long
    plain, data = _longest_strings(value)
    return plain > limits.max_string_chars or data > limits.max_data_chars


def _has_long_line(out: bytes, bound: int) -> bool:
    """Whether a line of ``out`` may be longer than ``bound``: a line of ``2 * step`` bytes
    or more covers a whole aligned window of ``step`` bytes, so a window without a line
    break is the only sign to look for (a few hundred searches for a 100 MB document)."""
    step = max(bound // 2, 1)
    return any(
        out.find(b"\n", start, start + step) == -1 for start in range(0, len(out) - step + 1, step)
    )


#: digits become ``0``, every other byte a space: a run of digits is a run of zeros
_DIGITS_AS_ZERO: Final = bytes.maketrans(
    bytes(range(256)), bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
)


def _longest_strings(value: Any) -> tuple[int, int]:
    """The longest string or key in ``value``, and the longest string under ``data``."""
    longest = data = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                longest = max(longest, len(key))
                if isinstance(child, str):
                    if key != "data":
                        longest = max(longest, len(child))
                    else:
                        data = max(data, len(child))
                elif isinstance(child, dict | list):
                    stack.append(child)
        elif isinstance(item, list):
            for child in item:
                if isinstance(child, str):
                    longest = max(longest, len(child))
                elif isinstance(child, dict | list):
                    stack.append(child)
    return longest, data


def _json_syntax_error(
    raw: bytes, origin: str, first_line: int, exc: orjson.JSONDecodeError, limits: Limits
) -> LoadError:
    _decode(raw, origin, first_line)  # an encoding error is the better message
    line = exc.lineno + first_line - 1
    # orjson's position counts characters: recount the column in bytes of this line
    text = raw.decode("utf-8")
    start = text.rfind("\n", 0, exc.pos) + 1
    column = len(text[start : exc.pos].encode("utf-8")) + 1
    token = text[exc.pos : exc.pos + 9]
    if token.startswith(("NaN", "Infinity", "-Infinity")):
        reason = "NaN and Infinity are not JSON"
    elif "depth" in exc.msg or "recursion" in exc.msg:
        reason = f"nested deeper than {limits.max_depth} levels"
    elif "infinity" in exc.msg:
        reason = "a number too large for a double"
    else:
        msg = exc.msg.split(":", 1)[0]
        reason = f"not valid JSON ({msg})" if _SAFE_REASON.fullmatch(msg) else "not valid JSON"
    return _fail(origin, reason, line=line, column=column)


class _Duplicated(dict[str, Any]):
    """An object whose keys repeat (only the exact reader makes these)."""


def _exact_check(
    raw: bytes, origin: str, first_line: int, limits: Limits, path_keys: Container[str]
) -> None:
    """Read ``raw`` again with the standard library, hooked so that every limit is
    exact, and raise the error that the fast checks suspected (with its JSON path)."""
    text = _decode(raw, origin, first_line)
    at = first_line if b"\n" not in raw else None  # one line (NDJSON): name it

    def number(token: str) -> float:
        digits = sum(ch.isdigit() for ch in token)
        if digits > limits.max_number_digits:
            raise _TooLong(f"a number has more than {limits.max_number_digits} digits")
        return 0.0

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(items)
        return _Duplicated(out) if len(out) < len(items) else out

    try:
        value = json.loads(text, object_pairs_hook=pairs, parse_int=number, parse_float=number)
    except _TooLong as exc:
        raise _fail(origin, str(exc), line=at) from None
    except RecursionError:
        raise _fail(origin, f"nested deeper than {limits.max_depth} levels", line=at) from None
    except ValueError:  # orjson read it; the standard library should too
        raise _fail(origin, "not valid JSON", line=at) from None
    for path, depth, item, key in _walk(value, path_keys):
        if isinstance(item, dict | list) and depth + 1 > limits.max_depth:
            raise _fail(origin, f"nested deeper than {limits.max_depth} levels", line=at)
        if isinstance(item, _Duplicated):
            raise _fail(origin, f"{path}: an object repeats a key", line=at)
        bound = limits.max_data_chars if key == "data" else limits.max_string_chars
        if isinstance(item, str) and len(item) > bound:
            raise _fail(origin, f"{path}: a string longer than {bound} characters", line=at)
        if isinstance(item, dict) and any(len(k) > limits.max_string_chars for k in item):
            raise _fail(
                origin, f"{path}: a key longer than {limits.max_string_chars} characters", line=at
            )


class _TooLong(ValueError):
    pass


def _walk(value: Any, path_keys: Container[str]) -> Iterator[tuple[str, int, Any, Any]]:
    """``(JSON path, depth, value, key)`` of every value, in document order."""
    stack: list[tuple[str, int, Any, Any]] = [("$", 0, value, None)]
    while stack:
        path, depth, item, key = stack.pop()
        yield path, depth, item, key
        if isinstance(item, dict):
            children = [
                (f"{path}.{k}" if k in path_keys else f"{path}.<key {i}>", depth + 1, v, k)
                for i, (k, v) in enumerate(item.items())
            ]
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(
                reversed([(f"{path}[{i}]", depth + 1, v, None) for i, v in enumerate(item)])
            )


# -- YAML ------------------------------------------------------------------------------

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YAML_TAG: Final = "tag:yaml.org,2002:"
#: the YAML types that JSON can hold too (``merge`` is ``<<``, resolved away on reading)
_JSON_TAGS: Final = frozenset(
    _YAML_TAG + name for name in ("null", "bool", "int", "float", "str", "seq", "map", "merge")
)
_NOT_FINITE: Final = re.compile(r"[-+]?\.(inf|Inf|INF|nan|NaN|NAN)")


class _Loader(_Base):  # type: ignore[misc]
    """libyaml's safe loader (the pure-Python one where libyaml is missing): dates and
    times stay strings, and a mapping's keys must differ."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != _YAML_TAG + "timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _value in node.value:
                if key_node.tag == _YAML_TAG + "merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, list | dict):
                    raise _YamlRefused(key_node, "a key is not a scalar")
                if key in seen:
                    raise _YamlRefused(key_node, "a mapping repeats a key")
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _YamlRefused(Exception):
    def __init__(self, node: Any, reason: str) -> None:
        super().__init__(reason)
        self.line: int | None = node.start_mark.line + 1 if node is not None else None
        self.reason = reason


def load_yaml(
    data: bytes | bytearray | str, origin: str, *, limits: Limits = DEFAULT_LIMITS
) -> Any:
    """Parse one YAML document (the safe subset of YAML 1.1, JSON's types only) under
    :class:`Limits`. Dates and times stay strings. Raises :class:`~iopfhir.errors.LoadError`
    naming ``origin`` and the line."""
    raw = _utf8(_as_bytes(data, origin, 1), origin)
    _decode(raw, origin)
    loader = _Loader(raw)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node, limits)
        return loader.construct_document(node)
    except _YamlRefused as exc:
        raise _fail(origin, exc.reason, line=exc.line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = (exc.problem or "").strip()
        reason = (
            f"not valid YAML ({problem})" if _SAFE_REASON.fullmatch(problem) else "not valid YAML"
        )
        if "nesting depth" in problem:
            reason = f"nested deeper than {limits.max_depth} levels"
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        raise _fail(origin, reason, line=line, column=column) from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError):
        raise _fail(origin, "not valid YAML") from None
    finally:
        loader.dispose()


def _check_nodes(root: Any, limits: Limits) -> None:
    """Limits on the node graph, before any value is built: depth, alias expansion (an
    alias repeats a node: the graph is small, the value it stands for need not be),
    recursive aliases, tags, numbers and strings. Iterative: the graph may be deep."""
    size: dict[int, int] = {}  # node id -> nodes it expands to, once done
    depth_of: dict[int, int] = {}
    open_ids: set[int] = set()
    stack: list[tuple[Any, bool, Any]] = [(root, False, None)]
    while stack:
        node, done, key = stack.pop()
        nid = id(node)
        if done:
            open_ids.discard(nid)
            children = _children(node)
            size[nid] = 1 + sum(size[id(c)] for c, _k in children)
            depth_of[nid] = 1 + max((depth_of[id(c)] for c, _k in children), default=0)
            if depth_of[nid] > limits.max_depth:
                raise _YamlRefused(node, f"nested deeper than {limits.max_depth} levels")
            continue
        if nid in size:
            continue
        if nid in open_ids:
            raise _YamlRefused(node, "an alias refers to a node that contains it")
        if node.tag not in _JSON_TAGS:
            raise _YamlRefused(node, "a YAML type that JSON cannot hold")
        if isinstance(node, yaml.ScalarNode):
            _check_scalar(node, key, limits)
            size[nid] = 1
            depth_of[nid] = 0
            continue
        if len(open_ids) > limits.max_depth:
            raise _YamlRefused(node, f"nested deeper than {limits.max_depth} levels")
        open_ids.add(nid)
        stack.append((node, True, key))
        stack.extend((child, False, k) for child, k in _children(node))
    extra = size[id(root)] - len(size)
    allowed = max(limits.max_alias_nodes, limits.max_alias_ratio * len(size))
    if extra > allowed:
        raise _YamlRefused(None, f"aliases expand to more than {allowed} nodes")


def _children(node: Any) -> list[tuple[Any, Any]]:
    if isinstance(node, yaml.MappingNode):
        out: list[tuple[Any, Any]] = []
        for k, v in node.value:
            out.append((k, None))
            out.append((v, k.value if isinstance(k, yaml.ScalarNode) else None))
        return out
    if isinstance(node, yaml.SequenceNode):
        return [(child, None) for child in node.value]
    return []


def _check_scalar(node: Any, key: Any, limits: Limits) -> None:
    value: str = node.value
    bound = limits.max_data_chars if key == "data" else limits.max_string_chars
    if len(value) > bound:
        raise _YamlRefused(node, f"a string longer than {bound} characters")
    if node.tag == _YAML_TAG + "int" and len(value) > limits.max_number_digits:
        raise _YamlRefused(node, f"a number has more than {limits.max_number_digits} digits")
    if node.tag == _YAML_TAG + "float":
        try:
            number = float(value.replace("_", ""))
        except ValueError:  # sexagesimal (1:30.5): finite
            number = 0.0
        if _NOT_FINITE.fullmatch(value) or number in (float("inf"), float("-inf")):
            raise _YamlRefused(node, "NaN and infinity are not JSON values")
        if sum(ch.isdigit() for ch in value) > limits.max_number_digits:
            raise _YamlRefused(node, f"a number has more than {limits.max_number_digits} digits")
