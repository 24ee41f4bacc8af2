"""Validation throughput: ours beside other people's FHIR, and beside ``jsonschema``.

Usage::

    IOPFHIR_CORPUS=../shared/corpus python benchmarks/bench_validate.py [--patients 50]
    IOPFHIR_CORPUS=../shared/corpus python benchmarks/bench_validate.py --source iop
    IOPFHIR_CORPUS=../shared/corpus python benchmarks/bench_validate.py --source others
    IOPFHIR_CORPUS=../shared/corpus python benchmarks/bench_validate.py --source us-core [-n 2000]

Default (``--source both``): in one run, the two rates issue 11 compares -

* **ours** (``iop``): the resources of a synthetic cohort (``iopfhir.synth``; without it, the
  example episodes repeated) built by ``iopfhir.fhir.build``, each claiming the IOP profiles,
  validated against base R4 + the IOP profiles;
* **others'** (``others``): every clinical resource of the corpus that this project did not
  write - the official R4 examples, the US Core, MCC and PACIO examples and the Synthea
  bundles, Bundles opened into their entries, conformance and definitional resources
  (StructureDefinition, ValueSet, Questionnaire, PlanDefinition...) left out - validated
  against base R4 (vital-signs profiles by code included) + US Core 9.0.0 from the corpus
  for the profiles they claim.

``--source us-core``: a hand-made mix of IOP-like resources claiming US Core 9.0.0 profiles.
Beside each rate, jsonschema against ``corpus/spec/fhir.schema.r4-4.0.1.json`` (each resource
against its own definition) on the same resources (skipped, with a note, when the schema is
not there; ``--no-jsonschema`` skips it).

Every validator is warmed up first on every other resource (profiles and FHIRPath compiled
once) and timed on the others, so the figures are steady-state throughput on one core. Rates
are resources per second of **CPU time** of this process (``time.process_time``): on a shared
machine wall time measures the other processes too. No assertions on time: figures only.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from iopfhir.validation import Validator

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
PROFILE_FOR = {
    "CarePlan": US_CORE + "us-core-careplan",
    "Encounter": US_CORE + "us-core-encounter",
    "Observation": US_CORE + "us-core-observation-screening-assessment",
    "Goal": US_CORE + "us-core-goal",
    "Condition": US_CORE + "us-core-condition-problems-health-concerns",
}
PHQ9_ITEMS = [
    "44250-9",
    "44255-8",
    "44259-0",
    "44254-1",
    "44251-7",
    "44258-2",
    "44252-5",
    "44253-3",
    "44260-8",
]
ANSWERS = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]


def _day(rng: random.Random) -> str:
    return f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _ref(kind: str, i: int) -> dict[str, str]:
    return {"reference": f"{kind}/{kind.lower()}-{i}"}


def make_resources(n: int, *, seed: int = 7, claim_profiles: bool = True) -> list[dict[str, Any]]:
    """A mix of typical IOP resources (no real patient data)."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    makers = [_careplan, _encounter, _observation, _observation, _qr, _goal, _condition]
    for i in range(n):
        res = makers[i % len(makers)](rng, i)
        profile = PROFILE_FOR.get(res["resourceType"])
        if claim_profiles and profile:
            res["meta"] = {"profile": [profile]}
        out.append(res)
    return out


def _text() -> dict[str, str]:
    return {
        "status": "generated",
        "div": '<div xmlns="http://www.w3.org/1999/xhtml">IOP record</div>',
    }


def _careplan(rng: random.Random, i: int) -> dict[str, Any]:
    start = _day(rng)
    return {
        "resourceType": "CarePlan",
        "id": f"cp-{i}",
        "text": _text(),
        "status": "active",
        "intent": "plan",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://hl7.org/fhir/us/core/CodeSystem/careplan-category",
                        "code": "assess-plan",
                    }
                ]
            }
        ],
        "subject": _ref("Patient", i % 50),
        "period": {"start": start},
        "careTeam": [_ref("CareTeam", i % 10)],
        "addresses": [_ref("Condition", i)],
        "goal": [_ref("Goal", i)],
        "activity": [
            {
                "detail": {
                    "kind": "Appointment",
                    "code": {
                        "coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": code}]
                    },
                    "status": rng.choice(["scheduled", "in-progress", "completed"]),
                    "scheduledTiming": {
                        "repeat": {
                            "frequency": 3,
                            "period": 1,
                            "periodUnit": "wk",
                            "duration": 3,
                            "durationUnit": "h",
                        }
                    },
                    "performer": [_ref("Practitioner", i % 7)],
                }
            }
            for code in ("90853", "90834", "90847")
        ],
    }


def _encounter(rng: random.Random, i: int) -> dict[str, Any]:
    day = _day(rng)
    virtual = rng.random() < 0.3
    return {
        "resourceType": "Encounter",
        "id": f"enc-{i}",
        "text": _text(),
        "status": "finished",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "VR" if virtual else "AMB",
        },
        "type": [
            {
                "coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "90853"}],
                "text": "group psychotherapy",
            }
        ],
        "subject": _ref("Patient", i % 50),
        "participant": [{"individual": _ref("Practitioner", i % 7)}],
        "period": {"start": f"{day}T09:00:00Z", "end": f"{day}T12:00:00Z"},
        "episodeOfCare": [_ref("EpisodeOfCare", i % 50)],
        "identifier": [{"system": "http://example.org/iop/session", "value": f"s-{i}"}],
    }


def _observation(rng: random.Random, i: int) -> dict[str, Any]:
    items = [rng.randint(0, 3) for _ in PHQ9_ITEMS]
    return {
        "resourceType": "Observation",
        "id": f"obs-{i}",
        "text": _text(),
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "survey",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "44249-1"}], "text": "PHQ-9"},
        "subject": _ref("Patient", i % 50),
        "effectiveDateTime": f"{_day(rng)}T10:30:00-05:00",
        "performer": [_ref("Practitioner", i % 7)],
        "derivedFrom": [_ref("QuestionnaireResponse", i)],
        "component": [
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "valueCodeableConcept": {
                    "coding": [{"system": "http://loinc.org", "code": ANSWERS[v]}]
                },
            }
            for code, v in zip(PHQ9_ITEMS, items, strict=True)
        ]
        + [
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
                "valueInteger": sum(items),
            }
        ],
    }


def _qr(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "id": f"qr-{i}",
        "text": _text(),
        "questionnaire": "http://example.org/iop/Questionnaire/phq-9",
        "status": "completed",
        "subject": _ref("Patient", i % 50),
        "authored": f"{_day(rng)}T10:30:00Z",
        "item": [
            {
                "linkId": code,
                "answer": [
                    {"valueCoding": {"system": "http://loinc.org", "code": rng.choice(ANSWERS)}}
                ],
            }
            for code in PHQ9_ITEMS
        ],
    }


def _goal(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "resourceType": "Goal",
        "id": f"goal-{i}",
        "text": _text(),
        "lifecycleStatus": "active",
        "achievementStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/goal-achievement",
                    "code": "improving",
                }
            ]
        },
        "description": {"text": "PHQ-9 below 5"},
        "subject": _ref("Patient", i % 50),
        "target": [
            {
                "measure": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
                "detailQuantity": {
                    "value": 5,
                    "comparator": "<",
                    "system": "http://unitsofmeasure.org",
                    "code": "{score}",
                },
                "dueDate": _day(rng),
            }
        ],
    }


def _condition(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": f"cond-{i}",
        "text": _text(),
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "confirmed",
                }
            ]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "problem-list-item",
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {
                    "system": "http://hl7.org/fhir/sid/icd-10-cm",
                    "code": rng.choice(["F33.1", "F41.1", "F10.20"]),
                }
            ]
        },
        "subject": _ref("Patient", i % 50),
        "onsetDateTime": _day(rng),
        "recordedDate": _day(rng),
    }


def run_benchmark(
    resources: Iterable[dict[str, Any]],
    *,
    validator: Validator,
    schema_path: Path | None,
    repeat: int = 1,
) -> dict[str, float]:
    """Validate ``resources`` with both validators; returns resources/s per validator.

    The warm-up runs on every other resource, the timed pass on the rest: profiles and
    FHIRPath are compiled by then, and what our validator remembers of values found clean
    (:mod:`iopfhir.validation.memo`) comes from other resources, as in a real stream - never
    from the very resource being timed (unless ``repeat`` > 1).
    """
    everything = list(resources)
    warm, items = everything[0::2], everything[1::2] or everything
    results: dict[str, float] = {}
    for res in warm:
        validator.validate(res)
    errors = 0
    t0 = time.process_time()
    for _ in range(repeat):
        for res in items:
            errors += len(validator.validate(res).errors)
    dt = time.process_time() - t0
    results["iopfhir"] = len(items) * repeat / dt
    results["iopfhir_errors"] = errors
    if schema_path is not None and schema_path.is_file():
        import jsonschema

        schema = json.loads(schema_path.read_text(encoding="utf-8"))
        checkers: dict[str, Any] = {}

        def checker(rt: str) -> Any:
            if rt not in checkers:
                sub = {k: v for k, v in schema.items() if k not in ("oneOf", "discriminator")}
                sub["$ref"] = f"#/definitions/{rt}"
                checkers[rt] = jsonschema.Draft6Validator(sub)
            return checkers[rt]

        for res in warm:
            checker(res["resourceType"]).is_valid(res)
        bad = 0
        t0 = time.process_time()
        for _ in range(repeat):
            for res in items:
                bad += 0 if checker(res["resourceType"]).is_valid(res) else 1
        dt = time.process_time() - t0
        results["jsonschema"] = len(items) * repeat / dt
        results["jsonschema_invalid"] = bad
    return results


#: conformance and definitional resources: not clinical data
NOT_CLINICAL = frozenset(
    {
        "ActivityDefinition",
        "CapabilityStatement",
        "CodeSystem",
        "ConceptMap",
        "ImplementationGuide",
        "Library",
        "NamingSystem",
        "OperationDefinition",
        "PlanDefinition",
        "Questionnaire",
        "SearchParameter",
        "StructureDefinition",
        "ValueSet",
    }
)
#: the corpus folders of other people's clinical data
OTHERS = (
    "hl7-examples",
    "ig-examples/us-core",
    "ig-examples/mcc-ecareplan-stu1",
    "ig-examples/pacio",
    "synthea",
)


def others_resources(corpus: Path) -> tuple[list[dict[str, Any]], str]:
    """Every clinical resource of the corpus' examples and Synthea bundles (the entries of
    a Bundle each on its own)."""
    out: list[dict[str, Any]] = []

    def take(res: Any) -> None:
        if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
            return
        if res["resourceType"] == "Bundle":
            for entry in res.get("entry") or ():
                if isinstance(entry, dict):
                    take(entry.get("resource"))
            return
        if res["resourceType"] not in NOT_CLINICAL:
            out.append(res)

    files = 0
    for folder in OTHERS:
        for f in sorted((corpus / folder).rglob("*.json")):
            try:
                take(json.loads(f.read_text(encoding="utf-8-sig")))
            except ValueError:
                continue
            files += 1
    return out, f"other people's clinical resources from {files} corpus files"


def iop_resources(patients: int, *, seed: int = 1) -> tuple[list[dict[str, Any]], str]:
    """The resources of a synthetic cohort (or of the examples repeated) and a label."""
    from iopfhir.fhir.build import episode_to_resources

    try:
        from iopfhir.synth import synth_episodes
    except ImportError:
        from iopfhir.domain import load_episodes

        root = Path(__file__).resolve().parents[1]
        examples = [
            ep for f in sorted((root / "examples").glob("*.yaml")) for ep in load_episodes(f)
        ]
        built = [r for ep in examples for r in episode_to_resources(ep)]
        reps = max(1, patients // max(1, len(examples)))
        return built * reps, f"the {len(examples)} example episodes x {reps}"
    out = [r for ep in synth_episodes(patients, seed) for r in episode_to_resources(ep)]
    return out, f"synthetic cohort of {patients} patients (seed {seed})"


def _setup(source: str, args: argparse.Namespace, corpus: Path) -> tuple[Any, Validator, str, str]:
    """(resources, validator, label, profiles) of one source."""
    us_core = corpus / "ig-definitions" / "us-core-9.0.0"
    if source == "iop":
        resources, label = iop_resources(args.patients)
        if args.no_profile:
            resources = [{k: v for k, v in r.items() if k != "meta"} for r in resources]
            return resources, Validator(auto_iop=False), label, "none (meta removed)"
        profiles = "IOP profiles (shipped with iopfhir, claimed in meta.profile)"
        return resources, Validator.with_iop_profiles(), label, profiles
    use_profiles = not args.no_profile and us_core.is_dir()
    validator = Validator([us_core] if use_profiles else [])
    if source == "others":
        resources, label = others_resources(corpus)
        profiles = "base R4" + (" + US Core 9.0.0 (the profiles claimed)" if use_profiles else "")
        return resources, validator, label, profiles
    resources = make_resources(args.n, claim_profiles=use_profiles)
    profiles = "US Core 9.0.0 (claimed in meta.profile)" if use_profiles else "none"
    return resources, validator, "hand-made IOP-like mix", profiles


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="validation throughput")
    p.add_argument(
        "--source",
        choices=("both", "iop", "others", "us-core"),
        default="both",
        help="both (default): ours and others' in one run; iop: synthetic cohort vs the IOP "
        "profiles; others: the corpus' clinical resources; us-core: a hand-made mix vs "
        "US Core 9.0.0",
    )
    p.add_argument("--patients", type=int, default=50, help="cohort size (iop)")
    p.add_argument("-n", type=int, default=2000, help="number of resources (--source us-core)")
    p.add_argument("--no-profile", action="store_true", help="base R4 only")
    p.add_argument("--no-jsonschema", action="store_true", help="our validator only")
    p.add_argument("--repeat", type=int, default=1, help="timed passes over the resources")
    args = p.parse_args(argv)
    corpus = Path(os.environ.get("IOPFHIR_CORPUS", "../shared/corpus"))
    schema = corpus / "spec" / "fhir.schema.r4-4.0.1.json"
    sources = ("iop", "others") if args.source == "both" else (args.source,)
    rates: dict[str, float] = {}
    for source in sources:
        resources, validator, label, profiles = _setup(source, args, corpus)
        mix: dict[str, int] = {}
        for r in resources:
            mix[r["resourceType"]] = mix.get(r["resourceType"], 0) + 1
        top = dict(sorted(mix.items(), key=lambda kv: -kv[1])[:12])
        print(f"[{source}] {len(resources)} resources ({label}): {top}")
        print(f"[{source}] profiles: {profiles}")
        res = run_benchmark(
            resources,
            validator=validator,
            schema_path=None if args.no_jsonschema else schema,
            repeat=args.repeat,
        )
        rates[source] = res["iopfhir"]
        print(
            f"[{source}] iopfhir.validation : {res['iopfhir']:8.0f} resources/s of CPU "
            f"({int(res['iopfhir_errors'])} errors found)"
        )
        if "jsonschema" in res:
            print(
                f"[{source}] jsonschema (R4)    : {res['jsonschema']:8.0f} resources/s of CPU "
                f"({int(res['jsonschema_invalid'])} invalid)"
            )
        elif not args.no_jsonschema:
            print(f"[{source}] jsonschema (R4)    : skipped ({schema} not found)")
    if len(rates) == 2:
        print(
            f"others' / ours: {rates['others'] / rates['iop']:.2f} "
            f"(ours {rates['iop']:.0f}/s, others' {rates['others']:.0f}/s; goal >= 5000/s each)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
