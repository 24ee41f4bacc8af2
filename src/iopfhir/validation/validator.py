"""The validator: walks a resource along compiled StructureDefinition trees.

Lives here: :class:`Validator` (load profiles once, validate many resources) and the walk
itself - cardinality, JSON shape, primitive formats, choice types, fixed/pattern values,
slicing, required bindings, extensions against their definitions, invariants, contained
resources, Bundle entries and references inside Bundles.

Reports are lists of :class:`iopfhir.errors.Issue` with FHIRPath locations in the style of the
HL7 Java validator (``CarePlan.activity[0].detail.status``, ``Observation.value.ofType(Quantity)``).
Messages name elements, codes, value sets and profiles - never the data values of a resource
other than codes and urls.

Imports only ``iopfhir.errors`` and sibling modules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from iopfhir.errors import InputError, Issue, Severity

from .definitions import IOP_PROFILES, Definitions, ProfileSource
from .invariants import InvariantEngine
from .model import ElementNode, TypeRef
from .report import ValidationReport

__all__ = ["Validator"]

JSON = dict[str, Any]

_INT32 = (-(2**31), 2**31 - 1)
_REF_RX = re.compile(
    r"(?:(?P<base>.*)/)?(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-\.]{1,64})"
    r"(?:/_history/[A-Za-z0-9\-\.]{1,64})?"
)
_ID_RX = re.compile(r"[A-Za-z0-9\-\.]{1,64}")
_ENTITY_RX = re.compile(r"&([A-Za-z0-9#]+);")
_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})
_CODED_TYPES = frozenset({"code", "Coding", "CodeableConcept", "string", "uri"})
_ABSTRACT_RESOURCE = frozenset({"Resource", "DomainResource"})
_BUNDLE_MUST_RESOLVE = frozenset({"document", "message"})
_URN_MUST_RESOLVE = frozenset({"document", "message", "transaction", "batch"})


_AMBIGUOUS: Any = object()
_NOT_FOUND: Any = object()


@dataclass(slots=True)
class _BundleIndex:
    kind: str
    by_full_url: dict[str, Any] = field(default_factory=dict)
    by_type_id: dict[str, Any] = field(default_factory=dict)
    ambiguous: set[str] = field(default_factory=set)
    versions: dict[str, list[Any]] = field(default_factory=dict)

    def _by_url(self, url: str, version: str) -> Any:
        """An entry by fullUrl; several entries share it when they are versions."""
        many = self.versions.get(url)
        if many is None:
            return None
        if version:
            for r in many:
                meta = r.get("meta")
                if isinstance(meta, dict) and meta.get("versionId") == version:
                    return r
            return _NOT_FOUND
        return many[0] if len(many) == 1 else _AMBIGUOUS

    def resolve(self, ref: str, here: str | None) -> Any:
        ref, _, version = ref.partition("/_history/")
        got = self._by_url(ref, version)
        if got is not None:
            return got
        if "://" in ref or ref.startswith("urn:"):
            return None
        m = _REF_RX.fullmatch(ref)
        if m is None:
            return None
        if here and "://" in here:
            hm = _REF_RX.fullmatch(here)
            if hm is not None and hm.group("base"):
                got = self._by_url(f"{hm.group('base')}/{ref}", version)
                if got is not None:
                    return got
        key = f"{m.group('type')}/{m.group('id')}"
        if version:
            return None
        if key in self.ambiguous:
            return _AMBIGUOUS
        return self.by_type_id.get(key)


@dataclass(slots=True)
class _Ctx:
    issues: list[Issue]
    resource: Any = None
    root_resource: Any = None
    bundle: _BundleIndex | None = None
    full_url: str | None = None
    silent: bool = False
    depth: int = 0
    res_path: str = ""


class Validator:
    """Validate FHIR R4 resources against the base definitions and loaded profiles.

    ``profiles`` may hold StructureDefinition dicts, JSON files, folders of conformance
    resources (an IG's ``package/`` folder or a folder of JSON files) or FHIR package
    tarballs; ValueSets and CodeSystems among them are loaded too. Differential-only
    StructureDefinitions are accepted: their tree is generated from the base definition.

    ``"iop"`` (alone or in the list) loads the project's own profiles, shipped with the
    package; :meth:`with_iop_profiles` does the same. With ``auto_iop`` (the default) they are
    also loaded on demand, the first time a resource claims one of them in ``meta.profile``
    (or uses one of the project's extensions).
    """

    def __init__(
        self,
        profiles: Iterable[ProfileSource] | str = (),
        *,
        definitions: Definitions | None = None,
        check_invariants: bool = True,
        auto_iop: bool = True,
    ) -> None:
        self.definitions = definitions if definitions is not None else Definitions()
        self.definitions.auto_iop = auto_iop
        self.loaded_profiles: list[str] = []
        sources: Iterable[ProfileSource] = [profiles] if isinstance(profiles, str) else profiles
        for p in sources:
            self.loaded_profiles.extend(self.definitions.add(p))
        self.invariants = InvariantEngine()
        self.check_invariants = check_invariants
        self._regex = {k: re.compile(v) for k, v in self.definitions.primitive_regex.items()}
        self._type_names = self.definitions.type_names
        self._primitives = self.definitions.primitive_types
        self._resource_types = self.definitions.resource_types
        self._content_ref_cache: dict[tuple[int, str], ElementNode | None] = {}
        self._conforming: set[tuple[int, str]] = set()
        self._todo_cache: dict[tuple[int, int], tuple[Any, ...]] = {}
        self._todo_keep: list[Any] = []
        self._type_roots: dict[str, ElementNode | None] = {}
        self._ref_targets: dict[int, tuple[list[str], set[str], bool]] = {}

    @classmethod
    def with_iop_profiles(cls, profiles: Iterable[ProfileSource] = (), **kwargs: Any) -> Validator:
        """A validator with the project's profiles loaded (plus any other ``profiles``)."""
        return cls([IOP_PROFILES, *profiles], **kwargs)

    # -- public ------------------------------------------------------------------------
    def validate(
        self, resource: Any, profile: str | Sequence[str] | None = None
    ) -> ValidationReport:
        """Validate one resource (a Bundle's entries are validated too).

        ``profile``: canonical url(s) of loaded profiles to check against, in addition to the
        base definition and the profiles the resource claims in ``meta.profile``.
        """
        ctx = _Ctx(issues=[])
        explicit = [profile] if isinstance(profile, str) else list(profile or ())
        for url in explicit:
            if not self.definitions.has(url):
                ctx.issues.append(Issue("error", "not-found", f"Profile {url} is not loaded", None))
        explicit = [u for u in explicit if self.definitions.has(u)]
        if not isinstance(resource, Mapping):
            ctx.issues.append(Issue("fatal", "structure", "Content is not a JSON object", None))
        else:
            rt = resource.get("resourceType")
            self._resource(
                resource, str(rt) if isinstance(rt, str) else "Resource", ctx, explicit, top=True
            )
        skipped = dict(self.invariants.skipped)
        return ValidationReport.from_issues(ctx.issues, skipped_invariants=skipped)

    def conforms(self, resource: Any, profile: str, *, within: Any = None) -> bool:
        """True when ``resource`` has no errors against ``profile`` (used for slicing and
        target profiles). ``within`` is the validation context whose Bundle resolves
        references."""
        key = (id(resource), profile)
        if key in self._conforming:
            return True  # a reference cycle: assume conformance while the check is running
        self._conforming.add(key)
        try:
            ctx = _Ctx(issues=[], silent=True)
            if isinstance(within, _Ctx):
                ctx.bundle, ctx.full_url = within.bundle, within.full_url
            self._resource(
                resource,
                str(resource.get("resourceType", "Resource")),
                ctx,
                [profile],
                top=False,
                only_explicit=True,
            )
            return not any(i.severity in ("error", "fatal") for i in ctx.issues)
        finally:
            self._conforming.discard(key)

    # -- issues ------------------------------------------------------------------------
    @staticmethod
    def _add(ctx: _Ctx, severity: Severity, code: str, path: str, message: str) -> None:
        ctx.issues.append(Issue(severity, code, message, path))

    # -- resources ---------------------------------------------------------------------
    def _resource(
        self,
        res: Mapping[str, Any],
        path: str,
        ctx: _Ctx,
        profiles: Sequence[str] = (),
        *,
        top: bool = False,
        only_explicit: bool = False,
        container: Any = None,
        allowed_types: Sequence[str] = (),
    ) -> None:
        rt = res.get("resourceType")
        if not isinstance(rt, str):
            self._add(ctx, "error", "structure", path, "Resource has no resourceType property")
            return
        if rt not in self._resource_types or rt in _ABSTRACT_RESOURCE:
            self._add(ctx, "error", "structure", path, f"Unknown resource type '{rt}'")
            return
        if (
            allowed_types
            and rt not in allowed_types
            and not (set(allowed_types) & _ABSTRACT_RESOURCE)
        ):
            self._add(
                ctx,
                "error",
                "structure",
                path,
                f"Resource type {rt} is not allowed here (expected "
                f"{' or '.join(sorted(allowed_types))})",
            )
        trees: list[tuple[str, ElementNode]] = []
        urls = list(profiles)
        if not only_explicit:
            meta = res.get("meta")
            claimed = meta.get("profile") if isinstance(meta, Mapping) else None
            if isinstance(claimed, list):
                for i, url in enumerate(claimed):
                    if not isinstance(url, str):
                        continue
                    if self.definitions.has(url):
                        urls.append(url)
                    else:
                        self._add(
                            ctx,
                            "warning",
                            "not-found",
                            f"{path}.meta.profile[{i}]",
                            f"Profile {url} is not loaded; the resource was not checked against it",
                        )
        seen: set[str] = set()
        for url in urls:
            base_url = url.split("|", 1)[0]
            if base_url in seen:
                continue
            seen.add(base_url)
            sd_type = self.definitions.sd_type(base_url)
            if sd_type != rt:
                self._add(
                    ctx,
                    "error",
                    "structure",
                    path,
                    f"Profile {base_url} is for {sd_type}, not {rt}",
                )
                continue
            try:
                tree = self.definitions.tree(base_url)
            except InputError as exc:
                claimed_only = base_url not in {u.split("|", 1)[0] for u in profiles}
                self._add(
                    ctx,
                    "warning" if claimed_only else "error",
                    "not-supported",
                    path,
                    f"Profile {base_url} cannot be used: {exc}",
                )
                continue
            if tree is not None:
                trees.append((base_url, tree))
        if not trees:
            tree = self.definitions.type_tree(rt)
            if tree is None:
                self._add(ctx, "error", "structure", path, f"Unknown resource type '{rt}'")
                return
            trees.append((rt, tree))
        saved = (ctx.resource, ctx.root_resource, ctx.bundle, ctx.full_url, ctx.res_path)
        ctx.res_path = path
        ctx.resource = res
        ctx.root_resource = container if container is not None else res
        if rt == "Bundle":
            ctx.bundle = self._bundle_index(res)
        try:
            for _url, tree in trees:
                self._object(res, tree, rt, path, ctx, tree, is_resource=True)
        finally:
            ctx.resource, ctx.root_resource, ctx.bundle, ctx.full_url, ctx.res_path = saved
        if rt == "Bundle":
            self._bundle_rules(res, path, ctx)

    def _bundle_rules(self, bundle: Mapping[str, Any], path: str, ctx: _Ctx) -> None:
        """Bundle rules the HL7 Java validator applies beyond the StructureDefinition."""
        kind = bundle.get("type")
        links = bundle.get("link")
        if isinstance(links, list):
            seen: set[str] = set()
            for i, link in enumerate(links):
                rel = link.get("relation") if isinstance(link, dict) else None
                if rel in ("self", "first", "previous", "prev", "next", "last"):
                    if rel in seen:
                        self._add(
                            ctx,
                            "error",
                            "invalid",
                            f"{path}.link[{i}]",
                            f"The link relationship type '{rel}' can only occur once",
                        )
                    seen.add(str(rel))
        entries = bundle.get("entry")
        if not isinstance(entries, list):
            return
        type_id_count: dict[str, int] = {}
        for e in entries:
            res = e.get("resource") if isinstance(e, dict) else None
            if isinstance(res, dict):
                key = f"{res.get('resourceType')}/{res.get('id')}"
                type_id_count[key] = type_id_count.get(key, 0) + 1
        for i, e in enumerate(entries):
            if not isinstance(e, dict):
                continue
            epath = f"{path}.entry[{i}]"
            res = e.get("resource")
            fu = e.get("fullUrl")
            if isinstance(fu, str):
                if ":" not in fu:
                    self._add(
                        ctx,
                        "error",
                        "invalid",
                        epath,
                        "The fullUrl must be an absolute URL (not a relative reference)",
                    )
                elif isinstance(res, dict) and "://" in fu:
                    m = _REF_RX.fullmatch(fu.split("/_history/", 1)[0])
                    if (
                        m is not None
                        and m.group("type") in self._resource_types
                        and isinstance(res.get("id"), str)
                        and (m.group("type"), m.group("id"))
                        != (res.get("resourceType"), res.get("id"))
                    ):
                        self._add(
                            ctx,
                            "error",
                            "invalid",
                            epath,
                            "The fullUrl looks like a RESTful server URL, so it must end "
                            f"with the resource's type and id "
                            f"(/{res.get('resourceType')}/{res.get('id')})",
                        )
            if kind == "searchset" and isinstance(res, dict):
                search = e.get("search")
                mode = search.get("mode") if isinstance(search, dict) else None
                if mode == "outcome" and res.get("resourceType") != "OperationOutcome":
                    self._add(
                        ctx,
                        "error",
                        "invalid",
                        f"{epath}.resource",
                        f"This is not an OperationOutcome ({res.get('resourceType')})",
                    )
                elif mode == "match" and not isinstance(res.get("id"), str):
                    self._add(
                        ctx, "error", "invalid", f"{epath}.resource", "Search results must have ids"
                    )

    def _bundle_index(self, bundle: Mapping[str, Any]) -> _BundleIndex:
        idx = _BundleIndex(kind=str(bundle.get("type", "")))
        for entry in bundle.get("entry", ()) or ():
            if not isinstance(entry, Mapping):
                continue
            res = entry.get("resource")
            if not isinstance(res, Mapping):
                continue
            fu = entry.get("fullUrl")
            if isinstance(fu, str):
                idx.by_full_url.setdefault(fu, res)
                idx.versions.setdefault(fu, []).append(res)
            rt, rid = res.get("resourceType"), res.get("id")
            if isinstance(rt, str) and isinstance(rid, str):
                key = f"{rt}/{rid}"
                if key in idx.by_type_id:
                    idx.ambiguous.add(key)
                idx.by_type_id.setdefault(key, res)
        return idx

    # -- objects -----------------------------------------------------------------------
    def _children_of(
        self, node: ElementNode, type_code: str, root: ElementNode
    ) -> tuple[ElementNode | None, ElementNode | None]:
        """(node holding the children, type tree root whose constraints apply)."""
        if node.children is not None:
            tt = None if node.path.count(".") == 0 else self._type_root(type_code)
            return node, tt
        if node.content_ref:
            target = self._content_ref(root, node.content_ref)
            return target, None
        tt = self._type_root(type_code)
        return tt, tt

    def _type_root(self, code: str) -> ElementNode | None:
        try:
            return self._type_roots[code]
        except KeyError:
            pass
        if code in ("BackboneElement", "Element") or code in self._primitives:
            got = None
        else:
            got = self.definitions.type_tree(code)
            if got is None:
                return None  # not cached: a definition may be loaded later
        self._type_roots[code] = got
        return got

    def _content_ref(self, root: ElementNode, ref: str) -> ElementNode | None:
        key = (id(root), ref)
        if key in self._content_ref_cache:
            return self._content_ref_cache[key]
        target_path = ref.split("#", 1)[-1]
        parts = target_path.split(".")
        node: ElementNode | None = root if parts[0] == root.path.split(".")[0] else None
        if node is None:
            # a reference into another definition (rare in R4)
            node = self.definitions.type_tree(parts[0])
        for p in parts[1:]:
            if node is None or node.children is None:
                node = None
                break
            node = node.children.get(p)
        self._content_ref_cache[key] = node
        return node

    def _object(
        self,
        obj: Any,
        node: ElementNode,
        type_code: str,
        path: str,
        ctx: _Ctx,
        root: ElementNode,
        *,
        is_resource: bool = False,
    ) -> None:
        if not isinstance(obj, dict):
            self._add(
                ctx,
                "error",
                "structure",
                path,
                f"{node.path} must be a JSON object, not {_json_kind(obj)}",
            )
            return
        holder, type_root = self._children_of(node, type_code, root)
        if holder is None or holder.children is None:
            if type_code not in self._primitives:
                self._add(
                    ctx,
                    "error",
                    "structure",
                    path,
                    f"No definition found for the content of {node.path} ({type_code})",
                )
            return
        km = holder.keymap(self._type_names)
        plain: list[tuple[str, ElementNode]] = []
        choices: dict[str, list[tuple[str, str | None]]] = {}
        choice_nodes: dict[str, ElementNode] = {}
        for key in obj:
            entry = km.get(key)
            if entry is None:
                if key[:1] == "_":
                    entry = km.get(key[1:])
                    if entry is None:
                        self._add(
                            ctx,
                            "error",
                            "structure",
                            f"{path}.{key}",
                            f"Unrecognized property '{key}'",
                        )
                        continue
                    if key[1:] in obj:
                        continue
                    key = key[1:]
                elif (is_resource and key == "resourceType") or key == "fhir_comments":
                    continue
                else:
                    self._add(
                        ctx, "error", "structure", f"{path}.{key}", f"Unrecognized property '{key}'"
                    )
                    continue
            child, ctype = entry
            if ctype is None:
                plain.append((key, child))
            else:
                choices.setdefault(child.name, []).append((key, ctype))
                choice_nodes[child.name] = child
        for child in holder.required_children:
            name = child.name
            if name in choices or (not name.endswith("[x]") and (name in obj or "_" + name in obj)):
                continue
            self._add(
                ctx,
                "error",
                "required",
                path,
                f"{child.path}: minimum required = {child.min}, but only found 0",
            )
        for key, child in plain:
            self._element(obj, key, child, None, path, ctx, root)
        for name, keys in choices.items():
            child = choice_nodes[name]
            if len(keys) > 1:
                self._add(
                    ctx,
                    "error",
                    "structure",
                    path,
                    f"{child.path}: only one choice type may be present, found "
                    f"{', '.join(k for k, _ in keys)}",
                )
            key, ctype = keys[0]
            self._element(obj, key, child, ctype, path, ctx, root)
        if is_resource:
            self._constraints(node, obj, path, ctx, node.path)
        elif type_root is not None:
            self._constraints(type_root, obj, path, ctx, type_root.path, skip=node.constraints)

    # -- one property ------------------------------------------------------------------
    def _element(
        self,
        obj: Mapping[str, Any],
        key: str,
        node: ElementNode,
        ctype: str | None,
        path: str,
        ctx: _Ctx,
        root: ElementNode,
    ) -> None:
        raw = obj.get(key)
        ext = obj.get("_" + key)
        # the common case: a plain element, no primitive extension
        if (
            ext is None
            and ctype is None
            and not node.type_nodes
            and raw is not None
            and self._element_fast(raw, key, node, path, ctx, root)
        ):
            return
        is_list = isinstance(raw, list) or (raw is None and isinstance(ext, list))
        if node.is_array and not is_list:
            self._add(
                ctx,
                "error",
                "structure",
                f"{path}.{key}",
                f"The property {key} must be a JSON Array, not "
                f"{_json_kind(raw if raw is not None else ext)}",
            )
            values: list[Any] = [raw]
            exts: list[Any] = [ext]
        elif not node.is_array and is_list:
            self._add(
                ctx,
                "error",
                "structure",
                f"{path}.{key}",
                f"The property {key} must be a single value, not an array",
            )
            values = list(raw) if isinstance(raw, list) else []
            exts = list(ext) if isinstance(ext, list) else []
        elif is_list:
            values = list(raw) if isinstance(raw, list) else []
            exts = list(ext) if isinstance(ext, list) else []
        else:
            values, exts = [raw], [ext]
        n = max(len(values), len(exts))
        if n == 0:
            self._add(
                ctx, "error", "structure", f"{path}.{key}", f"The array {key} must not be empty"
            )
        values += [None] * (n - len(values))
        exts += [None] * (n - len(exts))
        # which concrete type
        if ctype is not None:
            allowed = node.type_codes
            if ctype not in allowed:
                self._add(
                    ctx,
                    "error",
                    "structure",
                    f"{path}.{key}",
                    f"The type '{ctype}' is not allowed for {node.path} (allowed: "
                    f"{', '.join(allowed)})",
                )
                return
            type_code = ctype
            elem_node = node.type_nodes.get(ctype, node)
            base_path = (
                f"{path}.{node.name[:-3]}.ofType({_cap(ctype)})"
                if len(node.types) > 1
                else f"{path}.{node.name[:-3]}"
            )
        else:
            codes = node.type_codes
            type_code = codes[0] if codes else "BackboneElement"
            elem_node = node
            base_path = f"{path}.{key}"
            if len(codes) > 1 and type_code in self._resource_types:
                type_code = "Resource"
        if node.max is not None and n > node.max:
            self._add(
                ctx,
                "error",
                "structure",
                base_path,
                f"{node.path}: max allowed = {node.max}, but found {n}",
            )
        elif n < node.min and n > 0:
            self._add(
                ctx,
                "error",
                "structure",
                base_path,
                f"{node.path}: minimum required = {node.min}, but only found {n}",
            )
        if ctype is not None and node.type_nodes:
            for tcode, tn in node.type_nodes.items():
                if tn.min > 0 and tcode != ctype:
                    self._add(
                        ctx,
                        "error",
                        "required",
                        path,
                        f"{node.path}: a value of type {tcode} is required",
                    )
        assigned: list[ElementNode] = [elem_node] * n
        if elem_node.slicing is not None or elem_node.slices:
            assigned = self._slice(
                values, elem_node, base_path, ctx, root, type_code, is_list=node.is_array
            )
        for i in range(n):
            ipath = f"{base_path}[{i}]" if node.is_array else base_path
            self._item(values[i], exts[i], assigned[i], type_code, ipath, ctx, root)

    def _element_fast(
        self,
        raw: Any,
        key: str,
        node: ElementNode,
        path: str,
        ctx: _Ctx,
        root: ElementNode,
    ) -> bool:
        """:meth:`_element` for a value of the right JSON shape, without ``_key``; False
        when the general path must run instead."""
        codes = node.type_codes
        if len(codes) > 1 or node.slicing is not None or node.slices:
            return False
        type_code = codes[0] if codes else "BackboneElement"
        if node.is_array:
            if type(raw) is not list or not raw:
                return False
            n = len(raw)
            if node.max is not None and n > node.max:
                return False
            if n < node.min:
                return False
            base = f"{path}.{key}"
            for i, v in enumerate(raw):
                self._item(v, None, node, type_code, f"{base}[{i}]", ctx, root)
            return True
        if type(raw) is list:
            return False
        if node.max == 0:
            return False
        self._item(raw, None, node, type_code, f"{path}.{key}", ctx, root)
        return True

    def _item(
        self,
        value: Any,
        ext: Any,
        node: ElementNode,
        type_code: str,
        path: str,
        ctx: _Ctx,
        root: ElementNode,
    ) -> None:
        if type_code in self._primitives:
            self._primitive(value, ext, node, type_code, path, ctx)
            return
        if ext is not None:
            self._add(
                ctx,
                "error",
                "structure",
                path,
                f"Property _{node.name} is only allowed on primitive types",
            )
        if value is None:
            self._add(ctx, "error", "structure", path, f"{node.path}: null is not allowed")
            return
        if type_code in self._resource_types:
            if not isinstance(value, dict):
                self._add(
                    ctx,
                    "error",
                    "structure",
                    path,
                    f"{node.path} must be a JSON object (a resource)",
                )
                return
            self._contained_resource(value, node, path, ctx)
            return
        if type_code == "Extension":
            self._extension(value, node, path, ctx, root)
            return
        self._object(value, node, type_code, path, ctx, root)
        if not isinstance(value, dict):
            return
        if not any(k != "id" for k in value):
            self._add(
                ctx,
                "error",
                "invariant",
                path,
                f"Constraint failed: ele-1: {node.path} must have a value or children",
            )
        if node.fixed is not None and not _matches(value, node.fixed, exact=True):
            self._add(
                ctx,
                "error",
                "value",
                path,
                f"{node.path}: value does not match the fixed value in the profile",
            )
        if node.pattern is not None and not _matches(value, node.pattern, exact=False):
            self._add(
                ctx,
                "error",
                "value",
                path,
                f"{node.path}: value does not match the pattern in the profile "
                f"({_describe(node.pattern)})",
            )
        if (
            node.binding_strength == "required"
            and node.binding_vs
            and type_code in ("CodeableConcept", "Coding")
        ):
            self._binding_coded(value, type_code, node, path, ctx)
        if (
            node.binding_strength == "required"
            and node.binding_vs
            and type_code
            in (
                "Quantity",
                "Age",
                "Duration",
                "Distance",
                "Count",
                "SimpleQuantity",
                "MoneyQuantity",
            )
            and "code" in value
        ):
            self._binding_coded(value, "Coding", node, path, ctx)
        if type_code in ("CodeableConcept", "Coding"):
            self._known_codes(value, type_code, path, ctx)
        if (node.min_value is not None or node.max_value is not None) and isinstance(
            node.min_value if node.min_value is not None else node.max_value, dict
        ):
            self._quantity_range(value, node, path, ctx)
        if type_code == "Reference":
            self._reference(value, node, path, ctx)
        for t in node.types:
            if t.code == type_code and t.profiles:
                for prof in t.profiles:
                    tree = self.definitions.tree(prof)
                    if tree is not None and tree is not self.definitions.type_tree(type_code):
                        self._object(value, tree, type_code, path, ctx, tree)
                        self._constraints(tree, value, path, ctx, tree.path)
        if node.constraints:
            self._constraints(node, value, path, ctx, _model_path(node, type_code))

    # -- primitives --------------------------------------------------------------------
    def _primitive(
        self, value: Any, ext: Any, node: ElementNode, type_code: str, path: str, ctx: _Ctx
    ) -> None:
        if ext is not None:
            if not isinstance(ext, dict):
                self._add(ctx, "error", "structure", path, f"_{node.name} must be a JSON object")
            else:
                eroot = self.definitions.type_tree("Element")
                if eroot is not None:
                    self._object(ext, eroot, "Element", path, ctx, eroot)
        if value is None:
            if ext is None:
                self._add(ctx, "error", "structure", path, f"{node.path}: null is not allowed here")
            return
        ok = True
        if type_code == "boolean":
            ok = isinstance(value, bool)
        elif type_code in ("integer", "positiveInt", "unsignedInt"):
            ok = isinstance(value, int) and not isinstance(value, bool)
            if ok:
                lo = (
                    1
                    if type_code == "positiveInt"
                    else 0
                    if type_code == "unsignedInt"
                    else (_INT32[0])
                )
                if not lo <= value <= _INT32[1]:
                    self._add(
                        ctx,
                        "error",
                        "value",
                        path,
                        f"The value is outside the range of {type_code}",
                    )
        elif type_code == "decimal":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
            if ok:
                self._string_format(value, node, type_code, path, ctx)
        if not ok:
            self._add(
                ctx,
                "error",
                "structure",
                path,
                f"Error parsing JSON: the primitive value must be a "
                f"{_json_expect(type_code)} (type {type_code}), not {_json_kind(value)}",
            )
            return
        if node.fixed is not None and not _prim_equal(value, node.fixed):
            self._add(
                ctx,
                "error",
                "value",
                path,
                f"{node.path}: value does not match the fixed value "
                f"{_describe(node.fixed, type_code)}",
            )
        if node.pattern is not None and not _prim_equal(value, node.pattern):
            self._add(
                ctx,
                "error",
                "value",
                path,
                f"{node.path}: value does not match the required pattern "
                f"{_describe(node.pattern, type_code)}",
            )
        if (
            node.binding_strength == "required"
            and node.binding_vs
            and type_code in ("code", "string", "uri")
            and isinstance(value, str)
        ):
            exp = self.definitions.terminology.expand(node.binding_vs)
            if exp is None:
                self._add(
                    ctx,
                    "warning",
                    "not-found",
                    path,
                    f"Value set {node.binding_vs} is not available; the code was not checked",
                )
            elif exp.check(None, value) is False:
                self._add(
                    ctx,
                    "error",
                    "code-invalid",
                    path,
                    f"The value provided ('{value}') is not in the value set "
                    f"{node.binding_vs}, and a code is required from this value set",
                )
        if node.min_value is not None or node.max_value is not None:
            self._range(value, node, type_code, path, ctx)
        if node.constraints:
            self._constraints(node, value, path, ctx, type_code, primitive=True)

    def _string_format(
        self, value: str, node: ElementNode, type_code: str, path: str, ctx: _Ctx
    ) -> None:
        if value == "":
            self._add(ctx, "error", "value", path, "@value cannot be empty")
            return
        if type_code == "xhtml":
            for m in _ENTITY_RX.finditer(value):
                if m.group(1) not in _XML_ENTITIES and not m.group(1).startswith("#"):
                    self._add(
                        ctx,
                        "error",
                        "value",
                        path,
                        f"Invalid entity in the XHTML ('&{m.group(1)};')",
                    )
                    break
            return
        rx = self._regex.get(type_code)
        if rx is not None and rx.fullmatch(value) is None:
            self._add(ctx, "error", "value", path, f"The value is not a valid {type_code}")
            return
        if type_code in ("date", "dateTime", "instant") and not _valid_calendar(value):
            self._add(ctx, "error", "value", path, f"The value is not a valid {type_code}")
            return
        if node.max_length is not None and len(value) > node.max_length:
            self._add(
                ctx,
                "error",
                "value",
                path,
                f"{node.path}: value exceeds the maximum length {node.max_length}",
            )
        if type_code in ("string", "markdown") and value.strip() == "":
            self._add(ctx, "error", "value", path, "@value cannot be only whitespace")

    def _range(self, value: Any, node: ElementNode, type_code: str, path: str, ctx: _Ctx) -> None:
        def cmp(a: Any, b: Any) -> int | None:
            try:
                if isinstance(a, (int, float)) and isinstance(b, (int, float)):
                    da, db = Decimal(str(a)), Decimal(str(b))
                    return (da > db) - (da < db)
                if isinstance(a, str) and isinstance(b, str):
                    return (a > b) - (a < b)
            except InvalidOperation:
                return None
            return None

        if node.min_value is not None and (c := cmp(value, node.min_value)) is not None and c < 0:
            self._add(
                ctx,
                "error",
                "value",
                path,
                f"{node.path}: value is less than the minimum {node.min_value}",
            )
        if node.max_value is not None and (c := cmp(value, node.max_value)) is not None and c > 0:
            self._add(
                ctx,
                "error",
                "value",
                path,
                f"{node.path}: value is greater than the maximum {node.max_value}",
            )

    def _quantity_range(
        self, value: Mapping[str, Any], node: ElementNode, path: str, ctx: _Ctx
    ) -> None:
        for bound, sign, word in ((node.min_value, -1, "minimum"), (node.max_value, 1, "maximum")):
            if not isinstance(bound, dict):
                continue
            a = _canonical_quantity(value)
            b = _canonical_quantity(bound)
            if a is None or b is None or a[1] != b[1]:
                continue
            if (a[0] - b[0]) * sign > 0:
                self._add(
                    ctx,
                    "error",
                    "value",
                    path,
                    f"{node.path}: the quantity is {'less' if sign < 0 else 'greater'} "
                    f"than the {word} {bound.get('value')} {bound.get('code', '')}",
                )

    # -- terminology -------------------------------------------------------------------
    def _binding_coded(
        self, value: Mapping[str, Any], type_code: str, node: ElementNode, path: str, ctx: _Ctx
    ) -> None:
        assert node.binding_vs is not None
        exp = self.definitions.terminology.expand(node.binding_vs)
        if exp is None:
            self._add(
                ctx,
                "warning",
                "not-found",
                path,
                f"Value set {node.binding_vs} is not available; codes were not checked",
            )
            return
        codings = value.get("coding") if type_code == "CodeableConcept" else [value]
        if not isinstance(codings, list):
            codings = []
        verdicts: list[bool | None] = []
        for c in codings:
            if not isinstance(c, Mapping) or not isinstance(c.get("code"), str):
                continue
            system = c.get("system") if isinstance(c.get("system"), str) else None
            verdicts.append(exp.check(system, c["code"]))
        if not verdicts:
            if type_code == "CodeableConcept" and "text" in value:
                self._add(
                    ctx,
                    "warning",
                    "code-invalid",
                    path,
                    f"No code provided, and a code from value set {node.binding_vs} is required",
                )
            else:
                self._add(
                    ctx,
                    "error",
                    "code-invalid",
                    path,
                    f"No code provided, and a code from value set {node.binding_vs} is required",
                )
            return
        if any(v is True for v in verdicts) or any(v is None for v in verdicts):
            return
        codes = ", ".join(
            f"{c.get('system', '')}#{c.get('code')}" for c in codings if isinstance(c, Mapping)
        )
        self._add(
            ctx,
            "error",
            "code-invalid",
            path,
            f"None of the codes provided ({codes}) are in the value set "
            f"{node.binding_vs}, and a code from this value set is required",
        )

    def _known_codes(self, value: Mapping[str, Any], type_code: str, path: str, ctx: _Ctx) -> None:
        codings = value.get("coding") if type_code == "CodeableConcept" else [value]
        if not isinstance(codings, list):
            return
        systems = self.definitions.terminology.code_systems
        for i, c in enumerate(codings):
            if not isinstance(c, Mapping):
                continue
            system, code = c.get("system"), c.get("code")
            where = f"{path}.coding[{i}]" if type_code == "CodeableConcept" else path
            if isinstance(system, str):
                if ":" not in system:
                    self._add(
                        ctx,
                        "error",
                        "value",
                        f"{where}.system",
                        "Coding.system must be an absolute reference, not a local reference",
                    )
                    continue
                if self.definitions.terminology.knows_value_set(system) and (system not in systems):
                    self._add(
                        ctx,
                        "error",
                        "value",
                        f"{where}.system",
                        f"The Coding references a value set, not a code system ('{system}')",
                    )
                    continue
                if system in self.definitions.terminology.supplements:
                    self._add(
                        ctx,
                        "error",
                        "value",
                        f"{where}.system",
                        f"CodeSystem {system} is a supplement, so it cannot be used as "
                        "Coding.system",
                    )
                    continue
            if not isinstance(system, str) or not isinstance(code, str):
                continue
            info = systems.get(system)
            if info is None or not info.complete:
                continue
            known = code in info.codes or (
                not info.case_sensitive and code.lower() in {x.lower() for x in info.codes}
            )
            if not known:
                self._add(
                    ctx,
                    "error",
                    "code-invalid",
                    where,
                    f"Unknown code '{code}' in the CodeSystem '{system}'",
                )

    # -- extensions ----------------------------------------------------------------------
    def _extension(
        self, value: Any, node: ElementNode, path: str, ctx: _Ctx, root: ElementNode
    ) -> None:
        if not isinstance(value, dict):
            self._add(ctx, "error", "structure", path, "An extension must be a JSON object")
            return
        url = value.get("url")
        tree: ElementNode | None = None
        profile_urls = [p for t in node.types if t.code == "Extension" for p in t.profiles]
        for p in profile_urls:
            tree = self.definitions.tree(p)
            if tree is not None:
                break
        if tree is None and isinstance(url, str) and ("://" in url or url.startswith("urn:")):
            if self.definitions.has(url):
                sd = self.definitions.structure_definition(url)
                if sd is not None and sd.get("type") == "Extension":
                    tree = self.definitions.tree(url)
                    self._extension_context(sd, path, ctx)
            else:
                modifier = node.name == "modifierExtension"
                self._add(
                    ctx,
                    "error" if modifier else "warning",
                    "not-found",
                    path,
                    f"Unknown extension {url}"
                    + (" (a modifier extension must be understood)" if modifier else ""),
                )
        if tree is None:
            tree = node if node.children is not None else self.definitions.type_tree("Extension")
            if tree is None:
                return
            self._object(value, tree, "Extension", path, ctx, root)
            ext_root = self.definitions.type_tree("Extension")
            if tree is not ext_root and ext_root is not None:
                self._constraints(ext_root, value, path, ctx, "Extension")
        else:
            self._object(value, tree, "Extension", path, ctx, tree)
            self._constraints(tree, value, path, ctx, "Extension")
        if node.constraints:
            self._constraints(node, value, path, ctx, node.path)

    def _extension_context(self, sd: Mapping[str, Any], path: str, ctx: _Ctx) -> None:
        contexts = sd.get("context")
        if not isinstance(contexts, list) or not contexts:
            return
        # the definition path of the extended element: drop indexes and the last step
        rel = path[len(ctx.res_path) :] if path.startswith(ctx.res_path) else path
        resource_type = (
            str(ctx.resource.get("resourceType", "")) if isinstance(ctx.resource, dict) else ""
        )
        where = resource_type + re.sub(r"\[\d+\]", "", rel).rsplit(".", 1)[0]
        where = re.sub(r"\.ofType\((\w+)\)", "", where)
        for c in contexts:
            if not isinstance(c, Mapping):
                continue
            expr = c.get("expression")
            if c.get("type") != "element" or not isinstance(expr, str):
                return  # fhirpath / extension contexts: not judged here
            if expr in ("Element", "Resource", "DomainResource", "BackboneElement"):
                return
            if expr == where or (expr == resource_type and "." not in where):
                return
            head = expr.split(".", 1)[0]
            # a datatype context (HumanName.family, string...): we do not track the datatype
            # of every element, so only the element name is compared
            if (head in self._type_names or head[:1].islower()) and (
                "." not in expr or where.endswith("." + expr.split(".", 1)[1])
            ):
                return
            if (
                expr.split(".")[0] == resource_type
                and "." in expr
                and where.endswith(expr.split(".", 1)[1])
            ):
                return
        url = sd.get("url")
        self._add(
            ctx,
            "error",
            "business-rule",
            path,
            f"The extension {url} is not allowed to be used at this point ({where})",
        )

    # -- references --------------------------------------------------------------------
    def _reference(self, value: Mapping[str, Any], node: ElementNode, path: str, ctx: _Ctx) -> None:
        ref = value.get("reference")
        if not isinstance(ref, str):
            return
        cached = self._ref_targets.get(id(node))
        if cached is None:
            targets = [tp for t in node.types if t.code == "Reference" for tp in t.target_profiles]
            allowed_or_none = {self.definitions.sd_type(tp) for tp in targets}
            allowed = {a for a in allowed_or_none if a}
            # an unknown target profile: its type cannot be known, so any target is accepted
            any_ok = not allowed or bool(allowed & _ABSTRACT_RESOURCE) or (None in allowed_or_none)
            cached = (targets, allowed, any_ok)
            self._ref_targets[id(node)] = cached
            self._todo_keep.append(node)
        targets, allowed, any_ok = cached
        target_type: str | None = None
        resolved: Any = None
        if ref.startswith("#"):
            if ref != "#":
                container = ctx.root_resource if isinstance(ctx.root_resource, dict) else {}
                found = next(
                    (
                        c
                        for c in container.get("contained", ()) or ()
                        if isinstance(c, dict) and c.get("id") == ref[1:]
                    ),
                    None,
                )
                if found is None:
                    self._add(
                        ctx,
                        "error",
                        "not-found",
                        f"{path}.reference",
                        f"The contained resource '{ref}' was not found",
                    )
                    return
                resolved = found
        else:
            m = _REF_RX.fullmatch(ref.split("?", 1)[0])
            if m is not None and m.group("type") in self._resource_types:
                target_type = m.group("type")
            if ctx.bundle is not None:
                resolved = ctx.bundle.resolve(ref, ctx.full_url)
                if resolved is _AMBIGUOUS:
                    self._add(
                        ctx,
                        "error",
                        "invalid",
                        f"{path}.reference",
                        f"Multiple matches in the Bundle for the reference {ref}",
                    )
                    resolved = None
                elif resolved is _NOT_FOUND:
                    self._add(
                        ctx,
                        "error",
                        "not-found",
                        f"{path}.reference",
                        f"The Bundle has entries for {ref.split('/_history/')[0]}, but none "
                        "with the referenced version",
                    )
                    resolved = None
                elif resolved is None:
                    if ref.startswith(("urn:uuid:", "urn:oid:")):
                        # a transaction, batch, document or message is processed on its own,
                        # so a urn: that is not in it can never be resolved
                        sev: Severity = (
                            "error" if ctx.bundle.kind in _URN_MUST_RESOLVE else ("warning")
                        )
                        self._add(
                            ctx,
                            sev,
                            "not-found",
                            f"{path}.reference",
                            f"The reference {ref} could not be resolved in the Bundle "
                            "(urn: references must point to a Bundle entry)",
                        )
                    elif ctx.bundle.kind in _BUNDLE_MUST_RESOLVE and "://" not in ref:
                        self._add(
                            ctx,
                            "warning",
                            "not-found",
                            f"{path}.reference",
                            f"The reference {ref} could not be resolved in the "
                            f"{ctx.bundle.kind} Bundle",
                        )
        if isinstance(resolved, dict) and isinstance(resolved.get("resourceType"), str):
            target_type = resolved["resourceType"]
        declared = value.get("type")
        if isinstance(declared, str) and target_type and declared != target_type:
            self._add(
                ctx,
                "error",
                "structure",
                f"{path}",
                f"The reference type {declared} does not match the target type {target_type}",
            )
        if isinstance(resolved, dict) and target_type:
            profiled = [
                tp
                for tp in targets
                if self.definitions.sd_type(tp) == target_type
                and not tp.startswith("http://hl7.org/fhir/StructureDefinition/")
                and self.definitions.has(tp)
            ]
            if profiled and not any(self.conforms(resolved, tp, within=ctx) for tp in profiled):
                self._add(
                    ctx,
                    "error",
                    "structure",
                    path,
                    f"The resource referenced does not conform to the target profile "
                    f"{' or '.join(profiled)}",
                )
        if target_type and not any_ok and target_type not in allowed:
            self._add(
                ctx,
                "error",
                "structure",
                f"{path}",
                f"The type '{target_type}' of the reference target is not a valid "
                f"target for {node.path} (must be one of "
                f"{', '.join(sorted(allowed))})",
            )

    # -- contained and entry resources -------------------------------------------------
    def _contained_resource(self, value: JSON, node: ElementNode, path: str, ctx: _Ctx) -> None:
        rtype = value.get("resourceType")
        profiles = [
            p
            for t in node.types
            if t.code == rtype or t.code in _ABSTRACT_RESOURCE
            for p in t.profiles
        ]
        allowed = [t.code for t in node.types if t.code not in _ABSTRACT_RESOURCE]
        if node.name == "contained":
            if ctx.depth > 20:
                return
            ctx.depth += 1
            try:
                rid = value.get("id")
                if not isinstance(rid, str):
                    self._add(
                        ctx, "error", "required", path, "A contained resource must have an id"
                    )
                self._resource(
                    value, path, ctx, profiles, container=ctx.root_resource, allowed_types=allowed
                )
            finally:
                ctx.depth -= 1
            return
        full_url = None
        if node.path == "Bundle.entry.resource":
            entry_path = path.rsplit(".", 1)[0]
            full_url = self._entry_full_url(ctx, entry_path)
        saved = ctx.full_url
        ctx.full_url = full_url
        ctx.depth += 1
        try:
            if ctx.depth <= 20:
                self._resource(value, path, ctx, profiles, allowed_types=allowed)
        finally:
            ctx.full_url = saved
            ctx.depth -= 1

    @staticmethod
    def _entry_full_url(ctx: _Ctx, entry_path: str) -> str | None:
        m = re.search(r"\.entry\[(\d+)\]$", entry_path)
        if m is None or not isinstance(ctx.resource, dict):
            return None
        entries = ctx.resource.get("entry")
        i = int(m.group(1))
        if isinstance(entries, list) and i < len(entries) and isinstance(entries[i], dict):
            fu = entries[i].get("fullUrl")
            return fu if isinstance(fu, str) else None
        return None

    # -- invariants --------------------------------------------------------------------
    def _constraints(
        self,
        node: ElementNode,
        value: Any,
        path: str,
        ctx: _Ctx,
        model_path: str,
        *,
        skip: Sequence[Any] = (),
        primitive: bool = False,
    ) -> None:
        if not self.check_invariants or not node.constraints:
            return
        ckey = (id(node.constraints), id(skip) if skip else 0)
        todo = self._todo_cache.get(ckey)
        if todo is None:
            skip_keys = {c.key for c in skip}
            # (constraint, fast evaluator or None): the plan of this node's invariants
            todo = tuple(
                (c, self.invariants.fast(c.key, c.expression))
                for c in node.constraints
                if c.key not in skip_keys and c.key != "ele-1"
            )
            # the tuples are kept alive by the trees, so their ids stay theirs
            self._todo_cache[ckey] = todo
            self._todo_keep.append((node.constraints, skip))
        if not todo:
            return
        env = {"resource": ctx.resource, "rootResource": ctx.root_resource, "context": value}
        resolver: Any = None
        for c, fn in todo:
            if fn is not None:
                ok = fn(value, env)
            else:
                if resolver is None:
                    resolver = self._resolver_for(ctx)
                ok = self.invariants.evaluate(
                    c.key, c.expression, value, model_path.replace("[x]", ""), env, resolver
                )
            if ok is False:
                severity: Severity = "error" if c.severity == "error" else "warning"
                self._add(
                    ctx, severity, "invariant", path, f"Constraint failed: {c.key}: {c.expression}"
                )

    @staticmethod
    def _resolver_for(ctx: _Ctx) -> Any:
        root, bundle, here = ctx.root_resource, ctx.bundle, ctx.full_url

        def resolve(ref: str) -> Any:
            if ref.startswith("#"):
                if not isinstance(root, dict):
                    return None
                if ref == "#":
                    return root
                return next(
                    (
                        c
                        for c in root.get("contained", ()) or ()
                        if isinstance(c, dict) and c.get("id") == ref[1:]
                    ),
                    None,
                )
            return bundle.resolve(ref, here) if bundle is not None else None

        return resolve

    # -- slicing -----------------------------------------------------------------------
    def _slice(
        self,
        values: list[Any],
        node: ElementNode,
        path: str,
        ctx: _Ctx,
        root: ElementNode,
        type_code: str,
        *,
        is_list: bool,
    ) -> list[ElementNode]:
        out: list[ElementNode] = []
        counts = {id(s): 0 for s in node.slices}
        slicing = node.slicing
        discs = slicing.discriminators if slicing else ()
        for i, v in enumerate(values):
            match: ElementNode | None = None
            for s in node.slices:
                if discs and self._slice_matches(v, s, discs, type_code, ctx):
                    match = s
                    break
            if match is None:
                if slicing is not None and slicing.rules == "closed" and node.slices:
                    ipath = f"{path}[{i}]" if is_list else path
                    self._add(
                        ctx,
                        "error",
                        "structure",
                        ipath,
                        f"This element does not match any known slice defined in the "
                        f"profile for {node.path} (slicing is closed)",
                    )
                out.append(node)
            else:
                counts[id(match)] += 1
                out.append(match)
        for s in node.slices:
            n = counts[id(s)]
            if n < s.min:
                self._add(
                    ctx,
                    "error",
                    "structure",
                    path.rsplit("[", 1)[0] if False else path,
                    f"Slice '{node.path}:{s.slice_name}': a matching slice is required, "
                    f"but not found (minimum {s.min}, found {n})",
                )
            if s.max is not None and n > s.max:
                self._add(
                    ctx,
                    "error",
                    "structure",
                    path,
                    f"Slice '{node.path}:{s.slice_name}': at most {s.max} allowed, but found {n}",
                )
        return out

    def _slice_matches(
        self,
        value: Any,
        slice_node: ElementNode,
        discs: Sequence[tuple[str, str]],
        type_code: str,
        ctx: _Ctx,
    ) -> bool:
        for dtype, dpath in discs:
            if not self._disc_match(value, slice_node, dtype, dpath, type_code, ctx):
                return False
        return True

    def _disc_match(
        self,
        value: Any,
        slice_node: ElementNode,
        dtype: str,
        dpath: str,
        type_code: str,
        ctx: _Ctx,
    ) -> bool:
        steps = _disc_steps(dpath)
        if steps is None:
            return False
        sub, sub_type = self._def_at(slice_node, type_code, steps)
        vals = _values_at(value, steps)
        if dtype in ("value", "pattern"):
            if sub is None:
                return False
            expected = sub.fixed if sub.fixed is not None else sub.pattern
            if expected is None and steps == ["url"] and sub_type == "uri":
                # extension slices: the url comes from the extension profile
                expected = self._slice_extension_url(slice_node)
            if expected is None and steps == ["url"]:
                expected = self._slice_extension_url(slice_node)
            if expected is None:
                if sub.binding_strength == "required" and sub.binding_vs:
                    exp = self.definitions.terminology.expand(sub.binding_vs)
                    if exp is None:
                        # the value set is not available: the slice cannot be ruled out
                        return bool(vals)
                    for v in vals:
                        for system, code in _codes_of(v):
                            if exp.check(system, code) is not False:
                                return True
                    return False
                return True  # the slice does not constrain this discriminator
            return any(
                _prim_equal(v, expected)
                if not isinstance(expected, dict)
                else isinstance(v, dict) and _matches(v, expected, exact=False)
                for v in vals
            )
        if dtype == "exists":
            if sub is None:
                return False
            return bool(vals) == (sub.min > 0) if (sub.min > 0 or sub.max == 0) else True
        if dtype == "type":
            if sub is None:
                return False
            allowed = set(sub.type_codes)
            for v in vals:
                actual = v.get("resourceType") if isinstance(v, dict) else None
                if actual is None:
                    actual = _actual_choice_type(value, steps)
                if actual in allowed:
                    return True
            return False
        if dtype == "profile":
            if sub is None:
                return False
            profiles = [p for t in sub.types for p in t.profiles]
            for v in vals:
                if isinstance(v, dict) and "resourceType" in v:
                    for p in profiles:
                        if self.definitions.has(p) and self.conforms(v, p, within=ctx):
                            return True
            return False
        return False

    def _slice_extension_url(self, slice_node: ElementNode) -> str | None:
        for t in slice_node.types:
            for p in t.profiles:
                return self.definitions.extension_url_of(p)
        if slice_node.children and "url" in slice_node.children:
            fixed = slice_node.children["url"].fixed
            return fixed if isinstance(fixed, str) else None
        return None

    def _def_at(
        self, node: ElementNode, type_code: str, steps: Sequence[str]
    ) -> tuple[ElementNode | None, str]:
        current: ElementNode | None = node
        tcode = type_code
        for step in steps:
            if current is None:
                return None, tcode
            if step == "$this":
                continue
            if step.startswith("ofType:"):
                want = step.split(":", 1)[1]
                tn = current.type_nodes.get(want) or current.type_nodes.get(
                    want[:1].lower() + want[1:]
                )
                if tn is not None:
                    current = tn
                tcode = want
                continue
            if step == "resolve()":
                return None, tcode
            if step.startswith("extension:"):
                url = step.split(":", 1)[1]
                holder, _ = self._children_of(current, tcode, node)
                ext = holder.children.get("extension") if holder and holder.children else None
                current = None
                if ext is not None:
                    for s in ext.slices:
                        if self._slice_extension_url(s) == url:
                            current = s
                tcode = "Extension"
                continue
            holder, _ = self._children_of(current, tcode, node)
            if holder is None or holder.children is None:
                return None, tcode
            child = holder.children.get(step) or holder.children.get(step + "[x]")
            if child is None:
                return None, tcode
            current = child
            codes = child.type_codes
            tcode = codes[0] if len(codes) == 1 else tcode
        return current, tcode


# -- helpers ---------------------------------------------------------------------------
_UCUM_PREFIX = {"": 0, "k": 3, "h": 2, "da": 1, "d": -1, "c": -2, "m": -3, "u": -6, "n": -9}
_UCUM_BASE = ("g", "m", "L", "l", "s", "mol")


def _canonical_quantity(q: Mapping[str, Any]) -> tuple[Decimal, str] | None:
    """(value in base unit, base unit) for simple metric UCUM units; None otherwise."""
    v = q.get("value")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    code = q.get("code") if isinstance(q.get("code"), str) else q.get("unit")
    if not isinstance(code, str):
        return Decimal(str(v)), ""
    for base in sorted(_UCUM_BASE, key=len, reverse=True):
        if code.endswith(base):
            prefix = code[: -len(base)]
            if prefix in _UCUM_PREFIX:
                return Decimal(str(v)).scaleb(_UCUM_PREFIX[prefix]), base
    return Decimal(str(v)), code


def _model_path(node: ElementNode, type_code: str) -> str:
    """Where fhirpathpy should think an element is: its data type, or its definition path
    for backbone elements (so choice elements inside are typed correctly)."""
    if type_code in ("BackboneElement", "Element") or not type_code:
        return node.path
    return type_code


def _cap(t: str) -> str:
    return t[:1].upper() + t[1:]


def _json_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "an object"
    return "null"


def _json_expect(t: str) -> str:
    if t == "boolean":
        return "JSON boolean"
    if t in ("integer", "positiveInt", "unsignedInt", "decimal"):
        return "JSON number"
    return "JSON string"


def _prim_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return Decimal(str(a)) == Decimal(str(b))
    return bool(a == b)


def _matches(value: Any, pattern: Any, *, exact: bool) -> bool:
    """Pattern semantics: every property of ``pattern`` is found in ``value``."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        for k, pv in pattern.items():
            if k not in value:
                return False
            if not _matches(value[k], pv, exact=exact):
                return False
        if exact:
            extra = set(value) - set(pattern) - {"extension", "id"}
            if extra:
                return False
        return True
    if isinstance(pattern, list):
        if not isinstance(value, list):
            return False
        if exact and len(value) != len(pattern):
            return False
        return all(any(_matches(v, p, exact=exact) for v in value) for p in pattern)
    return _prim_equal(value, pattern)


def _describe(v: Any, type_code: str | None = None) -> str:
    """A short rendering of a fixed/pattern value: codes and urls only."""
    if isinstance(v, dict):
        codings: list[Any] = (
            v["coding"]
            if isinstance(v.get("coding"), list)
            else ([v] if "code" in v or "system" in v else [])
        )
        parts = [
            f"{c.get('system', '')}#{c.get('code', '')}" for c in codings if isinstance(c, dict)
        ]
        if parts:
            return ", ".join(parts)
        return "complex value"
    if type_code in ("code", "uri", "url", "canonical", "boolean", "id", "oid", "uuid") or (
        isinstance(v, (bool, int, float))
    ):
        return repr(v)
    return "the profile's value"


def _disc_steps(path: str) -> list[str] | None:
    """A discriminator path as steps; None for expressions we do not support."""
    steps: list[str] = []
    rest = path.strip()
    while rest:
        m = re.match(r"(\$this|resolve\(\)|[A-Za-z][A-Za-z0-9_]*)(\((['\"])(.*?)\3\))?", rest)
        if m is None:
            m2 = re.match(r"ofType\(([A-Za-z]+)\)", rest)
            if m2 is None:
                return None
            steps.append("ofType:" + m2.group(1))
            rest = rest[m2.end() :]
        else:
            name = m.group(1)
            if m.group(2) is not None:
                if name == "extension":
                    steps.append("extension:" + m.group(4))
                else:
                    return None
            elif name == "ofType":
                return None
            else:
                steps.append(name)
            rest = rest[m.end() :]
        if rest.startswith("."):
            rest = rest[1:]
        elif rest:
            return None
    return steps


def _values_at(value: Any, steps: Sequence[str]) -> list[Any]:
    current = [value]
    for step in steps:
        nxt: list[Any] = []
        for v in current:
            if step == "$this":
                nxt.append(v)
                continue
            if step.startswith("ofType:"):
                nxt.append(v)
                continue
            if not isinstance(v, dict):
                continue
            if step.startswith("extension:"):
                url = step.split(":", 1)[1]
                for e in v.get("extension", ()) or ():
                    if isinstance(e, dict) and e.get("url") == url:
                        nxt.append(e)
                continue
            got = v.get(step)
            if got is None:
                for k, kv in v.items():
                    if k.startswith(step) and len(k) > len(step) and k[len(step)].isupper():
                        got = kv
                        break
            if got is None:
                continue
            if isinstance(got, list):
                nxt.extend(got)
            else:
                nxt.append(got)
        current = nxt
    return current


def _actual_choice_type(value: Any, steps: Sequence[str]) -> str | None:
    if not steps or steps == ["$this"]:
        return None
    parent = _values_at(value, steps[:-1]) if len(steps) > 1 else [value]
    last = steps[-1]
    for p in parent:
        if isinstance(p, dict):
            for k in p:
                k = str(k)
                if k.startswith(last) and len(k) > len(last) and k[len(last)].isupper():
                    t = k[len(last) :]
                    low = t[0].lower() + t[1:]
                    return low if low in _PRIMITIVE_NAMES else t
    return None


def _codes_of(v: Any) -> list[tuple[str | None, str]]:
    if isinstance(v, str):
        return [(None, v)]
    if not isinstance(v, dict):
        return []
    codings: list[Any] = v["coding"] if isinstance(v.get("coding"), list) else [v]
    out: list[tuple[str | None, str]] = []
    for c in codings:
        if isinstance(c, dict) and isinstance(c.get("code"), str):
            s = c.get("system")
            out.append((s if isinstance(s, str) else None, c["code"]))
    return out


_PRIMITIVE_NAMES = frozenset(
    {
        "base64Binary",
        "boolean",
        "canonical",
        "code",
        "date",
        "dateTime",
        "decimal",
        "id",
        "instant",
        "integer",
        "markdown",
        "oid",
        "positiveInt",
        "string",
        "time",
        "unsignedInt",
        "uri",
        "url",
        "uuid",
        "xhtml",
    }
)

_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _valid_calendar(value: str) -> bool:
    """Reject dates the regex lets through, such as 2021-02-30."""
    if len(value) < 10:
        return True
    try:
        y, m, d = int(value[0:4]), int(value[5:7]), int(value[8:10])
    except ValueError:
        return False
    if d > _DAYS[m - 1]:
        return False
    return not (m == 2 and d == 29 and not (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)))


def _unused(_: TypeRef) -> None:  # keeps TypeRef imported for type checkers of callers
    return None
