"""A QuestionnaireResponse against its Questionnaire, when the validator has that Questionnaire.

Lives here: :class:`QuestionnaireIndex` - the Questionnaires a validator knows, by canonical
url: those loaded with the profiles (files, folders, packages), those of the project's own
package (when the IOP profiles are loaded or may be loaded on demand), and - first - those in
the Bundle being validated; and :func:`check_response`, the rules:

* every ``linkId`` of the response is an item of the Questionnaire, at the same place in the
  tree (children of a group or of an answer);
* an answer's ``value[x]`` fits the item's ``type`` (``choice`` → ``valueCoding`` or the
  type of its answer options, ``integer`` → ``valueInteger``...); ``group`` and ``display``
  items hold no answers;
* a coded answer of a ``choice`` item with ``answerOption`` is one of the options (system
  and code);
* ``repeats`` false: one answer, and the item once among its siblings;
* a ``completed`` / ``amended`` response answers every ``required`` item (under groups and
  answers that are present); an item with ``enableWhen`` is not held to it (it may be
  disabled, and the conditions are not evaluated here).

Issues carry FHIRPath locations (``QuestionnaireResponse.item[2].answer[0]``) and name the
Questionnaire by its canonical url; linkIds and answers are input and never quoted. A
response whose Questionnaire is not known is not checked here (the structure checks still
run). The Questionnaire itself is trusted: it is a definition, validated on its own.

Imports only ``iopfhir.errors`` and sibling modules below the façade.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from iopfhir.errors import Issue

from .bundles import BundleIndex
from .definitions import IOP_PROFILES, ProfileSource, _read_sources, iop_package

__all__ = ["QuestionnaireIndex", "check_response"]

#: ``value[x]`` an answer of each item type may use (``choice`` adds its options' types).
_ANSWER_TYPES: Mapping[str, frozenset[str]] = {
    "boolean": frozenset({"valueBoolean"}),
    "decimal": frozenset({"valueDecimal"}),
    "integer": frozenset({"valueInteger"}),
    "date": frozenset({"valueDate"}),
    "dateTime": frozenset({"valueDateTime"}),
    "time": frozenset({"valueTime"}),
    "string": frozenset({"valueString"}),
    "text": frozenset({"valueString"}),
    "url": frozenset({"valueUri"}),
    "choice": frozenset({"valueCoding"}),
    "open-choice": frozenset({"valueCoding", "valueString"}),
    "attachment": frozenset({"valueAttachment"}),
    "reference": frozenset({"valueReference"}),
    "quantity": frozenset({"valueQuantity"}),
}
_NO_ANSWERS = frozenset({"group", "display"})
_MUST_ANSWER = frozenset({"completed", "amended"})


def _items(value: Any) -> list[Mapping[str, Any]]:
    return [i for i in value if isinstance(i, Mapping)] if isinstance(value, list) else []


def _questionnaires(resources: Iterable[Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for res in resources:
        if isinstance(res, Mapping) and res.get("resourceType") == "Questionnaire":
            url = res.get("url")
            if isinstance(url, str) and url:
                yield url, res


class QuestionnaireIndex:
    """Questionnaires by canonical url (a ``|version`` suffix is ignored on lookup)."""

    def __init__(self) -> None:
        self._loaded: dict[str, Mapping[str, Any]] = {}
        self._package: dict[str, Mapping[str, Any]] | None = None
        self._bundle: tuple[BundleIndex, dict[str, Mapping[str, Any]]] | None = None

    def add(self, source: ProfileSource) -> int:
        """Keep the Questionnaires of a profile source (files, folders, packages, dicts)."""
        if isinstance(source, str) and source == IOP_PROFILES:
            return 0  # the project's package is looked at on demand
        found = 0
        for res in _read_sources(source):
            inner: list[Any] = [res]
            if res.get("resourceType") == "Bundle":
                inner = [e.get("resource") for e in _items(res.get("entry"))]
            for url, q in _questionnaires(inner):
                self._loaded.setdefault(url, q)
                found += 1
        return found

    def _package_index(self) -> dict[str, Mapping[str, Any]]:
        if self._package is None:
            self._package = dict(_questionnaires(iop_package()))
        return self._package

    def _bundle_index(self, bundle: BundleIndex) -> dict[str, Mapping[str, Any]]:
        if self._bundle is None or self._bundle[0] is not bundle:
            found: dict[str, Mapping[str, Any]] = {}
            for versions in bundle.versions.values():
                for url, q in _questionnaires(versions):
                    found.setdefault(url, q)
            for res in bundle.by_type_id.values():
                for url, q in _questionnaires([res]):
                    found.setdefault(url, q)
            self._bundle = (bundle, found)
        return self._bundle[1]

    def find(
        self, canonical: Any, bundle: BundleIndex | None = None, *, package: bool = True
    ) -> Mapping[str, Any] | None:
        """The Questionnaire of ``canonical``: from ``bundle``, the loaded sources, then the
        project's package (when ``package``)."""
        if not isinstance(canonical, str) or not canonical:
            return None
        url = canonical.split("|", 1)[0]
        if bundle is not None:
            q = self._bundle_index(bundle).get(url)
            if q is not None:
                return q
        q = self._loaded.get(url)
        if q is None and package:
            q = self._package_index().get(url)
        return q


def check_response(
    qr: Mapping[str, Any], questionnaire: Mapping[str, Any], path: str, issues: list[Issue]
) -> None:
    """Append the issues of QuestionnaireResponse ``qr`` (at ``path``) against
    ``questionnaire``."""
    url = str(questionnaire.get("url"))
    must_answer = qr.get("status") in _MUST_ANSWER
    _check_level(
        _items(qr.get("item")),
        _items(questionnaire.get("item")),
        f"{path}.item",
        url,
        must_answer,
        issues,
        where=path,
    )


def _check_level(
    given: list[Mapping[str, Any]],
    defined: list[Mapping[str, Any]],
    path: str,
    url: str,
    must_answer: bool,
    issues: list[Issue],
    *,
    where: str,
) -> None:
    by_link = {str(d.get("linkId")): d for d in defined if isinstance(d.get("linkId"), str)}
    seen: dict[str, int] = {}
    for i, item in enumerate(given):
        here = f"{path}[{i}]"
        link = item.get("linkId")
        definition = by_link.get(link) if isinstance(link, str) else None
        if definition is None:
            issues.append(
                Issue(
                    "error",
                    "structure",
                    f"The item's linkId is not an item of Questionnaire {url} at this place",
                    f"{here}.linkId",
                )
            )
            continue
        seen[str(link)] = seen.get(str(link), 0) + 1
        if seen[str(link)] == 2 and definition.get("repeats") is not True:
            issues.append(
                Issue(
                    "error",
                    "structure",
                    f"The item appears more than once, but Questionnaire {url} does not let it "
                    "repeat",
                    here,
                )
            )
        _check_item(item, definition, here, url, must_answer, issues)
    if must_answer:
        for n, d in enumerate(defined):
            link = d.get("linkId")
            conditional = bool(d.get("enableWhen"))  # maybe disabled: not required then
            required = d.get("required") is True and not conditional
            if required and isinstance(link, str) and link not in seen:
                issues.append(
                    Issue(
                        "error",
                        "required",
                        f"Item {n + 1} of this level of Questionnaire {url} is required but "
                        "not answered",
                        where,
                    )
                )


def _check_item(
    item: Mapping[str, Any],
    definition: Mapping[str, Any],
    here: str,
    url: str,
    must_answer: bool,
    issues: list[Issue],
) -> None:
    kind = definition.get("type")
    answers = _items(item.get("answer"))
    children = _items(definition.get("item"))
    if kind in _NO_ANSWERS:
        if answers:
            issues.append(
                Issue(
                    "error",
                    "structure",
                    f"A {kind} item holds no answers (Questionnaire {url})",
                    f"{here}.answer",
                )
            )
        _check_level(
            _items(item.get("item")), children, f"{here}.item", url, must_answer, issues, where=here
        )
        return
    conditional = bool(definition.get("enableWhen"))
    if must_answer and definition.get("required") is True and not conditional and not answers:
        issues.append(
            Issue(
                "error",
                "required",
                f"The item is required by Questionnaire {url} but has no answer",
                here,
            )
        )
    if len(answers) > 1 and definition.get("repeats") is not True:
        issues.append(
            Issue(
                "error",
                "structure",
                f"The item has {len(answers)} answers, but Questionnaire {url} allows one",
                f"{here}.answer",
            )
        )
    options = _items(definition.get("answerOption"))
    allowed = set(_ANSWER_TYPES.get(str(kind), ()))
    if kind in ("choice", "open-choice"):
        allowed |= {k for o in options for k in o if k.startswith("value")}
    for j, answer in enumerate(answers):
        at = f"{here}.answer[{j}]"
        values = [k for k in answer if k.startswith("value")]
        for key in values:
            if allowed and key not in allowed:
                issues.append(
                    Issue(
                        "error",
                        "structure",
                        f"An answer of a {kind} item cannot be {key} (Questionnaire {url}; "
                        f"expected {' or '.join(sorted(allowed))})",
                        f"{at}.{key}",
                    )
                )
            elif key == "valueCoding" and options and not _in_options(answer[key], options):
                issues.append(
                    Issue(
                        "error",
                        "code-invalid",
                        f"The coded answer is not one of the answer options of Questionnaire {url}",
                        f"{at}.valueCoding",
                    )
                )
        _check_level(
            _items(answer.get("item")), children, f"{at}.item", url, must_answer, issues, where=at
        )
    if not answers and _items(item.get("item")):
        _check_level(
            _items(item.get("item")), children, f"{here}.item", url, must_answer, issues, where=here
        )


def _in_options(coding: Any, options: list[Mapping[str, Any]]) -> bool:
    if not isinstance(coding, Mapping):
        return False
    system, code = coding.get("system"), coding.get("code")
    for option in options:
        allowed = option.get("valueCoding")
        if not isinstance(allowed, Mapping) or allowed.get("code") != code:
            continue
        if system is None or allowed.get("system") is None or allowed.get("system") == system:
            return True
    return False
