"""Where StructureDefinitions, value sets and code systems come from, and their compiled trees.

Lives here: :class:`Definitions` - the base R4 4.0.1 definitions shipped as package data
(``data/*.json.gz``, built by ``tools/build_validation_data.py``) plus any conformance
resources loaded at runtime (profiles, extension definitions, ValueSets, CodeSystems, from
dicts, files, folders or FHIR package tarballs). It compiles each StructureDefinition into an
:class:`~iopfhir.validation.model.ElementNode` tree once, on first use: from its snapshot, or
by applying its differential to its base definition's tree when it has no snapshot.

Imports only ``iopfhir.errors`` and sibling modules.
"""

from __future__ import annotations

import gzip
import json
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from iopfhir.errors import InputError

from .differential import apply_differential
from .model import ElementNode, ProfileError, TypeRef
from .snapshot import compile_snapshot
from .terminology import CodeSystemInfo, Expansion, TerminologyIndex

__all__ = [
    "IOP_CANONICAL",
    "IOP_PROFILES",
    "Definitions",
    "ProfileSource",
    "base_definitions",
    "core_element_names",
    "iop_package",
]

JSON = dict[str, Any]
ProfileSource = Mapping[str, Any] | str | Path

_CORE_PREFIX = "http://hl7.org/fhir/StructureDefinition/"

#: The profile source naming the project's own profiles, shipped as package data
#: (``data/iop-profiles/``, copied from ``profiles/package/`` by ``tools/build_profiles.py``).
#: A folder called ``iop`` is given as ``Path("iop")`` or ``"./iop"``.
IOP_PROFILES = "iop"
#: Canonical base of the project's conformance resources.
IOP_CANONICAL = "https://iopfhir.org/fhir/"


def _data_file(name: str) -> bytes:
    return resources.files("iopfhir.validation").joinpath("data", name).read_bytes()


@cache
def iop_package() -> tuple[Mapping[str, Any], ...]:
    """The project's StructureDefinitions, ValueSets and CodeSystems (package data)."""
    folder = resources.files("iopfhir.validation").joinpath("data", "iop-profiles")
    out: list[Mapping[str, Any]] = []
    if not folder.is_dir():
        return ()
    for f in sorted(folder.iterdir(), key=lambda t: t.name):
        if not f.name.endswith(".json") or f.name in ("package.json", ".index.json"):
            continue
        res = json.loads(f.read_bytes())
        if isinstance(res, Mapping) and "resourceType" in res:
            out.append(res)
    return tuple(out)


@cache
def _core_payload() -> tuple[
    dict[str, JSON], dict[str, str], dict[str, CodeSystemInfo], dict[str, Expansion]
]:
    sds = json.loads(gzip.decompress(_data_file("structuredefinitions.json.gz")))
    by_url = {sd["url"]: sd for sd in sds["structureDefinitions"]}
    prims = json.loads(_data_file("primitives.json"))
    term = json.loads(gzip.decompress(_data_file("terminology.json.gz")))
    cs: dict[str, CodeSystemInfo] = {}
    for url, entry in term["codeSystems"].items():
        cs[url] = CodeSystemInfo(
            url=url,
            codes=frozenset(entry["codes"]),
            children={k: tuple(v) for k, v in entry.get("children", {}).items()},
            case_sensitive=not entry.get("caseInsensitive", False),
        )
    vs = {url: Expansion.from_json(e) for url, e in term["valueSets"].items()}
    return by_url, prims, cs, vs


@cache
def core_element_names() -> frozenset[str]:
    """Every element name of the base R4 definitions, a choice element both as ``value``
    and as ``valueQuantity``...: what a FHIRPath made of element names may hold."""
    names: set[str] = set()
    for sd in _core_payload()[0].values():
        for e in (sd.get("snapshot") or {}).get("element") or ():
            name = str(e.get("path", "")).rsplit(".", 1)[-1]
            if name.endswith("[x]"):
                name = name[:-3]
                for t in e.get("type") or ():
                    code = str(t.get("code", ""))
                    names.add(name + code[:1].upper() + code[1:])
            names.add(name)
    return frozenset(names)


class Definitions:
    """Base R4 definitions plus loaded conformance resources; compiles trees on demand."""

    def __init__(self) -> None:
        core_sds, prims, core_cs, core_vs = _core_payload()
        self.primitive_regex: dict[str, str] = dict(prims)
        self._sds: dict[str, Mapping[str, Any]] = dict(core_sds)
        self._trees: dict[str, ElementNode] = {}
        self._compiling: set[str] = set()
        self.terminology = TerminologyIndex()
        for info in core_cs.values():
            self.terminology.add_code_system(info)
        for url, exp in core_vs.items():
            self.terminology.add_expansion(url, exp)
        self.resource_types = frozenset(
            sd["type"]
            for sd in core_sds.values()
            if sd.get("kind") == "resource" and sd.get("derivation") == "specialization"
        ) | {"Resource", "DomainResource"}
        self.type_names = frozenset(
            sd["type"]
            for sd in core_sds.values()
            if sd.get("kind") in ("primitive-type", "complex-type")
            and sd.get("derivation") != "constraint"
        )
        self.primitive_types = frozenset(
            sd["type"] for sd in core_sds.values() if sd.get("kind") == "primitive-type"
        )
        self.loaded_urls: list[str] = []
        #: load the IOP profiles (package data) the first time one of their urls is looked up
        self.auto_iop = True
        self._iop_loaded = False
        self._generation = 0

    # -- loading -----------------------------------------------------------------------
    def add(self, source: ProfileSource) -> list[str]:
        """Load conformance resources; returns the StructureDefinition urls that were added.

        The string ``"iop"`` (:data:`IOP_PROFILES`) loads the project's own profiles.
        """
        if isinstance(source, str) and source == IOP_PROFILES:
            return self.add_iop_profiles()
        added: list[str] = []
        for res in _read_sources(source):
            added.extend(self.add_resource(res))
        return added

    def add_iop_profiles(self) -> list[str]:
        """Load the project's profiles, extensions and terminology (once); returns the
        StructureDefinition urls."""
        pkg = iop_package()
        if not pkg:
            raise InputError(
                "the IOP profiles are not installed (iopfhir/validation/data/"
                "iop-profiles is missing: run tools/build_profiles.py)"
            )
        urls = [str(r["url"]) for r in pkg if r.get("resourceType") == "StructureDefinition"]
        if self._iop_loaded:
            return urls
        self._iop_loaded = True
        for res in pkg:
            # profiles loaded explicitly before (a newer local build) take precedence
            url = res.get("url")
            if res.get("resourceType") == "StructureDefinition" and url in self._sds:
                continue
            self.add_resource(res)
        return urls

    def _maybe_iop(self, url: str) -> None:
        if (
            self.auto_iop
            and not self._iop_loaded
            and url.startswith(IOP_CANONICAL)
            and url.split("|", 1)[0] not in self._sds
            and iop_package()
        ):
            self.add_iop_profiles()

    @property
    def generation(self) -> int:
        """Changes whenever a definition, a code system or a value set is added."""
        return self._generation + self.terminology.generation

    def add_resource(self, res: Mapping[str, Any]) -> list[str]:
        self._generation += 1
        rt = res.get("resourceType")
        if rt == "StructureDefinition":
            url = res.get("url")
            if not isinstance(url, str):
                raise InputError("StructureDefinition without a url")
            if "snapshot" not in res and "differential" not in res:
                raise InputError(f"StructureDefinition {url} has neither snapshot nor differential")
            self._sds[url] = res
            self._trees.pop(url, None)
            self.loaded_urls.append(url)
            return [url]
        if rt in ("ValueSet", "CodeSystem"):
            self.terminology.add_resource(res)
        elif rt == "Bundle":
            out: list[str] = []
            for entry in res.get("entry", ()) or ():
                inner = entry.get("resource") if isinstance(entry, Mapping) else None
                if isinstance(inner, Mapping):
                    out.extend(self.add_resource(inner))
            return out
        return []

    # -- lookups -----------------------------------------------------------------------
    def structure_definition(self, url: str) -> Mapping[str, Any] | None:
        self._maybe_iop(url)
        return self._sds.get(url.split("|", 1)[0])

    def has(self, url: str) -> bool:
        self._maybe_iop(url)
        return url.split("|", 1)[0] in self._sds

    def tree(self, url: str) -> ElementNode | None:
        """The compiled tree of a StructureDefinition (None if unknown)."""
        url = url.split("|", 1)[0]
        got = self._trees.get(url)
        if got is not None:
            return got
        self._maybe_iop(url)
        sd = self._sds.get(url)
        if sd is None:
            return None
        if url in self._compiling:
            raise InputError(f"StructureDefinition {url} derives from itself")
        self._compiling.add(url)
        try:
            tree = self._compile(url, sd)
        except ProfileError as exc:
            raise InputError(str(exc)) from exc
        finally:
            self._compiling.discard(url)
        self._trees[url] = tree
        return tree

    def _compile(self, url: str, sd: Mapping[str, Any]) -> ElementNode:
        snap = (sd.get("snapshot") or {}).get("element")
        if snap:
            tree = compile_snapshot(snap, url, self.type_names)
            if sd.get("kind") == "resource" and tree.children and "id" in tree.children:
                # R4 declares Resource.id as System.String; its content is an FHIR id
                tree.children["id"].types = (TypeRef("id"),)
            _relax_vital_signs_units(url, sd, tree)
            return tree
        base_url = sd.get("baseDefinition")
        if not isinstance(base_url, str):
            raise ProfileError(f"{url}: a differential-only profile needs a baseDefinition")
        base = self.tree(base_url)
        if base is None:
            raise ProfileError(
                f"{url}: base definition {base_url} is not loaded (load it, or give a snapshot)"
            )
        diff = (sd.get("differential") or {}).get("element") or []
        return apply_differential(base, diff, url, self.type_tree, self.type_names)

    def type_tree(self, code: str) -> ElementNode | None:
        """Tree of a data type or resource type by its code (``CodeableConcept``, ``Patient``)."""
        if code.startswith("http"):
            return self.tree(code)
        return self.tree(_CORE_PREFIX + code)

    def sd_type(self, url: str) -> str | None:
        """The ``type`` a StructureDefinition constrains (``Patient`` for a Patient profile)."""
        sd = self.structure_definition(url)
        if sd is None:
            if url.startswith(_CORE_PREFIX):
                return url[len(_CORE_PREFIX) :].split("|", 1)[0]
            return None
        t = sd.get("type")
        return str(t) if t else None

    def extension_url_of(self, profile_url: str) -> str:
        """The url an Extension profile fixes on ``Extension.url`` (normally its own url)."""
        tree = self.tree(profile_url)
        if tree is not None and tree.children is not None:
            url_node = tree.children.get("url")
            if url_node is not None and isinstance(url_node.fixed, str):
                return url_node.fixed
        return profile_url.split("|", 1)[0]


_VITALSIGNS = _CORE_PREFIX + "vitalsigns"
_UCUM_VITALS = "http://hl7.org/fhir/ValueSet/ucum-vitals-common|4.0.1"


def _relax_vital_signs_units(url: str, sd: Mapping[str, Any], tree: ElementNode) -> None:
    """The core vital-signs profiles bind ``Observation.component.value[x]`` (every type,
    a CodeableConcept or a string too) to the UCUM vital-sign units, "required": a known
    error in R4 that the HL7 Java validator corrects when it loads them (to extensible, its
    PackageHackerR5). So do we: a component of another unit is not an error."""
    if not (url.startswith(_CORE_PREFIX) and sd.get("type") == "Observation"):
        return
    if url != _VITALSIGNS and sd.get("baseDefinition") != _VITALSIGNS:
        return
    todo = [tree]
    while todo:
        node = todo.pop()
        if (
            node.path == "Observation.component.value[x]"
            and node.binding_strength == "required"
            and node.binding_vs == _UCUM_VITALS
        ):
            node.binding_strength = "extensible"
        todo.extend((node.children or {}).values())
        todo.extend(node.slices)
        todo.extend(node.type_nodes.values())


def _read_sources(source: ProfileSource) -> Iterator[Mapping[str, Any]]:
    if isinstance(source, Mapping):
        yield source
        return
    path = Path(source)
    if not path.exists():
        raise InputError(f"profile source not found: {path}")
    if path.is_dir():
        pkg = path / "package"
        folder = pkg if pkg.is_dir() else path
        for f in sorted(folder.glob("*.json")):
            if f.name in ("package.json", ".index.json"):
                continue
            res = _read_json(f)
            if isinstance(res, Mapping) and "resourceType" in res:
                yield res
        return
    if path.name.endswith((".tgz", ".tar.gz")):
        yield from _read_tarball(path)
        return
    res = _read_json(path)
    if not isinstance(res, Mapping) or "resourceType" not in res:
        raise InputError(f"{path}: not a FHIR resource")
    yield res


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read JSON ({exc.__class__.__name__})") from exc


def _read_tarball(path: Path) -> Iterable[Mapping[str, Any]]:
    with tarfile.open(path) as tar:
        for m in tar:
            if not m.isfile() or not m.name.endswith(".json"):
                continue
            base = m.name.rsplit("/", 1)[-1]
            if base in ("package.json", ".index.json"):
                continue
            f = tar.extractfile(m)
            if f is None:
                continue
            try:
                res = json.loads(f.read().decode("utf-8-sig"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(res, Mapping) and "resourceType" in res:
                yield res


@cache
def base_definitions() -> Definitions:
    """A shared Definitions with only the base R4 content (used by :func:`validate`)."""
    return Definitions()
