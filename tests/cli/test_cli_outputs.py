"""Outputs of every writing command: checked before any work, replaced only by the same kind,
atomically, 0600/0700 regardless of the umask, and nothing left behind on a failure."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from iopfhir.cli import main
from iopfhir.cli._output import atomic_dir, atomic_file, check_dir_target, check_file_target
from iopfhir.errors import InputError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MH = EXAMPLES / "mental-health-iop.yaml"


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """A permissive umask: the modes must not come from it."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _only(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


# -- checked before any work ------------------------------------------------------------------

BAD_FILE_TARGETS = ["folder", "file/below", "/proc/self/no-such-place/out.json"]


def _target(tmp_path: Path, kind: str) -> str:
    (tmp_path / "folder").mkdir(exist_ok=True)
    (tmp_path / "file").write_text("keep")
    return kind if kind.startswith("/") else str(tmp_path / kind)


@pytest.mark.parametrize("kind", BAD_FILE_TARGETS)
@pytest.mark.parametrize(
    "command",
    [
        ["convert", "MISSING-INPUT", "-o"],
        ["import", "MISSING-INPUT", "-o"],
        ["demo", "--offline", "--episode", "MISSING-INPUT", "-o"],
        ["pull", "--server", "http://127.0.0.1:9/fhir", "--patient", "s|v", "-o"],
    ],
)
def test_a_bad_file_output_is_exit_2_naming_it_before_any_work(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str], kind: str
) -> None:
    # The input does not exist and the server does not answer: only an output check done
    # first can produce an error about the output.
    target = _target(tmp_path, kind)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code, err = _run(capsys, *command, target)
    assert code == 2, err
    assert target in err and len(err.splitlines()) == 1
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert (tmp_path / "file").read_text() == "keep"


@pytest.mark.parametrize("kind", ["file", "file/below", "/proc/self/no-such-place/dir"])
@pytest.mark.parametrize(
    "command",
    [
        ["convert", "MISSING-INPUT", "--format", "ndjson", "-o"],
        ["synth", "--patients", "2", "-o"],
    ],
)
def test_a_bad_folder_output_is_exit_2_naming_it_before_any_work(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str], kind: str
) -> None:
    target = _target(tmp_path, kind)
    code, err = _run(capsys, *command, target)
    assert code == 2, err
    assert target in err and len(err.splitlines()) == 1
    assert (tmp_path / "file").read_text() == "keep"  # never replaced by a folder
    assert _only(tmp_path) == {"file", "folder"}


def test_check_helpers_accept_good_places_and_create_nothing(tmp_path: Path) -> None:
    check_file_target(None)
    check_file_target("-")
    check_file_target(tmp_path / "new" / "deeper" / "out.json")
    check_dir_target(tmp_path / "new" / "dir")
    (tmp_path / "f").write_text("x")
    check_file_target(tmp_path / "f")  # an existing file may be replaced by a file
    assert _only(tmp_path) == {"f"}
    with pytest.raises(InputError):
        check_dir_target(tmp_path / "f")
    with pytest.raises(InputError):
        check_file_target(tmp_path)


# -- atomic, same kind, modes -----------------------------------------------------------------


def test_every_command_writes_0600_files_and_0700_folders(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bundle, nd, cohort, back = (tmp_path / n for n in ("b.json", "nd", "cohort", "x/back.yaml"))
    demo = tmp_path / "demo.json"
    assert main(["convert", str(MH), "-o", str(bundle)]) == 0
    assert main(["convert", str(MH), "--format", "ndjson", "-o", str(nd)]) == 0
    assert main(["synth", "--patients", "2", "-o", str(cohort)]) == 0
    assert main(["import", str(bundle), "-o", str(back)]) == 0
    assert main(["demo", "--offline", "-o", str(demo)]) == 0
    capsys.readouterr()
    for file in (bundle, back, demo, *nd.iterdir(), *cohort.iterdir()):
        assert _mode(file) == 0o600, file
    for folder in (nd, cohort, back.parent):
        assert _mode(folder) == 0o700, folder
    assert not [p for p in tmp_path.rglob(".*")]  # no temporaries


def test_ndjson_over_an_existing_file_keeps_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("mine")
    code, err = _run(capsys, "convert", str(MH), "--format", "ndjson", "-o", str(afile))
    assert code == 2 and "a folder is wanted" in err
    assert afile.read_text() == "mine" and _only(tmp_path) == {"afile"}


def test_an_existing_folder_is_replaced_by_a_folder_without_leftovers(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    nd = tmp_path / "nd"
    nd.mkdir()
    (nd / "stale.ndjson").write_text("old")
    assert main(["convert", str(MH), "--format", "ndjson", "-o", str(nd)]) == 0
    assert "stale.ndjson" not in _only(nd) and "Patient.ndjson" in _only(nd)
    assert _only(tmp_path) == {"nd"}


def _fail_writing_file(target: Path) -> None:
    with atomic_file(target) as handle:
        handle.write(b"half")
        raise RuntimeError("boom")


def _interrupt_filling_dir(folder: Path) -> None:
    with atomic_dir(folder) as tmp:
        (tmp / "x").write_text("2")
        raise KeyboardInterrupt


def test_a_failed_write_leaves_the_old_output_and_no_temporaries(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        _fail_writing_file(tmp_path / "new" / "out.json")
    assert _only(tmp_path) == set()  # the parent it created is gone again
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "keep").write_text("1")
    with pytest.raises(KeyboardInterrupt):
        _interrupt_filling_dir(folder)
    assert _only(tmp_path) == {"d"} and _only(folder) == {"keep"}


def test_bad_input_writes_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("patient: [\n")
    out = tmp_path / "sub" / "out.json"
    code, err = _run(capsys, "convert", str(bad), "-o", str(out))
    assert code == 2 and len(err.splitlines()) == 1
    assert _only(tmp_path) == {"bad.yaml"}


def test_convert_output_still_loads(tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    assert main(["convert", str(MH), "-o", str(out)]) == 0
    assert json.loads(out.read_bytes())["resourceType"] == "Bundle"
