"""Resources: which trees a resource is walked against, and conformance to one profile.

Lives here: :class:`Resources` - for a resource: its type (known, concrete, allowed where it
is), the profiles it is held to (asked for, claimed in ``meta.profile`` when loaded, for the
resource's type and usable), else its base definition; then the walk of each tree, with the
Bundle index when the resource is a Bundle and the Bundle rules after it, and the ids of its
contained resources (unique).
:meth:`Resources.conforms` checks one resource against one profile, silently (slicing by
profile and target profiles use it).

Imports only ``iopfhir.errors`` and sibling modules below the façade.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from iopfhir.errors import InputError

from .bundles import bundle_index, bundle_rules
from .constraints import Constraints
from .context import ABSTRACT_RESOURCE, Ctx, add
from .definitions import Definitions
from .model import ElementNode
from .questionnaires import QuestionnaireIndex, check_response
from .references import duplicate_contained_ids
from .vital_signs import vital_signs_profile
from .walk import Walker

__all__ = ["Resources"]


class Resources:
    """Validate resources of ``definitions``; owns the :class:`~.walk.Walker`."""

    def __init__(self, definitions: Definitions, constraints: Constraints) -> None:
        self.definitions = definitions
        self._resource_types = definitions.resource_types
        self._conforming: set[tuple[int, str]] = set()
        self._known: dict[tuple[int, str, int], bool] = {}
        self._known_keep: list[Any] = []  # what the ids in _known are the ids of
        self._walker = Walker(definitions, constraints, self.resource, self.conforms)
        #: Questionnaires a QuestionnaireResponse is checked against (``.questionnaires``)
        self.questionnaires = QuestionnaireIndex()

    def conforms(self, resource: Any, profile: str, *, within: Any = None) -> bool:
        """True when ``resource`` has no errors against ``profile`` (used for slicing and
        target profiles). ``within`` is the validation context whose Bundle resolves
        references."""
        key = (id(resource), profile)
        if key in self._conforming:
            return True  # a reference cycle: assume conformance while the check is running
        bundle = within.bundle if isinstance(within, Ctx) else None
        # within one run, a resource's answer for a profile is asked again for every
        # reference to it (and for theirs, recursively): answered once per Bundle
        known_key = (id(resource), profile, id(bundle))
        known = self._known.get(known_key)
        if known is not None:
            return known
        self._conforming.add(key)
        try:
            ctx = Ctx(issues=[], silent=True)
            if isinstance(within, Ctx):
                ctx.bundle, ctx.full_url = within.bundle, within.full_url
            self.resource(
                resource,
                str(resource.get("resourceType", "Resource")),
                ctx,
                [profile],
                top=False,
                only_explicit=True,
            )
            answer = not any(i.severity in ("error", "fatal") for i in ctx.issues)
        finally:
            self._conforming.discard(key)
        self._known[known_key] = answer
        self._known_keep.append((resource, bundle))
        return answer

    def end_run(self) -> None:
        """Forget the conformance answers of a run (they are keyed by the ids of its
        resources, which are theirs only while the run holds them)."""
        self._known.clear()
        self._known_keep.clear()

    def resource(
        self,
        res: Mapping[str, Any],
        path: str,
        ctx: Ctx,
        profiles: Sequence[str] = (),
        *,
        top: bool = False,
        only_explicit: bool = False,
        container: Any = None,
        allowed_types: Sequence[str] = (),
    ) -> None:
        rt = res.get("resourceType")
        if not isinstance(rt, str):
            add(ctx, "error", "structure", path, "Resource has no resourceType property")
            return
        if rt not in self._resource_types or rt in ABSTRACT_RESOURCE:
            add(ctx, "error", "structure", path, "Unknown resource type")  # rt is input
            return
        if (
            allowed_types
            and rt not in allowed_types
            and not (set(allowed_types) & ABSTRACT_RESOURCE)
        ):
            add(
                ctx,
                "error",
                "structure",
                path,
                f"Resource type {rt} is not allowed here (expected "
                f"{' or '.join(sorted(allowed_types))})",
            )
        trees = self._trees(res, rt, path, ctx, profiles, only_explicit)
        if rt == "Observation" and not only_explicit:
            self._vital_signs(res, path, ctx, trees)
        if not trees:
            tree = self.definitions.type_tree(rt)
            if tree is None:
                add(ctx, "error", "structure", path, "Unknown resource type")  # rt is input
                return
            trees.append((rt, tree))
        saved = (ctx.resource, ctx.root_resource, ctx.bundle, ctx.full_url, ctx.res_path)
        ctx.res_path = path
        ctx.resource = res
        ctx.root_resource = container if container is not None else res
        if rt == "Bundle":
            ctx.bundle = bundle_index(res)
        try:
            for _url, tree in trees:
                self._walker.check_object(res, tree, rt, path, ctx, tree, is_resource=True)
        finally:
            ctx.resource, ctx.root_resource, ctx.bundle, ctx.full_url, ctx.res_path = saved
        contained = res.get("contained")
        # once per resource, whatever the trees (one lookup when there is nothing to compare)
        if type(contained) is list and len(contained) > 1:
            duplicate_contained_ids(contained, path, ctx)
        if rt == "Bundle":
            bundle_rules(res, path, ctx.issues, self._resource_types)
        elif rt == "QuestionnaireResponse" and not ctx.silent:
            self._check_response(res, path, ctx)

    def _vital_signs(
        self,
        res: Mapping[str, Any],
        path: str,
        ctx: Ctx,
        trees: list[tuple[str, ElementNode]],
    ) -> None:
        """R4: an Observation with a vital-sign code conforms to that vital-signs profile
        (as the HL7 Java validator applies it), whatever profiles it claims."""
        url = vital_signs_profile(res)
        if url is None or any(u == url for u, _ in trees):
            return
        tree = self.definitions.tree(url)
        if tree is None:
            return
        trees.append((url, tree))
        if not ctx.silent:
            add(
                ctx,
                "information",
                "informational",
                path,
                f"Checked against {url}: the FHIR specification requires it of an "
                "Observation with this vital-sign code",
            )

    def _check_response(self, res: Mapping[str, Any], path: str, ctx: Ctx) -> None:
        """Against its Questionnaire, when one is known (the project's own when the IOP
        profiles are or may be loaded)."""
        package = self.definitions.auto_iop or self.definitions._iop_loaded
        found = self.questionnaires.find(res.get("questionnaire"), ctx.bundle, package=package)
        if found is not None:
            check_response(res, found, path, ctx.issues)

    def _trees(
        self,
        res: Mapping[str, Any],
        rt: str,
        path: str,
        ctx: Ctx,
        profiles: Sequence[str],
        only_explicit: bool,
    ) -> list[tuple[str, ElementNode]]:
        """(url, tree) of each usable profile: ``profiles``, then those claimed in
        ``meta.profile`` (unless ``only_explicit``)."""
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
                        add(
                            ctx,
                            "warning",
                            "not-found",
                            f"{path}.meta.profile[{i}]",
                            # the url is input (not a loaded definition): not said
                            "The profile claimed is not loaded; the resource was not checked "
                            "against it",
                        )
        seen: set[str] = set()
        for url in urls:
            base_url = url.split("|", 1)[0]
            if base_url in seen:
                continue
            seen.add(base_url)
            sd_type = self.definitions.sd_type(base_url)
            if sd_type != rt:
                add(
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
                add(
                    ctx,
                    "warning" if claimed_only else "error",
                    "not-supported",
                    path,
                    f"Profile {base_url} cannot be used: {exc}",
                )
                continue
            if tree is not None:
                trees.append((base_url, tree))
        return trees
