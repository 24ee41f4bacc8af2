"""Episode files: YAML or JSON in, JSON Schema checked, domain models out (and back).

A file holds one episode, a list of episodes, or ``{"episodes": [...]}``; a directory
holds such files. Input is checked against the published JSON Schema
(``episode.schema.json``, generated from the models) with ``jsonschema`` so every error
names its JSON path; domain rules that a schema cannot state (references between keys,
scores that must add up) are checked by the models and reported with paths too.

Messages name paths and rules, never the offending values, nor keys that the input
invented (an episode file holds patient data): a JSON path shows a key only when the
input format defines it (a property of the schema, an item of an instrument), any other
key by its position (``<key 3>``). Bytes become values only through
:mod:`iopfhir.loading` (UTF-8 with or without a BOM, no duplicate keys, bounded nesting,
numbers, strings and YAML aliases).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, get_args, get_origin

import fastjsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError
from pydantic import BaseModel, TypeAdapter
from pydantic import ValidationError as ModelError
from pydantic_core import PydanticUndefined

from iopfhir.domain.common import PartialDate, drop_none
from iopfhir.domain.episode import Episode
from iopfhir.errors import EpisodeInputError, Issue, LoadError
from iopfhir.loading import load_json, load_yaml
from iopfhir.loading.items import iter_json_items, iter_yaml_items
from iopfhir.terminology import instruments

__all__ = [
    "dump_episode",
    "dump_episodes",
    "episode_json_schema",
    "generate_json_schema",
    "load_episodes",
    "parse_episodes",
]

SCHEMA_ID = "https://iopfhir.org/schema/episode-file.schema.json"
EPISODE_SUFFIXES = (".yaml", ".yml", ".json")


def generate_json_schema() -> dict[str, Any]:
    """Build the episode-file JSON Schema from the models (what ``episode.schema.json`` holds)."""
    episode = TypeAdapter(Episode).json_schema(ref_template="#/$defs/{model}")
    defs = episode.pop("$defs", {})
    defs["Episode"] = episode
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "iopfhir episode file",
        "description": "One IOP episode, a list of episodes, or an object with 'episodes'.",
        "oneOf": [
            {"$ref": "#/$defs/Episode"},
            {"type": "array", "items": {"$ref": "#/$defs/Episode"}},
            {
                "type": "object",
                "properties": {"episodes": {"type": "array", "items": {"$ref": "#/$defs/Episode"}}},
                "required": ["episodes"],
                "additionalProperties": False,
            },
        ],
        "$defs": defs,
    }


@cache
def episode_json_schema() -> dict[str, Any]:
    """The published JSON Schema of episode files (package data)."""
    text = resources.files("iopfhir.domain").joinpath("episode.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _episode_validator() -> Draft202012Validator:
    schema = episode_json_schema()
    single = {"$ref": "#/$defs/Episode", "$defs": schema["$defs"]}
    return Draft202012Validator(single)


@cache
def _fast_check() -> Any:
    """The same schema compiled to Python (fastjsonschema): about ten times faster, used
    as the first pass; only input it rejects goes through ``jsonschema`` for the full,
    path-named list of errors."""
    schema = episode_json_schema()
    single = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$ref": "#/$defs/Episode",
        "$defs": schema["$defs"],
    }
    return fastjsonschema.compile(single)


@cache
def _path_keys() -> frozenset[str]:
    """The keys a message may name: the schema's properties and the instruments' items
    (the format's own words). Any other key came from the input."""
    names: set[str] = {"episodes"}
    stack: list[Any] = [episode_json_schema()]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            names.update(
                node.get("properties", {}) if isinstance(node.get("properties"), dict) else ()
            )
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    for inst in instruments().values():
        names.update(item.id for item in inst.all_items)
    return frozenset(names)


def _json_path(parts: Iterable[str | int], data: Any = None) -> str:
    """A JSON path; a key the format does not define is shown by its position in its
    object (found in ``data``, the value the path starts from), never by its text."""
    out = "$"
    known = _path_keys()
    node = data
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in known:
            out += f".{part}"
        else:
            keys = list(node) if isinstance(node, dict) else []
            out += f".<key {keys.index(part)}>" if part in keys else ".<key>"
        try:
            node = node[part] if node is not None else None
        except (KeyError, IndexError, TypeError):
            node = None
    return out


def _describe(error: SchemaError) -> str:
    """A message for a schema error that does not repeat the offending value."""
    kind = error.validator
    expected = error.validator_value
    if kind == "required":
        missing = [name for name in expected if name not in (error.instance or {})]
        return f"missing required field {missing[0]!r}" if missing else "missing a required field"
    if kind == "additionalProperties":
        return "unknown key"  # its name is input: say where, not what
    if kind == "type":
        return f"must be of type {expected}"
    if kind == "enum":
        return f"unknown code; expected one of {expected}"
    if kind == "const":
        return f"must be {expected!r}"
    if kind == "pattern":
        return f"does not match the pattern {expected}"
    if kind == "format":
        return f"is not a valid {expected}"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        words = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
        return f"out of range: must be {words[kind]} {expected}"
    if kind in ("minLength", "minItems"):
        return "must not be empty" if expected == 1 else f"needs at least {expected}"
    if kind in ("maxLength", "maxItems"):
        return f"is longer than {expected}"
    if kind in ("anyOf", "oneOf"):
        return "does not match any allowed shape"
    return f"breaks the schema rule {kind!r}"


def _best(errors: list[SchemaError]) -> list[SchemaError]:
    """Descend into anyOf/oneOf so the reported error is the most specific one."""
    out: list[SchemaError] = []
    for error in errors:
        if error.validator in ("anyOf", "oneOf") and error.context:
            deepest = max(error.context, key=lambda e: len(e.absolute_path))
            same = [e for e in error.context if len(e.absolute_path) == len(deepest.absolute_path)]
            non_type = [e for e in same if e.validator != "type"] or same
            out.extend(_best([non_type[0]]))
        else:
            out.append(error)
    return out


def _schema_issues(data: Any, prefix: Sequence[str | int]) -> list[Issue]:
    try:
        _fast_check()(data)
    except fastjsonschema.JsonSchemaException:
        pass  # report it in full below
    else:
        return []
    errors = sorted(_episode_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    issues = []
    for error in _best(errors):
        path = _json_path(prefix) + _json_path(error.absolute_path, data)[1:]
        code = "required" if error.validator == "required" else "value"
        if error.validator == "enum":
            code = "code-invalid"
        issues.append(Issue("error", code, _describe(error), path))
    return issues


def _model_issues(error: ModelError, prefix: Sequence[str | int], data: Any) -> list[Issue]:
    issues = []
    for item in error.errors(include_url=False, include_input=False):
        loc = [
            part
            for part in item["loc"]
            if not (
                isinstance(part, str)
                and part
                in (
                    "TreatmentPlan",
                    "RelapsePreventionPlan",
                    "AftercarePlan",
                    "treatment",
                    "other",
                    "relapse-prevention",
                    "aftercare",
                )
            )
        ]
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":  # the key's name is input
            loc, message = loc[:-1], "unknown key"
        path = _json_path(prefix) + _json_path(loc, data)[1:]
        if message.startswith("$"):  # an episode-level rule that names its own path
            inner, _, message = message.partition(": ")
            path = _json_path(prefix) + inner[1:]
        elif message.startswith("@"):  # a model rule that names the field it is about
            field, _, message = message.partition(": ")
            path = f"{path}.{field[1:]}"
        issues.append(Issue("error", "invariant", message, path))
    return issues


def _episodes_in(data: Any) -> list[tuple[Any, list[str | int]]]:
    if isinstance(data, list):
        return [(item, [i]) for i, item in enumerate(data)]
    if isinstance(data, dict) and "episodes" in data and "patient" not in data:
        episodes = data["episodes"]
        if not isinstance(episodes, list):
            raise EpisodeInputError("must be a list of episodes", path="$.episodes")
        return [(item, ["episodes", i]) for i, item in enumerate(episodes)]
    return [(data, [])]


def parse_episodes(
    data: Any, *, source: str | None = None, schema_check: bool = True
) -> list[Episode]:
    """Turn parsed JSON/YAML (one episode, a list, or ``{"episodes": [...]}``) into episodes.

    Raises :class:`EpisodeInputError` naming ``source`` and the JSON path of each problem.
    ``schema_check=False`` skips the JSON Schema pass for input that is known to be
    well-formed (the models still check every rule).
    """
    return list(_parsed(_episodes_in(data), source, schema_check))


def _parsed(
    items: Iterable[tuple[Any, Sequence[str | int]]], source: str | None, schema_check: bool
) -> Iterator[Episode]:
    """Episodes of ``(data, JSON path)`` items, as each is read; the problems of every item
    are raised together at the end (an error names the first and counts the others)."""
    issues: list[Issue] = []
    for item, prefix in items:
        if schema_check:
            found = _schema_issues(item, prefix)
            if found:
                issues.extend(found)
                continue
        try:
            episode = Episode.model_validate(item)
        except ModelError as exc:
            issues.extend(_model_issues(exc, prefix, item))
            continue
        if not issues:
            yield episode
    if issues:
        first = issues[0]
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        raise EpisodeInputError(
            f"{first.message}{more}", path=first.path, file=source, issues=issues
        )


def read_structured(path: Path) -> Any:
    """Read a JSON (``.json``) or YAML file (dates stay strings) through
    :mod:`iopfhir.loading`. Raises :class:`EpisodeInputError` naming the file and the line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EpisodeInputError(f"cannot read file ({exc.strerror})", file=str(path)) from None
    try:
        if path.suffix.lower() == ".json":
            return load_json(data, str(path), path_keys=_path_keys())
        return load_yaml(data, str(path))
    except LoadError as exc:
        raise EpisodeInputError(exc.detail, file=str(path)) from None


def episode_files(path: Path) -> list[Path]:
    """The episode files at ``path``: the file itself, or a directory's files in name order."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in EPISODE_SUFFIXES and p.is_file())
    if not path.exists():
        raise EpisodeInputError("no such file or directory", file=str(path))
    return [path]


def iter_episodes(path: Path | str, *, schema_check: bool = True) -> Iterator[Episode]:
    """Episodes from a file or a directory, one at a time: a file of many episodes is read
    item by item (:mod:`iopfhir.loading.items`), so memory follows the largest episode,
    not the file."""
    for file in episode_files(Path(path)):
        yield from _parsed(_file_items(file), str(file), schema_check)


def _file_items(file: Path) -> Iterator[tuple[Any, Sequence[str | int]]]:
    try:
        with file.open("rb") as handle:
            if file.suffix.lower() == ".json":
                items = iter_json_items(handle, str(file), path_keys=_path_keys())
            else:
                items = iter_yaml_items(handle, str(file))
            for path, value in items:
                if path:
                    yield value, list(path)
                else:  # not a list: one episode, or a shape the checks will name
                    yield from _episodes_in(value)
    except OSError as exc:
        raise EpisodeInputError(f"cannot read file ({exc.strerror})", file=str(file)) from None
    except LoadError as exc:
        raise EpisodeInputError(exc.detail, file=str(file)) from None


def load_episodes(path: Path | str, *, schema_check: bool = True) -> list[Episode]:
    """Every episode in a file or directory."""
    return list(iter_episodes(path, schema_check=schema_check))


def _compact(value: Any) -> Any:
    if isinstance(value, dict):
        return drop_none({k: _compact(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


def dump_episode(episode: Episode) -> dict[str, Any]:
    """An episode as JSON-ready data in the input format (what :func:`parse_episodes` reads).

    Empty values are left out, except a ``None`` whose field defaults to something else
    (a diagnosis without a clinical status): that one is written as ``null``, else reading
    the file back would give the default."""
    raw = episode.model_dump(mode="json", by_alias=True)
    _write_partial_dates(episode, raw)
    data: dict[str, Any] = _compact(raw)
    for name, fields in _null_fields().items():
        for i, item in enumerate(raw.get(name) or ()):
            nulls = {f for f in fields if item.get(f) is None}
            if nulls:
                kept = data[name][i]
                data[name][i] = {k: kept.get(k) for k in item if k in kept or k in nulls}
    return data


def _write_partial_dates(model: BaseModel, raw: dict[str, Any]) -> None:
    """Each :class:`PartialDate` of ``model`` in ``raw`` (its JSON dump, where pydantic
    wrote the first day) as R4 writes it: ``1957``, ``2015-03``. Only the fields that can
    hold one are visited (:func:`_date_fields`): a session holds none."""
    for name, key in _date_fields(type(model)):
        value = getattr(model, name)
        if type(value) is PartialDate:
            raw[key] = value.text()
        elif isinstance(value, BaseModel):
            _write_partial_dates(value, raw[key])
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if type(item) is PartialDate:
                    raw[key][i] = item.text()
                elif isinstance(item, BaseModel):
                    _write_partial_dates(item, raw[key][i])


@cache
def _date_fields(cls: type[BaseModel]) -> tuple[tuple[str, str], ...]:
    """(field name, JSON key) of the fields of ``cls`` that may hold a date, or a model or
    a list holding one (a ``datetime`` field holds none)."""
    return tuple(
        (name, field.alias or name)
        for name, field in cls.model_fields.items()
        if _may_hold_date(field.annotation, set())
    )


def _may_hold_date(annotation: Any, seen: set[type]) -> bool:
    if annotation is date:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return False
        seen.add(annotation)
        return any(_may_hold_date(f.annotation, seen) for f in annotation.model_fields.values())
    return any(_may_hold_date(arg, seen) for arg in get_args(annotation))


@cache
def _null_fields() -> dict[str, tuple[str, ...]]:
    """Episode list → the fields of its items that may be ``None`` but default otherwise."""
    out: dict[str, tuple[str, ...]] = {}
    for name, field in Episode.model_fields.items():
        args = get_args(field.annotation)
        item = args[0] if get_origin(field.annotation) is list and args else None
        if isinstance(item, type) and issubclass(item, BaseModel):
            keep = tuple(
                f.alias or n
                for n, f in item.model_fields.items()
                if f.default is not None
                and f.default is not PydanticUndefined
                and type(None) in get_args(f.annotation)
            )
            if keep:
                out[field.alias or name] = keep
    return out


def dump_episodes(episodes: Sequence[Episode]) -> dict[str, Any] | list[dict[str, Any]]:
    """One episode as an object, several as ``{"episodes": [...]}``."""
    if len(episodes) == 1:
        return dump_episode(episodes[0])
    return {"episodes": [dump_episode(e) for e in episodes]}
