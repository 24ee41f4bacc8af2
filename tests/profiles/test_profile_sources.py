"""The committed package is built from the committed FSH (a forgotten rebuild fails here).

Recompiling needs npm and SUSHI, so CI does not do it: ``tools/build_profiles.sh`` records a
hash of ``profiles/input/**`` and ``sushi-config.yaml`` in ``profiles/package/.source-hash``,
and the generated FSH must equal what the generator makes from today's terminology data.
"""

from __future__ import annotations

import json

import yaml
from profile_support import BASE, PACKAGE, ROOT, build_tool


def test_source_hash_matches_the_sources() -> None:
    recorded = (PACKAGE / ".source-hash").read_text(encoding="utf-8").strip()
    assert recorded == build_tool().source_hash(), (
        "profiles/input or sushi-config.yaml changed since the package was built: "
        "run tools/build_profiles.sh and commit profiles/"
    )


def test_generated_fsh_is_up_to_date() -> None:
    tool = build_tool()
    for name, make in tool.GENERATED.items():
        path = ROOT / "profiles" / "input" / "fsh" / name
        assert path.read_text(encoding="utf-8") == make(), (
            f"{path.name} is stale (terminology data changed): run tools/build_profiles.sh"
        )


def test_sushi_config_matches_the_manifest() -> None:
    config = yaml.safe_load((ROOT / "profiles" / "sushi-config.yaml").read_text("utf-8"))
    manifest = json.loads((PACKAGE / "package.json").read_text(encoding="utf-8"))
    assert config["canonical"] == BASE == manifest["canonical"]
    assert config["id"] == manifest["name"]
    assert str(config["version"]) == manifest["version"]
    assert [config["fhirVersion"]] == manifest["fhirVersions"]
    assert config.get("dependencies") in (None, {})
