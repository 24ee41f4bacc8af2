"""Write the generated narrative (``text``) of every outcome Measure in
``src/iopfhir/outcomes/data`` again, from the Measure as it is (after its definition is
edited; ``tests/outcomes/test_measures_narrative.py`` fails while one is stale).

Then ``python tools/build_profiles.py --ship-only`` is not enough: the profiles package
copies the Measures in its full build (``tools/build_profiles.sh``), or copy them by hand
with ``--copy-measures``.

    .venv/bin/python tools/narrate_measures.py [--copy-measures]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from iopfhir.fhir.build.narrative import narrate  # noqa: E402

DATA = ROOT / "src" / "iopfhir" / "outcomes" / "data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--copy-measures",
        action="store_true",
        help="also copy them to profiles/package and the shipped copy of the package",
    )
    args = parser.parse_args(argv)
    paths = sorted(DATA.glob("Measure-*.json"))
    for path in paths:
        measure = json.loads(path.read_text("utf-8"))
        measure.pop("text", None)
        path.write_text(json.dumps(narrate(measure), indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(f"narrated {len(paths)} Measures")
    if args.copy_measures:
        sys.path.insert(0, str(ROOT / "tools"))
        import build_profiles

        for path in paths:
            (build_profiles.PACKAGE / path.name).write_bytes(path.read_bytes())
        print(f"copied them to {build_profiles.PACKAGE}; shipped {build_profiles.ship_package()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
