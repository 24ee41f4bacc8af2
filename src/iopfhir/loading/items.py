"""A document that is a list, read one item at a time from a file.

A file of many episodes is a JSON or YAML array, or an object whose only key names one
(``{"episodes": [...]}``). Read whole, such a file costs many times its size (a YAML node
tree is about fifty times the text); read item by item, memory follows the largest item.
:func:`iter_json_items` and :func:`iter_yaml_items` yield ``(path, value)`` for every item
(``path`` is ``(3,)`` or ``("episodes", 3)``), under the same rule as
:func:`~iopfhir.loading.load_json` and :func:`~iopfhir.loading.load_yaml` (encoding,
duplicate keys, limits per item) and with line numbers of the whole file. A document of any
other shape is yielded whole, with the path ``()``.

Structure errors between items (a missing comma, a key beside the list) are
:class:`~iopfhir.errors.LoadError` naming the line, raised where they are met: the items
before them have been yielded, so a caller that writes must write atomically (the
commands do).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Container, Iterator
from dataclasses import replace
from typing import Any, BinaryIO, Final

import yaml
from yaml.composer import Composer

from iopfhir.errors import LoadError
from iopfhir.loading.json_values import _load
from iopfhir.loading.text import _BOM8, DEFAULT_LIMITS, Limits, _fail, _refused_encoding
from iopfhir.loading.yaml_values import (
    PARSER_ERRORS,
    _check_nodes,
    _Loader,
    _yaml_error,
    _YamlRefused,
)

__all__ = ["iter_json_items", "iter_yaml_items"]

Path = tuple[str | int, ...]

_BLOCK: Final = 1 << 20


class _Utf8Reader:
    """A binary stream checked as UTF-8 as it is read: other encodings are refused by name
    on the first bytes, a UTF-8 BOM is dropped, invalid UTF-8 is refused naming its line."""

    def __init__(self, handle: BinaryIO, origin: str) -> None:
        self._handle = handle
        self._origin = origin
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._lines = 1
        self._carry = 0  # bytes of the current line in earlier chunks
        self._started = False
        self._ended = False

    def read(self, size: int = _BLOCK) -> bytes:
        chunk = self._handle.read(max(size, 4))
        if not self._started:
            while len(chunk) < 4 and (more := self._handle.read(4 - len(chunk))):
                chunk += more
            self._started = True
            name = _refused_encoding(chunk)
            if name is not None:
                raise _fail(self._origin, f"is {name}; iopfhir reads UTF-8")
            chunk = chunk.removeprefix(_BOM8)
        if self._ended:
            return b""
        try:
            self._decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            at = max(exc.start, 0)
            line = self._lines + chunk.count(b"\n", 0, at)
            newline = chunk.rfind(b"\n", 0, at)
            column = at - newline if newline >= 0 else self._carry + at + 1
            reason = "is not valid UTF-8; iopfhir reads UTF-8"
            raise _fail(self._origin, reason, line=line, column=column) from None
        self._lines += chunk.count(b"\n")
        newline = chunk.rfind(b"\n")
        self._carry = len(chunk) - newline - 1 if newline >= 0 else self._carry + len(chunk)
        self._ended = not chunk
        return chunk


# -- JSON ------------------------------------------------------------------------------

_SPACE: Final = re.compile(rb"[ \t\r\n]*")
#: a string, a bracket, or a quote that opens a string not yet complete in the buffer
_TOKEN: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]|"', re.S)
#: a string item; any other scalar item (a number, true, false, null) runs to a separator
_STRING: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_BARE: Final = re.compile(rb"[^,\]\s]*")
_CONTAINER_KEY: Final = re.compile(rb'"([A-Za-z_]{1,40})"[ \t\r\n]*:[ \t\r\n]*\[')


class _Buffer:
    """The unread part of a stream, refilled on demand; positions are into ``data``."""

    def __init__(self, reader: _Utf8Reader, block: int) -> None:
        self.reader = reader
        self.block = block
        self.data = b""
        self.eof = False
        self.line = 1  # the line at ``mark``
        self.mark = 0

    def more(self) -> bool:
        if self.eof:
            return False
        chunk = self.reader.read(self.block)
        self.eof = not chunk
        self.data += chunk
        return bool(chunk)

    def at(self, pos: int) -> int | None:
        """The byte at ``pos`` (reading on as needed), or None at the end."""
        while pos >= len(self.data):
            if not self.more():
                return None
        return self.data[pos]

    def skip_space(self, pos: int) -> int:
        while True:
            end = _SPACE.match(self.data, pos)
            pos = end.end() if end else pos
            if pos < len(self.data) or not self.more():
                return pos

    def drop(self, pos: int) -> int:
        """Forget what lies before ``pos`` once it is worth the copy; returns where ``pos``
        is now."""
        if pos < self.block // 4:
            return pos
        self.line_of(pos)
        self.data = self.data[pos:]
        self.mark = 0
        return 0

    def line_of(self, pos: int) -> int:
        """The line of ``pos``; positions are asked in increasing order."""
        if pos > self.mark:
            self.line += self.data.count(b"\n", self.mark, pos)
            self.mark = pos
        return self.line


def _container_end(buf: _Buffer, start: int) -> int:
    """The end of the array or object that opens at ``start`` (reading on as needed)."""
    depth, pos = 0, start
    while True:
        match = _TOKEN.search(buf.data, pos)
        while match is None or (match.end() - match.start() == 1 and match.group() == b'"'):
            resume = len(buf.data) if match is None else match.start()
            if not buf.more():
                return len(buf.data)  # cut short: the parser names the error
            match = _TOKEN.search(buf.data, resume)
        pos = match.end()
        opener = buf.data[match.start()]
        if opener in b"[{":
            depth += 1
        elif opener in b"]}":
            depth -= 1
            if depth == 0:
                return pos


def _scalar_end(buf: _Buffer, start: int) -> int:
    """The end of the number, literal or string that starts at ``start``."""
    string = buf.data[start] == ord('"')
    while True:
        match = (_STRING if string else _BARE).match(buf.data, start)
        if string and match is not None:
            return match.end()
        end = len(buf.data) if match is None else match.end()
        if end < len(buf.data) or not buf.more():
            return end


def iter_json_items(
    handle: BinaryIO,
    origin: str,
    *,
    key: str = "episodes",
    limits: Limits = DEFAULT_LIMITS,
    path_keys: Container[str] = frozenset(),
    block: int = _BLOCK,
) -> Iterator[tuple[Path, Any]]:
    """Items of a JSON array (or of ``{key: [...]}``) in a seekable binary ``handle``,
    read ``block`` bytes at a time; any other document whole, with the path ``()``."""
    buf = _Buffer(_Utf8Reader(handle, origin), block)
    pos = buf.skip_space(0)
    first = buf.at(pos)
    prefix: Path = ()
    if first == ord("{"):
        inner = buf.skip_space(pos + 1)
        while len(buf.data) - inner < 64 and buf.more():
            pass
        found = _CONTAINER_KEY.match(buf.data, inner)
        if found is not None and found.group(1).decode() == key:
            prefix, pos = (key,), found.end() - 1
    if first != ord("[") and not prefix:
        handle.seek(0)
        yield (), _load(_whole(handle, origin), origin, 1, limits, path_keys)
        return
    inner_limits = replace(limits, max_depth=limits.max_depth - len(prefix) - 1)
    pos = buf.drop(pos + 1)
    index = 0
    while True:
        pos = buf.skip_space(pos)
        if buf.at(pos) == ord("]") and index == 0:
            pos += 1
            break
        opener = buf.at(pos)
        if opener is None or opener in b",]}":
            raise _fail(origin, "not valid JSON (a value is missing)", line=buf.line_of(pos))
        end = _container_end(buf, pos) if opener in b"[{" else _scalar_end(buf, pos)
        path = (*prefix, index)
        yield path, _item(buf, pos, end, origin, path, inner_limits, path_keys)
        index += 1
        pos = buf.skip_space(buf.drop(end))
        follow = buf.at(pos)
        if follow == ord(","):
            pos += 1
            continue
        if follow == ord("]"):
            pos += 1
            break
        raise _fail(origin, "not valid JSON (expected ',' or ']')", line=buf.line_of(pos))
    pos = buf.skip_space(pos)
    if prefix:
        if buf.at(pos) != ord("}"):
            at = buf.skip_space(pos + 1) if buf.at(pos) == ord(",") else pos
            raise _fail(origin, f"a key beside {key!r}", line=buf.line_of(at))
        pos = buf.skip_space(pos + 1)
    if buf.at(pos) is not None:
        raise _fail(origin, "not valid JSON (data after the document)", line=buf.line_of(pos))


def _item(
    buf: _Buffer,
    pos: int,
    end: int,
    origin: str,
    path: Path,
    limits: Limits,
    path_keys: Container[str],
) -> Any:
    """The item at ``data[pos:end]``; its errors say where in the whole file."""
    line = buf.line_of(pos)
    try:
        return _load(buf.data[pos:end], origin, line, limits, path_keys)
    except LoadError as exc:
        reason, column = exc.reason, exc.column
        if reason.startswith("nested deeper than"):  # the item's bound is the file's, less
            reason = f"nested deeper than {limits.max_depth + len(path)} levels"
        if reason.startswith("$"):  # a JSON path in the item: make it one in the file
            reason = _json_path(path) + reason[1:]
        start_column = pos - (buf.data.rfind(b"\n", 0, pos) + 1)
        if exc.line == line and column is not None:
            column += start_column  # the item's first line counts from the item's start
        raise _fail(origin, reason, line=exc.line, column=column) from None


def _json_path(path: Path) -> str:
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


def _whole(handle: BinaryIO, origin: str) -> bytes:
    reader = _Utf8Reader(handle, origin)
    parts = []
    while chunk := reader.read(_BLOCK):
        parts.append(chunk)
    return b"".join(parts)


# -- YAML ------------------------------------------------------------------------------


class _ItemLoader(_Loader, Composer):
    """The safe loader, composing one node at a time from the event stream (libyaml's
    parser, Python's composer) instead of the whole document at once."""

    def __init__(self, stream: Any, max_depth: int) -> None:
        _Loader.__init__(self, stream)  # type: ignore[call-arg]  # (libyaml: untyped)
        self.anchors: dict[str, Any] = {}
        self.depth = 0
        self.max_depth = max_depth

    def node(self) -> Any:
        return self.compose_node(None, None)

    def compose_node(self, parent: Any, index: Any) -> Any:
        # the composer recurses: bound it before Python's stack is
        self.depth += 1
        try:
            if self.depth > self.max_depth:
                raise _YamlRefused(self.peek_event(), f"nested deeper than {self.max_depth} levels")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def iter_yaml_items(
    handle: BinaryIO,
    origin: str,
    *,
    key: str = "episodes",
    limits: Limits = DEFAULT_LIMITS,
) -> Iterator[tuple[Path, Any]]:
    """Items of a YAML sequence (or of ``{key: [...]}``) in a binary ``handle``, one at a
    time; any other document whole, with the path ``()``."""
    loader = _ItemLoader(_Utf8Reader(handle, origin), limits.max_depth)
    try:
        yield from _yaml_items(loader, origin, key, limits)
    except _YamlRefused as exc:
        reason = exc.reason
        if reason.startswith("nested deeper than"):  # an item's bound is the file's, less
            reason = f"nested deeper than {limits.max_depth} levels"
        raise _fail(origin, reason, line=exc.line) from None
    except LoadError:
        raise  # already one line with its place (an encoding, a key beside the list)
    except PARSER_ERRORS as exc:
        raise _yaml_error(origin, exc, limits) from None
    finally:
        loader.dispose()


def _yaml_items(loader: _ItemLoader, origin: str, key: str, limits: Limits) -> Iterator[Any]:
    loader.get_event()  # stream start
    if loader.check_event(yaml.StreamEndEvent):
        yield (), None
        return
    loader.get_event()  # document start
    prefix: Path = ()
    if loader.check_event(yaml.MappingStartEvent):
        start = loader.get_event()
        first = loader.peek_event()
        if isinstance(first, yaml.ScalarEvent) and first.value == key and first.anchor is None:
            key_node = loader.node()
            if loader.check_event(yaml.SequenceStartEvent):
                prefix = (key,)
            else:
                yield (), _whole_mapping(loader, start, [(key_node, loader.node())], limits)
                _end_document(loader, origin)
                return
        else:
            yield (), _whole_mapping(loader, start, [], limits)
            _end_document(loader, origin)
            return
    elif not loader.check_event(yaml.SequenceStartEvent):
        root = loader.node()
        _check_nodes(root, limits)
        yield (), loader.construct_document(root)
        _end_document(loader, origin)
        return
    inner = replace(limits, max_depth=limits.max_depth - len(prefix) - 1)
    loader.get_event()  # sequence start
    index = 0
    while not loader.check_event(yaml.SequenceEndEvent):
        node = loader.node()
        _check_nodes(node, inner)
        yield (*prefix, index), loader.construct_document(node)
        index += 1
    loader.get_event()
    if prefix:
        if not loader.check_event(yaml.MappingEndEvent):
            extra = loader.peek_event()
            raise _fail(origin, f"a key beside {key!r}", line=extra.start_mark.line + 1)
        loader.get_event()
    _end_document(loader, origin)


def _whole_mapping(loader: _ItemLoader, start: Any, pairs: list[Any], limits: Limits) -> Any:
    """The root mapping whose start (and maybe first pair) was read to look at its key."""
    while not loader.check_event(yaml.MappingEndEvent):
        key_node = loader.node()
        pairs.append((key_node, loader.node()))
    end = loader.get_event()
    tag = start.tag
    if tag is None or tag == "!":
        tag = loader.resolve(yaml.MappingNode, None, start.implicit)
    node = yaml.MappingNode(
        tag,
        pairs,
        start.start_mark,
        end.end_mark,
        flow_style=start.flow_style,
    )
    _check_nodes(node, limits)
    return loader.construct_document(node)


def _end_document(loader: _ItemLoader, origin: str) -> None:
    loader.get_event()  # document end
    if not loader.check_event(yaml.StreamEndEvent):
        extra = loader.peek_event()
        raise _fail(origin, "not valid YAML (more than one document)", line=_line(extra))


def _line(event: Any) -> int | None:
    mark = getattr(event, "start_mark", None)
    return mark.line + 1 if mark is not None else None
