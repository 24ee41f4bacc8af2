"""``iopfhir import``: FHIR R4 JSON (any Bundle, resources, NDJSON) → episode file or summary.

Import is faithful or loud: every value the IOP model did not take as written is printed
on stderr as one warning line, its FHIRPath and the reason (``iopfhir: warning:
Patient.birthDate: not a valid date (dropped)``), never the value; ``--strict`` makes any
warning an error (exit 2, nothing written).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO

from iopfhir.cli._lazy import LazyImports
from iopfhir.cli._options import add_program_code_option, add_time_zone_option, program_codes

if TYPE_CHECKING:  # imported when the command runs (``_lazy``): the CLI starts without them
    import orjson
    import yaml

    from iopfhir.cli._output import atomic_file, check_file_target
    from iopfhir.cli._progress import progress
    from iopfhir.domain import Episode
    from iopfhir.domain.files import dump_episode
    from iopfhir.errors import FhirInputError
    from iopfhir.fhir.read import ImportResult, read_fhir_stream
    from iopfhir.fhir.summary import summarize

__all__ = ["register", "run"]

_lazy = LazyImports(
    globals(),
    {
        "orjson": "orjson",
        "yaml": "yaml",
        "atomic_file": "iopfhir.cli._output:atomic_file",
        "check_file_target": "iopfhir.cli._output:check_file_target",
        "progress": "iopfhir.cli._progress:progress",
        "dump_episode": "iopfhir.domain.files:dump_episode",
        "FhirInputError": "iopfhir.errors:FhirInputError",
        "ImportResult": "iopfhir.fhir.read:ImportResult",
        "read_fhir_stream": "iopfhir.fhir.read:read_fhir_stream",
        "summarize": "iopfhir.fhir.summary:summarize",
    },
)
__getattr__ = _lazy.attribute


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``import``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "import",
        help="read FHIR R4 into episode files",
        description="Read FHIR R4 JSON (a Bundle of any type, resources, NDJSON, or a "
        "directory of them; each file may be gzip-compressed, .ndjson.gz / .json.gz) into the "
        "IOP model. Writes an episode file (YAML when -o ends in "
        ".yaml/.yml, else JSON), or with --summary prints one JSON object of counts.",
    )
    p.add_argument(
        "input",
        metavar="FHIR",
        help="JSON or NDJSON file (or .gz of one), a directory, or - for stdin",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="episode file (default: stdout)")
    p.add_argument("--summary", action="store_true", help="print a JSON summary of counts")
    p.add_argument(
        "--strict",
        action="store_true",
        help="fail (exit 2, nothing written) when anything in the input could not be "
        "taken as written (each is printed as a warning with its FHIRPath)",
    )
    add_time_zone_option(p, "the input")
    add_program_code_option(p, "the input")
    p.set_defaults(func=run)
    return p


@_lazy.needed
def run(args: argparse.Namespace) -> int:
    """Run ``import``: the input is read patient by patient (``read_fhir_stream``), episodes
    are spooled to a temporary file, and the output is written once the whole input has been
    read (so ``--strict`` can still refuse, and a file is replaced atomically)."""
    if args.output:
        check_file_target(args.output)  # before any input is read
    local = program_codes(args)  # checked together, before any input is read
    source: str | bytes = sys.stdin.buffer.read() if args.input == "-" else args.input
    with _few_collections():
        return _run(args, source, local)


@contextmanager
def _few_collections() -> Iterator[None]:
    """Fewer garbage collections while the input is read (restored afterwards).

    The reader makes and drops a patient's worth of objects at a time, and what it keeps
    (the library, its schemas and terminology) is never garbage: with the default
    thresholds the collector scans them every few hundred allocations, a fifth of the CPU
    time of an import. Frozen, they are left out of every collection, and a young
    generation of 50,000 objects is collected as often as a patient's worth is made."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _run(args: argparse.Namespace, source: str | bytes, local: dict[tuple[str, str], str]) -> int:
    result = ImportResult()
    with progress(None, "import", unit="resources") as tick, tempfile.TemporaryFile() as spool:

        def report(phase: str, done: int, total: int | None) -> None:
            if phase == "patients" and done == 1:
                tick.to(0)  # the bar counts resources read, then patients mapped
            if phase == "patients" or total is None:
                tick.total = total
            tick.to(done)

        episodes = read_fhir_stream(
            source,
            result,
            progress=report,
            time_zone=getattr(args, "time_zone", None),
            program_codes=local,
        )
        if args.summary:
            counts = summarize(result, episodes, unmapped=True)
        else:
            written = _spool(episodes, spool)
        _warn(result, strict=getattr(args, "strict", False))
        if args.summary:
            print(json.dumps(counts))
            return 0
        spool.seek(0)
        yaml_out = bool(args.output and args.output.endswith((".yaml", ".yml")))
        if args.output in (None, "-"):
            _write_episodes(spool, written, sys.stdout.buffer, yaml_out=yaml_out)
            sys.stdout.buffer.flush()
        else:
            with atomic_file(args.output) as handle:
                _write_episodes(spool, written, handle, yaml_out=yaml_out)
    if result.ignored or result.unmapped:
        skipped = sum(result.ignored.values()) + sum(result.unmapped.values())
        print(
            f"read {written} episodes; {skipped} resources or parts not mapped (see --summary)",
            file=sys.stderr,
        )
    return 0


def _warn(result: ImportResult, *, strict: bool) -> None:
    """Every warning on stderr; with ``strict``, any warning is an error."""
    warnings = result.warnings
    for warning in warnings:
        print(f"iopfhir: warning: {warning}", file=sys.stderr)
    if warnings and strict:
        n = sum(w.count for w in warnings)
        raise FhirInputError(f"{n} values not taken as written (--strict); nothing written")


def _spool(episodes: Iterable[Episode], spool: BinaryIO) -> int:
    """Each episode as one line of compact JSON; return how many."""
    n = 0
    for episode in episodes:
        spool.write(orjson.dumps(dump_episode(episode)) + b"\n")
        n += 1
    return n


def _write_episodes(spool: BinaryIO, count: int, out: BinaryIO, *, yaml_out: bool) -> None:
    """The episode file, byte for byte what ``dump_episodes`` + ``json.dumps(indent=1)`` (or
    ``yaml.safe_dump``) give for the whole list, written one episode at a time: one episode
    as an object, several (or none) as ``{"episodes": [...]}``."""
    items = (orjson.loads(line) for line in spool)
    if yaml_out:
        if count == 1:
            out.write(_yaml(next(items)))
            return
        if count == 0:
            out.write(_yaml({"episodes": []}))
            return
        out.write(b"episodes:\n")
        for item in items:  # a block sequence under a key is not indented: the same text
            out.write(_yaml([item]))
        return
    if count == 1:
        out.write(json.dumps(next(items), indent=1, ensure_ascii=False).encode() + b"\n")
        return
    if count == 0:
        out.write(json.dumps({"episodes": []}, indent=1).encode() + b"\n")
        return
    out.write(b'{\n "episodes": [\n')
    for i, item in enumerate(items):
        text = json.dumps(item, indent=1, ensure_ascii=False).replace("\n", "\n  ")
        out.write((",\n  " if i else "  ").encode() + text.encode())
    out.write(b"\n ]\n}\n")


def _yaml(data: Any) -> bytes:
    text: str = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return text.encode("utf-8")
