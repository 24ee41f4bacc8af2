"""A parser for the FHIRPath subset SQL-on-FHIR v2 views use, into a small syntax tree.

The subset (the specification's "FHIRPath subset" section): member navigation, indexers,
``$this``, ``%constants``, string/number/boolean/date literals, the operators ``=``,
``!=``, ``<``, ``<=``, ``>``, ``>=``, ``+``, ``-``, ``*``, ``/``, ``&``, ``|``, ``and``,
``or``, ``xor``, ``implies``, and function calls (which functions exist is the compiler's
business, :mod:`iopfhir.views.compile_path`). A syntax error is a
:class:`~iopfhir.views.errors.ViewError` naming the position, not the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from iopfhir.views.errors import ViewError

__all__ = [
    "Binary",
    "Call",
    "Const",
    "Index",
    "Literal",
    "Member",
    "Node",
    "This",
    "Unary",
    "parse",
]


@dataclass(frozen=True, slots=True)
class Literal:
    """A literal: ``kind`` is string, integer, decimal, boolean, date, datetime, time, empty."""

    value: object
    kind: str


@dataclass(frozen=True, slots=True)
class This:
    """``$this``: the current element."""


@dataclass(frozen=True, slots=True)
class Const:
    """``%name``: a view constant (or ``%rowIndex``)."""

    name: str


@dataclass(frozen=True, slots=True)
class Member:
    """``base.name`` (``base`` None: a name at the start of an expression)."""

    base: Node | None
    name: str


@dataclass(frozen=True, slots=True)
class Call:
    """``base.name(args)`` (``base`` None: a function at the start of an expression)."""

    base: Node | None
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Index:
    """``base[index]``."""

    base: Node
    index: Node


@dataclass(frozen=True, slots=True)
class Binary:
    """``left op right``."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Unary:
    """``-operand`` / ``+operand``."""

    op: str
    operand: Node


Node = Literal | This | Const | Member | Call | Index | Binary | Unary

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|//[^\n]*|/\*.*?\*/)
  | (?P<datetime>@\d{4}(-\d{2}(-\d{2})?)?(T(\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?(Z|[+-]\d{2}:\d{2})?)?)
  | (?P<time>@T\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)
  | (?P<number>\d+(\.\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*|`(?:[^`\\]|\\.)*`)
  | (?P<special>\$this|\$index|\$total)
  | (?P<const>%[A-Za-z_][A-Za-z0-9_]*|%`(?:[^`\\]|\\.)*`|%'(?:[^'\\]|\\.)*')
  | (?P<op><=|>=|!=|!~|[=<>~+\-*/&|.,()\[\]{}])
    """,
    re.VERBOSE | re.DOTALL,
)

_ESCAPES = {"'": "'", '"': '"', "`": "`", "\\": "\\", "/": "/", "f": "\f", "n": "\n"}
_ESCAPES |= {"r": "\r", "t": "\t"}

# binary operators by precedence, loosest first
_LEVELS: tuple[tuple[str, ...], ...] = (
    ("implies",),
    ("or", "xor"),
    ("and",),
    ("=", "!=", "~", "!~"),
    ("<", ">", "<=", ">="),
    ("|",),
    ("+", "-", "&"),
    ("*", "/", "div", "mod"),
)
_KEYWORD_OPS = {"implies", "or", "xor", "and", "div", "mod"}


def _unescape(body: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == "u" and i + 5 < len(body):
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ViewError(f"FHIRPath syntax error at character {pos + 1}")
        kind = m.lastgroup or ""
        if kind != "ws":
            toks.append(_Tok(kind, m.group(), pos))
        pos = m.end()
    toks.append(_Tok("end", "", len(text)))
    return toks


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokenize(text)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok.text != text:
            raise ViewError(f"FHIRPath syntax error at character {tok.pos + 1}: expected {text!r}")

    def is_op(self, ops: tuple[str, ...]) -> bool:
        tok = self.peek()
        if tok.kind == "op":
            return tok.text in ops
        return tok.kind == "ident" and tok.text in _KEYWORD_OPS and tok.text in ops

    def expression(self, level: int = 0) -> Node:
        if level == len(_LEVELS):
            return self.unary()
        left = self.expression(level + 1)
        while self.is_op(_LEVELS[level]):
            op = self.take().text
            right = self.expression(level + 1)
            left = Binary(op, left, right)
        return left

    def unary(self) -> Node:
        if self.is_op(("-", "+")):
            op = self.take().text
            return Unary(op, self.unary())
        return self.postfix(self.term())

    def term(self) -> Node:
        tok = self.take()
        if tok.kind == "number":
            if "." in tok.text:
                return Literal(float(tok.text), "decimal")
            return Literal(int(tok.text), "integer")
        if tok.kind == "string":
            return Literal(_unescape(tok.text[1:-1]), "string")
        if tok.kind == "datetime":
            body = tok.text[1:]
            return Literal(body, "datetime" if "T" in body else "date")
        if tok.kind == "time":
            return Literal(tok.text[2:], "time")
        if tok.kind == "special":
            if tok.text != "$this":
                raise ViewError(f"FHIRPath: {tok.text} is not supported (character {tok.pos + 1})")
            return This()
        if tok.kind == "const":
            name = tok.text[1:]
            if name[:1] in "`'":
                name = _unescape(name[1:-1])
            return Const(name)
        if tok.kind == "ident":
            if tok.text in ("true", "false"):
                return Literal(tok.text == "true", "boolean")
            return self.invocation(None, tok)
        if tok.text == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        if tok.text == "{":
            self.expect("}")
            return Literal(None, "empty")
        raise ViewError(f"FHIRPath syntax error at character {tok.pos + 1}")

    def invocation(self, base: Node | None, tok: _Tok) -> Node:
        name = _unescape(tok.text[1:-1]) if tok.text.startswith("`") else tok.text
        if self.peek().text == "(" and not tok.text.startswith("`"):
            self.take()
            args: list[Node] = []
            if self.peek().text != ")":
                args.append(self.expression())
                while self.peek().text == ",":
                    self.take()
                    args.append(self.expression())
            self.expect(")")
            return Call(base, name, tuple(args))
        return Member(base, name)

    def postfix(self, node: Node) -> Node:
        while True:
            tok = self.peek()
            if tok.text == ".":
                self.take()
                nxt = self.take()
                if nxt.kind != "ident":
                    raise ViewError(f"FHIRPath syntax error at character {nxt.pos + 1}")
                node = self.invocation(node, nxt)
            elif tok.text == "[":
                self.take()
                index = self.expression()
                self.expect("]")
                node = Index(node, index)
            else:
                return node


def parse(text: str) -> Node:
    """Parse one FHIRPath expression; :class:`ViewError` on a syntax error."""
    if not isinstance(text, str) or not text.strip():
        raise ViewError("FHIRPath expression must be a non-empty string")
    parser = _Parser(text)
    node = parser.expression()
    end = parser.peek()
    if end.kind != "end":
        raise ViewError(f"FHIRPath syntax error at character {end.pos + 1}")
    return node
