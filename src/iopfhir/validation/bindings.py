"""Coded values: required bindings and codes from known code systems.

Lives here: :class:`Bindings` - a code (``code``/``string``/``uri`` primitive) or a
Coding/CodeableConcept (or a Quantity's code) against the value set of a required binding, and
the checks on every Coding of a known code system (absolute system, not a value set or a
supplement, code defined in a complete code system). Value set expansion is
:mod:`.terminology`'s job.

Messages never hold a code or a system from the input: they name the value set of the
binding (from the definitions) and a system only when the terminology knows it (then it is
a canonical of the definitions too), and the location says which Coding.

Imports only ``iopfhir.errors`` and sibling modules below the walk (``.context``,
``.definitions``, ``.model``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .context import Ctx, add
from .definitions import Definitions
from .model import ElementNode

__all__ = ["Bindings"]


class Bindings:
    """Binding and code checks against the terminology of ``definitions``."""

    def __init__(self, definitions: Definitions) -> None:
        self.definitions = definitions

    def code(self, value: str, vs: str, path: str, ctx: Ctx) -> None:
        """A primitive code against the value set ``vs`` of its required binding."""
        exp = self.definitions.terminology.expand(vs)
        if exp is None:
            _unavailable(ctx, path, vs, "the code was")
        elif exp.check(None, value) is False:
            add(
                ctx,
                "error",
                "code-invalid",
                path,
                f"The value provided is not in the value set {vs}, "
                "and a code is required from this value set",
            )

    def coded(
        self,
        value: Mapping[str, Any],
        type_code: str,
        node: ElementNode,
        path: str,
        ctx: Ctx,
        *,
        additional: str | None = None,
    ) -> None:
        """A Coding/CodeableConcept against the required binding of ``node`` (or against
        ``additional``, the value set of one of its required additional bindings)."""
        vs = additional if additional is not None else node.binding_vs
        assert vs is not None
        exp = self.definitions.terminology.expand(vs)
        if exp is None:
            _unavailable(ctx, path, vs, "codes were")
            return
        said = f"{vs} (an additional binding)" if additional is not None else vs
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
            # a concept with only text says something, so it is a warning, not an error
            add(
                ctx,
                "warning" if type_code == "CodeableConcept" and "text" in value else "error",
                "code-invalid",
                path,
                f"No code provided, and a code from value set {said} is required",
            )
            return
        if any(v is True for v in verdicts) or any(v is None for v in verdicts):
            return
        add(
            ctx,
            "error",
            "code-invalid",
            path,
            f"None of the codes provided ({len(verdicts)}) are in the value set "
            f"{said}, and a code from this value set is required",
        )

    def known_codes(self, value: Mapping[str, Any], type_code: str, path: str, ctx: Ctx) -> None:
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
                    add(
                        ctx,
                        "error",
                        "value",
                        f"{where}.system",
                        "Coding.system must be an absolute reference, not a local reference",
                    )
                    continue
                if self.definitions.terminology.knows_value_set(system) and (system not in systems):
                    add(
                        ctx,
                        "error",
                        "value",
                        f"{where}.system",
                        # a value set this validator knows (without the version the input
                        # may add): a canonical, not input
                        f"The Coding references the value set {system.split('|', 1)[0]}, "
                        "not a code system",
                    )
                    continue
                if system in self.definitions.terminology.supplements:
                    add(
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
                add(
                    ctx,
                    "error",
                    "code-invalid",
                    where,
                    # the system is one the terminology knows (a canonical); the code is
                    # input, so only its place is said
                    f"Unknown code in the CodeSystem {system}",
                )


def _unavailable(ctx: Ctx, path: str, vs: str, what: str) -> None:
    """A binding whose value set cannot be expanded here: said, never guessed."""
    add(ctx, "warning", "not-found", path, f"Value set {vs} is not available; {what} not checked")
