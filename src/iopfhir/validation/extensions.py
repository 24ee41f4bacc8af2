"""Extensions: each one against its definition, and where it may be used.

Lives here: :class:`Extensions` - an extension is walked against the profile its element
names, else the StructureDefinition of its url when loaded (unknown urls are reported: an
error for a modifier extension, a warning otherwise; a cross-version url, which R4 defines for
every element of the other FHIR versions without a StructureDefinition, only as information),
else the element's own tree or the base Extension tree; a loaded definition's ``context``
decides whether the extension is allowed at the element it is on, and its ``isModifier``
whether it belongs in ``modifierExtension``. A message names an extension's url only when it
is a loaded StructureDefinition (a canonical of the definitions); any other url is input.

Imports only sibling modules below the walk (``.constraints``, ``.context``, ``.definitions``,
``.model``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .constraints import Constraints
from .context import Ctx, ObjectWalk, add
from .definitions import Definitions
from .model import ElementNode

__all__ = ["Extensions"]

_OF_TYPE_RX = re.compile(r"\.ofType\((\w+)\)")
#: R4's implicit cross-version extensions (versions.html, "Extensions for converting between
#: versions"): ``http://hl7.org/fhir/[version]/StructureDefinition/extension-[path]`` stands for
#: the element at ``path`` of that other version (DSTU2 1.0, STU3 3.0, R4B 4.3, R5 5.0...)
_XVER_RX = re.compile(
    r"http://hl7\.org/fhir/(?:1\.0|1\.4|3\.0|4\.3|5\.0|6\.0)/StructureDefinition/"
    r"extension-[A-Z][A-Za-z0-9]*(?:\.[a-z][A-Za-z0-9]*(?:\[x\])?)+"
)


class Extensions:
    """Check extensions; ``check_object`` walks them, ``constraints`` runs their invariants."""

    def __init__(
        self, definitions: Definitions, check_object: ObjectWalk, constraints: Constraints
    ) -> None:
        self.definitions = definitions
        self._type_names = definitions.type_names
        self._object = check_object
        self._constraints = constraints

    def check(self, value: Any, node: ElementNode, path: str, ctx: Ctx, root: ElementNode) -> None:
        if not isinstance(value, dict):
            add(ctx, "error", "structure", path, "An extension must be a JSON object")
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
                    self._context(sd, node, path, ctx)
                    _modifier_match(sd, node, path, ctx)
            elif _XVER_RX.fullmatch(url):
                # defined by the spec itself, by the other version's element (its definition,
                # modifier or not, is in that version's package, which is not loaded)
                add(
                    ctx,
                    "information",
                    "not-found",
                    path,
                    "Cross-version extension (an element of another FHIR version): its "
                    "definition in that version is not loaded; it was checked as an Extension",
                )
            else:
                modifier = node.name == "modifierExtension"
                add(
                    ctx,
                    "error" if modifier else "warning",
                    "not-found",
                    path,
                    # the url is input (no StructureDefinition of it is loaded): not said
                    "Unknown extension: its url is not a loaded StructureDefinition"
                    + (" (a modifier extension must be understood)" if modifier else ""),
                )
        if tree is None:
            tree = node if node.children is not None else self.definitions.type_tree("Extension")
            if tree is None:
                return
            self._object(value, tree, "Extension", path, ctx, root)
            ext_root = self.definitions.type_tree("Extension")
            if tree is not ext_root and ext_root is not None:
                self._constraints.check(ext_root, value, path, ctx, "Extension")
        else:
            self._object(value, tree, "Extension", path, ctx, tree)
            self._constraints.check(tree, value, path, ctx, "Extension")
        if node.constraints:
            self._constraints.check(node, value, path, ctx, node.path)

    def _context(self, sd: Mapping[str, Any], node: ElementNode, path: str, ctx: Ctx) -> None:
        """Is the extension defined by ``sd`` allowed where it is? The extended element is
        named two ways: by the instance path (indexes and types dropped:
        ``Questionnaire.item.item``) and by its definition (``node`` is the ``extension``
        element, so its parent's path: through a ``contentReference`` that is the element
        referenced, ``Questionnaire.item``; inside a data type, the type, ``HumanName``)."""
        contexts = sd.get("context")
        if not isinstance(contexts, list) or not contexts:
            return
        rel = path[len(ctx.res_path) :] if path.startswith(ctx.res_path) else path
        resource_type = (
            str(ctx.resource.get("resourceType", "")) if isinstance(ctx.resource, dict) else ""
        )
        where = resource_type + re.sub(r"\[\d+\]", "", rel).rsplit(".", 1)[0]
        where = _OF_TYPE_RX.sub("", where)
        defined = node.path.rsplit(".", 1)[0] if "." in node.path else node.path
        names = {where, defined}
        for c in contexts:
            if not isinstance(c, Mapping):
                continue
            expr = c.get("expression")
            if c.get("type") != "element" or not isinstance(expr, str):
                return  # fhirpath / extension contexts: not judged here
            if expr in ("Element", "Resource", "DomainResource", "BackboneElement"):
                return
            expr = expr.replace("[x]", "")
            if expr in names or (expr == resource_type and "." not in where):
                return
            head = expr.split(".", 1)[0]
            # a datatype context (HumanName.family, string...): the data type of a primitive
            # element is not tracked, so only the element name is compared
            if (head in self._type_names or head[:1].islower()) and (
                "." not in expr or where.endswith("." + expr.split(".", 1)[1])
            ):
                return
        url = sd.get("url")
        add(
            ctx,
            "error",
            "business-rule",
            path,
            f"The extension {url} is not allowed to be used at this point ({where})",
        )


def _modifier_match(sd: Mapping[str, Any], node: ElementNode, path: str, ctx: Ctx) -> None:
    """A modifier extension (its root element ``isModifier``) goes in ``modifierExtension``,
    any other in ``extension``: the Java validator's modifier mismatch, either way an error."""
    elements = (sd.get("snapshot") or sd.get("differential") or {}).get("element")
    first = elements[0] if isinstance(elements, list) and elements else None
    is_modifier = isinstance(first, Mapping) and first.get("isModifier") is True
    used_as_modifier = node.name == "modifierExtension"
    if is_modifier == used_as_modifier:
        return
    url = sd.get("url")
    text = (
        f"The extension {url} is not a modifier extension, but is used as one (modifierExtension)"
        if used_as_modifier
        else f"The extension {url} is a modifier extension: it must be used as a modifierExtension"
    )
    add(ctx, "error", "structure", path, text)
