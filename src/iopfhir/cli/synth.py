"""``iopfhir synth``: write a synthetic IOP cohort as episode files, one per patient."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import yaml

from iopfhir.cli._output import atomic_dir
from iopfhir.domain import dump_episode
from iopfhir.errors import InputError
from iopfhir.synth import synth_episodes

__all__ = ["register", "run"]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``synth``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "synth",
        help="write a synthetic IOP cohort",
        description="Write N synthetic IOP episodes (deterministic for a seed) as episode "
        "files in a directory, one per patient, ready for `iopfhir convert`.",
    )
    p.add_argument("--patients", type=int, required=True, metavar="N")
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument("-o", "--output", default="cohort", metavar="DIR")
    p.add_argument("--format", choices=("json", "yaml"), default="json")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``synth``."""
    if args.patients < 1:
        raise InputError("--patients must be at least 1")
    width = max(5, len(str(args.patients)))
    with atomic_dir(args.output) as tmp:
        for i, episode in enumerate(synth_episodes(args.patients, args.seed)):
            data = dump_episode(episode)
            name = tmp / f"episode-{i:0{width}d}.{args.format}"
            if args.format == "json":
                name.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
            else:
                name.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    print(f"wrote {args.patients} episodes to {args.output}", file=sys.stderr)
    return 0
