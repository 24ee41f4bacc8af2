"""The validator: load profiles once, validate many resources.

Lives here: :class:`Validator`, a façade over the parts of validation, each in its own module:

* ``resources``   - which trees a resource is walked against, conformance to one profile;
* ``walk``        - the walk of objects and values along element nodes (the hot path);
* ``cardinality`` - one property the general way: JSON shape, choice types, min/max;
* ``primitives``  - primitive types, formats, ranges, fixed/pattern primitive values;
* ``bindings``    - required bindings and codes of known code systems;
* ``references``  - references, contained resources and Bundle entries;
* ``bundles``     - the Bundle index references resolve against, and the Bundle rules;
* ``questionnaires`` - a QuestionnaireResponse against its Questionnaire (when known);
* ``slicing`` and ``discriminators`` - slices and their discriminators;
* ``extensions``  - extensions against their definitions and contexts;
* ``constraints`` - the invariants of each node (evaluated by ``invariants``);
* ``trees``       - where an element's content is defined (own children, content
  references, data type trees);
* ``context``     - the state of one run and the call signatures between the parts;
* ``values``      - small helpers on JSON values;
* ``memo``        - values already found clean against an element, not walked again;
* ``vital_signs`` - the vital-signs profile an Observation is held to by its code.

Reports are lists of :class:`iopfhir.errors.Issue` with FHIRPath locations in the style of the
HL7 Java validator (``CarePlan.activity[0].detail.status``, ``Observation.value.ofType(Quantity)``).
Messages name elements, codes, value sets and profiles - never the data values of a resource
other than codes and urls.

Imports only ``iopfhir.errors`` and sibling modules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from iopfhir.errors import R4_RESOURCE_TYPES, Issue
from iopfhir.fhir.models import as_json

from .constraints import Constraints
from .context import Ctx
from .definitions import IOP_PROFILES, Definitions, ProfileSource
from .invariants import InvariantEngine
from .report import ValidationReport
from .resources import Resources

__all__ = ["Validator"]


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
        sources = [profiles] if isinstance(profiles, str) else list(profiles)
        for p in sources:
            self.loaded_profiles.extend(self.definitions.add(p))
        self._constraints = Constraints(InvariantEngine(), check_invariants)
        self._resources = Resources(self.definitions, self._constraints)
        for p in sources:  # their Questionnaires check QuestionnaireResponses
            self._resources.questionnaires.add(p)

    @classmethod
    def with_iop_profiles(cls, profiles: Iterable[ProfileSource] = (), **kwargs: Any) -> Validator:
        """A validator with the project's profiles loaded (plus any other ``profiles``)."""
        return cls([IOP_PROFILES, *profiles], **kwargs)

    @property
    def invariants(self) -> InvariantEngine:
        """The FHIRPath engine (its ``skipped`` invariants are reported)."""
        return self._constraints.invariants

    @invariants.setter
    def invariants(self, engine: InvariantEngine) -> None:
        self._constraints.invariants = engine

    @property
    def check_invariants(self) -> bool:
        """False: invariants are not evaluated."""
        return self._constraints.check_invariants

    @check_invariants.setter
    def check_invariants(self, on: bool) -> None:
        self._constraints.check_invariants = on

    def validate(
        self, resource: Any, profile: str | Sequence[str] | None = None
    ) -> ValidationReport:
        """Validate one resource (a Bundle's entries are validated too).

        ``profile``: canonical url(s) of loaded profiles to check against, in addition to the
        base definition and the profiles the resource claims in ``meta.profile``.
        """
        resource = as_json(resource)  # a fhir.resources model: its JSON
        ctx = Ctx(issues=[])
        explicit = [profile] if isinstance(profile, str) else list(profile or ())
        for url in explicit:
            if not self.definitions.has(url):
                ctx.issues.append(Issue("error", "not-found", f"Profile {url} is not loaded", None))
        explicit = [u for u in explicit if self.definitions.has(u)]
        if not isinstance(resource, Mapping):
            ctx.issues.append(Issue("fatal", "structure", "Content is not a JSON object", None))
        else:
            rt = resource.get("resourceType")
            # the path starts with the type only when it is one: any other value is input
            root = rt if isinstance(rt, str) and rt in R4_RESOURCE_TYPES else "Resource"
            try:
                self._resources.resource(resource, root, ctx, explicit, top=True)
            finally:
                self._resources.end_run()
        skipped = dict(self.invariants.skipped)
        return ValidationReport.from_issues(ctx.issues, skipped_invariants=skipped)

    def conforms(self, resource: Any, profile: str, *, within: Any = None) -> bool:
        """True when ``resource`` has no errors against ``profile`` (used for slicing and
        target profiles). ``within`` is the validation context whose Bundle resolves
        references."""
        try:
            return self._resources.conforms(resource, profile, within=within)
        finally:
            self._resources.end_run()
