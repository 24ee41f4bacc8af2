"""YAML documents: the safe subset of YAML 1.1 with JSON's types only, under
:class:`~iopfhir.loading.text.Limits` (nesting, alias expansion, numbers, strings)."""

from __future__ import annotations

import re
from typing import Any, Final

import yaml

from iopfhir.errors import LoadError
from iopfhir.loading.json_values import _SAFE_REASON
from iopfhir.loading.text import DEFAULT_LIMITS, LONG_KEYS, Limits, _as_bytes, _decode, _fail, _utf8

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
    except PARSER_ERRORS as exc:
        raise _yaml_error(origin, exc, limits) from None
    finally:
        loader.dispose()


#: what the YAML parser, composer and constructor raise on bad input
PARSER_ERRORS: Final = (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError)


def _yaml_error(origin: str, exc: BaseException, limits: Limits) -> LoadError:
    """One line for a parser error: its reason when it is one of the parser's own short
    phrases (never a quoted piece of the input), and its line and column."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return _fail(origin, "not valid YAML")
    mark = exc.problem_mark or exc.context_mark
    problem = (exc.problem or "").strip()
    reason = f"not valid YAML ({problem})" if _SAFE_REASON.fullmatch(problem) else "not valid YAML"
    if "nesting depth" in problem:
        reason = f"nested deeper than {limits.max_depth} levels"
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    return _fail(origin, reason, line=line, column=column)


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
    bound = limits.max_data_chars if key in LONG_KEYS else limits.max_string_chars
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
