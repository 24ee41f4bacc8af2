"""JSON documents and NDJSON lines under :class:`~iopfhir.loading.text.Limits`.

orjson parses; its result is checked at C speed where the check can only pass when the input
is clean, and only suspicious input is read a second time by the exact, slower reader that
finds the JSON path."""

from __future__ import annotations

import json
import re
from collections.abc import Container, Iterator
from typing import Any, BinaryIO, Final

import orjson

from iopfhir.errors import LoadError
from iopfhir.loading.text import DEFAULT_LIMITS, LONG_KEYS, Limits, _as_bytes, _decode, _fail, _utf8

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
    for number, value, _raw, _at in iter_json_stream_at(
        handle, origin, limits=limits, path_keys=path_keys, block=block
    ):
        yield number, value


def iter_json_stream_raw(
    handle: BinaryIO,
    origin: str,
    *,
    limits: Limits = DEFAULT_LIMITS,
    path_keys: Container[str] = frozenset(),
    block: int = 1 << 20,
) -> Iterator[tuple[int, Any, bytes | None]]:
    """:func:`iter_json_stream` with each line's bytes: ``(line number, value, raw)``.

    ``raw`` is the line (UTF-8, checked, without its line end or a BOM) when
    :func:`loads_checked` of it gives ``value`` again, so a reader may keep the bytes and
    parse them later without repeating the checks; ``None`` when it would not (a number
    beyond 64 bits, which only the standard library keeps exact)."""
    for number, value, raw, _at in iter_json_stream_at(
        handle, origin, limits=limits, path_keys=path_keys, block=block
    ):
        yield number, value, raw


def iter_json_stream_at(
    handle: BinaryIO,
    origin: str,
    *,
    limits: Limits = DEFAULT_LIMITS,
    path_keys: Container[str] = frozenset(),
    block: int = 1 << 20,
) -> Iterator[tuple[int, Any, bytes | None, int]]:
    """:func:`iter_json_stream_raw` with where each line starts in the stream:
    ``(line number, value, raw, offset)``; ``raw`` is the ``len(raw)`` bytes at
    ``offset`` of the stream (a reader of a plain file may read them there again instead
    of keeping a copy)."""
    # the encoding is told by the first four bytes: have them before looking
    head = b""
    while len(head) < 4 and (more := handle.read(max(block, 4) - len(head))):
        head += more
    pending = b""
    number = 0
    chunk = _utf8(head, origin)
    at = len(head) - len(chunk)  # where ``pending + chunk`` starts: after a BOM
    while chunk:
        data = pending + chunk
        if b"\r" not in data:
            # lines end at \n only (as bulk exports write them): split where they end, the
            # last piece (cut short, or empty) kept for the next block; no line end to strip
            lines = data.split(b"\n")
            pending = lines.pop()
            for raw in lines:
                number += 1
                # a line is blank only if it starts blank (no copy of every line to know)
                if raw[:1] == b"{" or raw.strip():
                    value, plain = _load_plain(raw, origin, number, limits, path_keys)
                    yield number, value, raw if plain else None, at
                at += len(raw) + 1
            chunk = handle.read(block)
            continue
        lines = data.splitlines(keepends=True)
        # the last piece may be cut short; one ending in \r may be half of a \r\n
        pending = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
        for line in lines:
            number += 1
            if line.strip():
                raw = line.rstrip(b"\r\n")
                value, plain = _load_plain(raw, origin, number, limits, path_keys)
                yield number, value, raw if plain else None, at
            at += len(line)
        chunk = handle.read(block)
    if pending:
        for line in pending.splitlines(keepends=True):
            number += 1
            if line.strip():
                raw = line.rstrip(b"\r\n")
                value, plain = _load_plain(raw, origin, number, limits, path_keys)
                yield number, value, raw if plain else None, at
            at += len(line)


def loads_checked(raw: bytes) -> Any:
    """The value of JSON bytes that :func:`iter_json_stream_raw` has already checked
    (and returned as ``raw``): parsed again without the checks."""
    return orjson.loads(raw)


def _load(raw: bytes, origin: str, line: int, limits: Limits, path_keys: Container[str]) -> Any:
    return _load_plain(raw, origin, line, limits, path_keys)[0]


def _load_plain(
    raw: bytes, origin: str, line: int, limits: Limits, path_keys: Container[str]
) -> tuple[Any, bool]:
    """The checked value of ``raw``, and whether plain ``orjson.loads`` gives it."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _json_syntax_error(raw, origin, line, exc, limits) from None
    if (
        raw[:2] == b'{"'
        and limits.max_number_digits >= _DUMPED_DIGITS
        and len(raw) <= limits.max_string_chars
        and len(raw) <= limits.max_data_chars
        # every container's opening byte, wherever it is
        and _openings(raw) < limits.max_depth
    ):
        # the common case (a compact line as bulk exports write it), proved clean at once:
        # orjson writes the value back as the same bytes, so no member was dropped as a
        # duplicate, no container is too deep (fewer containers than the limit), every
        # number is one orjson writes (<= _DUMPED_DIGITS digits, and read exactly: a
        # number it cannot hold exactly is written back otherwise), and no string is
        # longer than the whole line
        try:
            if orjson.dumps(value) == raw:
                return value, True
        except orjson.JSONEncodeError:
            pass
    # digits as zeros, every other byte a space (once: both checks below look at it)
    zeros = raw.translate(_DIGITS_AS_ZERO)
    if _suspicious(raw, value, limits, zeros):
        _exact_check(raw, origin, line, limits, path_keys)
    if b"0" * _INT64_DIGITS in zeros:
        # orjson reads an integer beyond 64 bits as a float, silently changing it; the
        # standard library keeps it exact (a long digit run inside a string costs only time)
        return json.loads(raw), False
    return value, True


#: every byte but a container's opening one
_NOT_OPENING: Final = bytes(b for b in range(256) if b not in b"{[")


def _openings(raw: bytes) -> int:
    """How many ``{`` and ``[`` bytes ``raw`` holds (one pass that keeps only those: a
    third faster than two counts on a line of an export)."""
    return len(raw.translate(None, _NOT_OPENING))


#: digits of the longest 64-bit integers: a run this long may be one orjson cannot hold
_INT64_DIGITS: Final = 19
#: the most digits of a number orjson writes (a 64-bit integer: 20; a float: 17
#: significant digits and a 3-digit exponent)
_DUMPED_DIGITS: Final = 20


def _suspicious(raw: bytes, value: Any, limits: Limits, zeros: bytes | None = None) -> bool:
    """True unless cheap checks prove ``raw`` clean; they never pass bad input.

    ``zeros``: ``raw`` translated by :data:`_DIGITS_AS_ZERO`, when the caller has it."""
    if raw[:2] == b'{"' and _openings(raw) < limits.max_depth:
        # compact input (an NDJSON line as bulk exports write it) with fewer containers
        # than the depth limit: when orjson writes the value back as the same bytes, no
        # member was dropped as a duplicate, and no container is nested too deep
        try:
            same = orjson.dumps(value) == raw
        except orjson.JSONEncodeError:
            same = False
        if same:
            return _long_values(raw, value, limits, zeros)
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
    return _long_values(raw, value, limits, zeros, out)


def _long_values(
    raw: bytes, value: Any, limits: Limits, zeros: bytes | None, out: bytes | None = None
) -> bool:
    """True unless ``raw`` (whose ``value`` is ``value``) surely holds no number with too
    many digits and no string too long. ``out``: ``value`` written indented (one string
    per line), when the caller has it."""
    digits = limits.max_number_digits
    if digits < len(raw) and b"0" * (digits + 1) in (
        raw.translate(_DIGITS_AS_ZERO) if zeros is None else zeros
    ):
        return True  # a long run of digits: a number, or only inside a string
    bound = min(limits.max_string_chars, limits.max_data_chars)
    if len(raw) <= bound:
        return False  # no string is longer than the whole input
    if out is not None and (len(out) <= bound or not _has_long_line(out, bound)):
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
    """The longest string or key in ``value``, and the longest string under a key of
    :data:`~iopfhir.loading.text.LONG_KEYS`."""
    longest = data = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                longest = max(longest, len(key))
                if isinstance(child, str):
                    if key not in LONG_KEYS:
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
        bound = limits.max_data_chars if key in LONG_KEYS else limits.max_string_chars
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


def json_kind(value: Any) -> str:
    """The JSON kind of a parsed value, as messages name it (``a string``, ``an array``...),
    never the value itself."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"
