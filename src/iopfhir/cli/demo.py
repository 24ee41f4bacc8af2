"""``iopfhir demo``: the whole job end to end on the packaged example episode.

1. load the mental-health IOP example (an episode file, checked against the input schema);
2. convert it to a FHIR R4 transaction Bundle;
3. validate every resource against R4 and the project's profiles;
4. read the Bundle back and show that the episode round-tripped, and what it holds;
5. when a local FHIR server can be started (``pip install iopfhir[server]``) or
   ``--server URL`` is given: push it, push it again (zero writes), pull it back by the
   patient's identifier, and show that it round-tripped through the server;
6. last, compute the outcome measures over the Bundle and write the outcomes report page
   (``iopfhir report``; ``--report FILE``, else beside ``-o``, else in a new temporary
   folder) and print where it is (``pip install iopfhir[report]``; skipped without it).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from iopfhir.cli._lazy import LazyImports

if TYPE_CHECKING:  # imported when the command runs (``_lazy``): the CLI starts without them
    from iopfhir.cli._output import check_file_target, write_bytes
    from iopfhir.domain import Episode
    from iopfhir.domain.files import parse_episodes, read_structured
    from iopfhir.fhir.bundle import dumps, transaction_bundle
    from iopfhir.fhir.read import read_fhir
    from iopfhir.fhir.summary import summarize

__all__ = ["register", "run"]

_lazy = LazyImports(
    globals(),
    {
        "check_file_target": "iopfhir.cli._output:check_file_target",
        "write_bytes": "iopfhir.cli._output:write_bytes",
        "parse_episodes": "iopfhir.domain.files:parse_episodes",
        "read_structured": "iopfhir.domain.files:read_structured",
        "dumps": "iopfhir.fhir.bundle:dumps",
        "transaction_bundle": "iopfhir.fhir.bundle:transaction_bundle",
        "read_fhir": "iopfhir.fhir.read:read_fhir",
        "summarize": "iopfhir.fhir.summary:summarize",
    },
)
__getattr__ = _lazy.attribute

EXAMPLE = "mental-health-iop.yaml"


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``demo``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="run the whole job on the example episode",
        description="Convert the example IOP episode to FHIR, validate it, read it back; "
        "then push it to a local FHIR server twice, pull it back and compare.",
    )
    p.add_argument("--episode", metavar="FILE", help="an episode file instead of the example")
    p.add_argument("--server", metavar="URL", help="use this FHIR server instead of starting one")
    p.add_argument("--offline", action="store_true", help="skip the server part")
    p.add_argument("-o", "--output", metavar="FILE", help="also write the Bundle here")
    p.add_argument(
        "--report",
        metavar="FILE",
        help="where to write the outcomes report page (default: beside -o, else a new "
        "temporary folder)",
    )
    p.add_argument("--no-report", action="store_true", help="skip the outcomes report")
    p.set_defaults(func=run)
    return p


def _load(path: str | None) -> Episode:
    if path:
        episodes = parse_episodes(read_structured(Path(path)), source=path)
    else:
        from importlib import resources

        ref = resources.files("iopfhir").joinpath(f"examples/{EXAMPLE}")
        with resources.as_file(ref) as file:
            episodes = parse_episodes(read_structured(file), source=EXAMPLE)
    return episodes[0]


def _describe(episode: Episode, out: TextIO) -> None:
    program = episode.program
    print(
        f"  program     {program.name if program else '-'} ({program.type if program else '-'})"
        f", status {episode.status}",
        file=out,
    )
    print(
        f"  team        {sum(len(t.members) for t in episode.teams)} members; "
        f"{len(episode.diagnoses)} diagnoses; {len(episode.care_plans)} care plans "
        f"({', '.join(p.kind for p in episode.care_plans)})",
        file=out,
    )
    # attendance counts the patient's own sessions, not meetings held without them
    own = [s for s in episode.sessions if s.patient_present]
    by_status: dict[str, int] = {}
    for s in own:
        by_status[s.status] = by_status.get(s.status, 0) + 1
    tele = sum(1 for s in own if s.telehealth)
    without = len(episode.sessions) - len(own)
    print(
        f"  sessions    {len(own)} ("
        + ", ".join(f"{n} {k}" for k, n in by_status.items())
        + f"; {tele} by telehealth)"
        + (f"; {without} meetings without the patient" if without else ""),
        file=out,
    )
    intensity = _intensity(episode)
    if intensity:
        print(f"  intensity   {intensity}", file=out)
    _describe_continuity(episode, out)
    series: dict[str, list[tuple[str, int, str]]] = {}
    for m in sorted(episode.measures, key=lambda m: m.date):
        if m.score is not None:
            series.setdefault(m.instrument, []).append(
                (m.date.date().isoformat(), m.score, m.band or "")
            )
    for inst, points in series.items():
        trend = " -> ".join(f"{score} ({band})" for _, score, band in points)
        first, last = points[0][1], points[-1][1]
        notes = []
        if inst in ("phq-9", "gad-7") and first > 0 and last <= first / 2:
            notes.append("response")
        if inst in ("phq-9", "gad-7") and last < 5:
            notes.append("remission")
        flags = sorted({f for m in episode.measures if m.instrument == inst for f in m.flags})
        if flags:
            notes.append("safety flags: " + ", ".join(flags))
        extra = f"  [{'; '.join(notes)}]" if notes else ""
        print(f"  {inst:<11} {trend}{extra}", file=out)


def _describe_continuity(episode: Episode, out: TextIO) -> None:
    """Who carried the patient from the hospital through the IOP into aftercare, and the
    medications and allergies that travel with them."""
    continuity = episode.continuity()
    spanning = continuity.spanning()
    print(
        "  continuity  "
        + (", ".join(spanning) + " span inpatient -> IOP -> aftercare" if spanning else "-"),
        file=out,
    )
    for clinician in continuity.clinicians:
        if clinician.practitioner not in spanning:
            phases = ", ".join(clinician.phases)
            print(f"              {clinician.practitioner}: {phases}", file=out)
    if episode.medications or episode.prescriptions or episode.allergies:
        print(
            f"  medications {len(episode.medications)} taken, "
            f"{len(episode.prescriptions)} prescribed, {len(episode.allergies)} allergies",
            file=out,
        )


def _intensity(episode: Episode) -> str:
    """The weeks under and over the program's intensity (hours the patient attended)."""
    weeks = episode.weekly_hours()
    if not weeks:
        return ""
    program = episode.program
    target = (
        f"{program.min_hours_per_week:g}-{program.max_hours_per_week:g} h over "
        f"{program.min_days_per_week}-{program.max_days_per_week} days"
        if program
        else "9-20 h over 3-5 days"
    )
    parts = [f"{target} a week"]
    for label, flagged in (
        ("under", [w for w in weeks if w.below_minimum]),
        ("over", [w for w in weeks if w.above_maximum]),
    ):
        listed = ", ".join(f"{w.week_start} {w.hours:g} h {w.days} d" for w in flagged)
        parts.append(
            f"{len(flagged)} of {len(weeks)} weeks {label}" + (f": {listed}" if listed else "")
        )
    return "; ".join(parts)


def _server_step(args: argparse.Namespace, episode: Episode, out: TextIO) -> tuple[int, int]:
    """(exit status, the number of the next step)."""
    if args.offline:
        return 0, 5
    if args.server:
        print(f"5. server     {args.server}", file=out)
        return _sync(args.server, episode, out), 9
    from iopfhir.sync import LocalServerError, localserver

    try:
        with localserver() as base:
            print(f"5. server     started a local FHIR R4 server at {base}", file=out)
            return _sync(base, episode, out), 9
    except LocalServerError as exc:
        print(f"5. server     skipped: {exc}", file=out)
        return 0, 6


def _report_target(args: argparse.Namespace) -> Path:
    if args.report:
        return Path(args.report)
    if args.output:
        out = Path(args.output)
        return out.with_name(out.stem + ".report.html")
    return Path(tempfile.mkdtemp(prefix="iopfhir-demo-")) / "outcomes-report.html"


def _report_step(args: argparse.Namespace, data: bytes, step: int, out: TextIO) -> int:
    """Compute the outcomes over the Bundle and write the report page; 0 when written or
    skipped for want of the report extra."""
    if args.no_report:
        return 0
    from iopfhir.outcomes import OutcomesError, bundle_resources

    try:
        from iopfhir.outcomes.report import build_report
        from iopfhir.views import Source, get_engine

        engine = get_engine("duckdb")
    except (ImportError, OutcomesError, LookupError) as exc:
        print(
            f"{step}. report     skipped: {type(exc).__name__} (pip install 'iopfhir[report]')",
            file=out,
        )
        return 0
    try:
        with Source.from_resources(bundle_resources(json.loads(data))) as source:
            page = build_report(source, engine)
    except OutcomesError as exc:
        print(f"{step}. report     skipped: {exc}", file=out)
        return 0
    finally:
        engine.close()
    target = _report_target(args)
    encoded = page.encode("utf-8")
    write_bytes(target, encoded)
    print(
        f"{step}. report     outcomes report ({len(encoded):,} bytes, opens offline) written to "
        f"{target.resolve()}",
        file=out,
    )
    return 0


def _sync(base: str, episode: Episode, out: TextIO) -> int:
    from iopfhir.client import FhirClient
    from iopfhir.sync import pull, push

    with FhirClient(base) as client:
        first = push(client, [episode])
        print(f"6. push       {json.dumps(first.summary())}", file=out)
        second = push(client, [episode])
        print(f"7. push again {json.dumps(second.summary())}", file=out)
        ident = episode.patient.identifiers[0]
        pulled = pull(client, (ident.system, ident.value))
    print(f"8. pull       {json.dumps(summarize(pulled))}", file=out)
    same = len(pulled.episodes) == 1 and _compare(episode, pulled.episodes[0], out)
    writes = second.summary()
    ok = same and writes["created"] == 0 and writes["updated"] == 0 and writes["failed"] == 0
    return 0 if ok else 1


def _normal(value: Any) -> Any:
    """Lists of keyed parts sorted by key: a server returns resources in its own order."""
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_normal(v) for v in value]
        if items and all(isinstance(v, dict) and "key" in v for v in items):
            items.sort(key=lambda v: v["key"])
        return items
    return value


def _compare(original: Episode, pulled: Episode, out: TextIO) -> bool:
    """Print how the pulled episode compares with the pushed one; True when nothing that a
    server can link to the patient was lost."""
    want = _normal(original.model_dump(mode="json"))
    back = _normal(pulled.model_dump(mode="json"))
    if want == back:
        print("   round trip through the server: identical (lists in server order)", file=out)
        return True
    # An organization that no part of the episode refers to has no link from the patient
    # on a server, so a pull cannot find it; everything else must be equal.
    rest = json.dumps({k: v for k, v in want.items() if k != "organizations"})
    unlinked = [o["key"] for o in want["organizations"] if f'"{o["key"]}"' not in rest]
    want["organizations"] = [o for o in want["organizations"] if o["key"] not in unlinked]
    if want == back:
        print(
            "   round trip through the server: identical (lists in server order), except "
            f"{len(unlinked)} organization(s) that nothing in the episode refers to, which "
            "a server cannot link to the patient",
            file=out,
        )
        return True
    fields = sorted(k for k in set(want) | set(back) if want.get(k) != back.get(k))
    print(f"   round trip through the server: DIFFERENT in {', '.join(fields)}", file=out)
    return False


@_lazy.needed
def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the demo; returns 0 when every step did what it should."""
    out = out or sys.stdout
    if args.output:
        check_file_target(args.output)  # before any work
    if args.report and not args.no_report:
        check_file_target(args.report)
    episode = _load(args.episode)
    print(
        f"1. loaded     episode {episode.key} from {args.episode or 'the packaged example'}",
        file=out,
    )
    bundle = transaction_bundle([episode])
    data = dumps(bundle)
    if args.output:
        write_bytes(args.output, data)
    types: dict[str, int] = {}
    for entry in bundle["entry"]:
        rtype = entry["resource"]["resourceType"]
        types[rtype] = types.get(rtype, 0) + 1
    print(
        f"2. converted  {len(bundle['entry'])} resources, {len(data):,} bytes: "
        + ", ".join(f"{t} {n}" for t, n in sorted(types.items())),
        file=out,
    )
    errors = _validate(bundle, out)
    back = read_fhir(data)
    same = back.episodes == [episode]
    print(f"4. read back  {json.dumps(summarize(back))}", file=out)
    print(f"   round trip: {'identical' if same else 'DIFFERENT'}", file=out)
    _describe(episode, out)
    status = 0 if same and errors == 0 else 1
    server, step = _server_step(args, episode, out)
    return max(status, server, _report_step(args, data, step, out))


def _validate(bundle: dict[str, Any], out: TextIO) -> int:
    from iopfhir.validation import Validator

    validator = _iop_validator(Validator)
    errors = warnings = 0
    report = validator.validate(bundle)
    errors = len(report.errors)
    warnings = len(report.warnings)
    print(
        f"3. validated  against FHIR R4 4.0.1 and the IOP profiles: {errors} errors, "
        f"{warnings} warnings",
        file=out,
    )
    for issue in report.errors[:10]:
        print(f"   {issue}", file=out)
    return errors


def _iop_validator(cls: Any) -> Any:
    factory = getattr(cls, "with_iop_profiles", None)
    return factory() if factory else cls()
