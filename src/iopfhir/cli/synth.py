"""``iopfhir synth``: write a synthetic IOP cohort as episode files, one per episode.

Patients respond or not, drop out, keep or miss aftercare, and some are readmitted to
inpatient care after discharge: their next stay comes back as a further episode of the same
patient (``--no-readmissions`` writes one episode per patient).

The output folder is checked before any episode is drawn and appears only when every file
is written (0700, files 0600); a progress bar counts the episodes on a terminal.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from iopfhir.cli._lazy import LazyImports
from iopfhir.cli._options import positive_int, seed_int
from iopfhir.cli._progress import progress_iter

if TYPE_CHECKING:  # imported when the command runs (``_lazy``): the CLI starts without them
    import yaml

    from iopfhir.cli._output import atomic_dir, check_dir_target
    from iopfhir.domain import dump_episode
    from iopfhir.synth import synth_episodes

__all__ = ["register", "run"]

_lazy = LazyImports(
    globals(),
    {
        "yaml": "yaml",
        "atomic_dir": "iopfhir.cli._output:atomic_dir",
        "check_dir_target": "iopfhir.cli._output:check_dir_target",
        "dump_episode": "iopfhir.domain:dump_episode",
        "synth_episodes": "iopfhir.synth:synth_episodes",
    },
)
__getattr__ = _lazy.attribute


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``synth``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "synth",
        help="write a synthetic IOP cohort",
        description="Write N synthetic IOP episodes (deterministic for a seed) as episode "
        "files in a directory, one per episode, ready for `iopfhir convert`.",
    )
    p.add_argument(
        "--patients",
        type=positive_int,
        required=True,
        metavar="N",
        help="how many episodes to write (one per patient, but for readmissions); at least 1",
    )
    p.add_argument(
        "--seed",
        type=seed_int,
        default=0,
        metavar="S",
        help="random seed: the same seed writes the same cohort (default 0)",
    )
    p.add_argument(
        "-o",
        "--output",
        default="cohort",
        metavar="DIR",
        help="folder to write (replaced when it exists; default ./cohort)",
    )
    p.add_argument(
        "--readmissions",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a patient readmitted to inpatient care after discharge comes back as a further "
        "episode of the same patient, counted in N (default on; --no-readmissions: one "
        "episode per patient)",
    )
    p.add_argument(
        "--format",
        choices=("json", "yaml"),
        default="json",
        help="episode file format (default json)",
    )
    p.set_defaults(func=run)
    return p


@_lazy.needed
def run(args: argparse.Namespace) -> int:
    """Run ``synth``."""
    check_dir_target(args.output)
    width = max(5, len(str(args.patients)))
    episodes = synth_episodes(args.patients, args.seed, readmissions=args.readmissions)
    with atomic_dir(args.output) as tmp:
        for i, episode in enumerate(
            progress_iter(episodes, args.patients, "synth", unit="episodes")
        ):
            data = dump_episode(episode)
            name = tmp / f"episode-{i:0{width}d}.{args.format}"
            if args.format == "json":
                name.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
            else:
                name.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    print(f"wrote {args.patients} episodes to {args.output}", file=sys.stderr)
    return 0
