"""Options: bad values are one-line usage errors (exit 2) that do not echo the value; every
option has help; errors of every kind are one line; progress only on a terminal."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from iopfhir.cli import build_parser, main
from iopfhir.cli._errors import MAX_ISSUES, MAX_MESSAGE, one_line, print_error
from iopfhir.cli._progress import progress, progress_iter
from iopfhir.errors import InputError, Issue, SyncError

MH = Path(__file__).resolve().parents[2] / "examples" / "mental-health-iop.yaml"
MARK = "ZZMARKER-4711"


def _usage_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert MARK not in captured.err
    return lines[0]


SERVER = ["--server", "http://127.0.0.1:9/fhir"]


@pytest.mark.parametrize(
    "argv",
    [
        ["push", str(MH), *SERVER, "--chunk-size", "0"],
        ["push", str(MH), *SERVER, "--chunk-size", "-3"],
        ["push", str(MH), *SERVER, "--chunk-size", MARK],
        ["synth", "--patients", "0", "-o", "x"],
        ["synth", "--patients", "-1", "-o", "x"],
        ["synth", "--patients", MARK, "-o", "x"],
        ["synth", "--patients", "9" * 5000, "-o", "x"],
        ["synth", "--patients", "2", "--seed", MARK, "-o", "x"],
        ["synth", "--patients", "2", "--format", MARK],
        ["pull", *SERVER, "--patient", "s|v", "-o", "x.json", "--since", MARK],
        ["pull", *SERVER, "--patient", "s|v", "-o", "x.json", "--since", "2024-13-01"],
        ["pull", *SERVER, "--patient", "s|v", "-o", "x.json", "--since", "2024-01-01T10:00"],
        ["pull", *SERVER, "--patient", f"no-bar-{MARK}", "-o", "x.json"],
        ["convert", str(MH), "--format", MARK],
        ["validate", str(MH), "--format", MARK],
        ["capabilities", *SERVER, "--unlisted", MARK],
        ["convert", str(MH), f"--{MARK}"],
        ["convert", str(MH), MARK],
    ],
)
def test_bad_option_values_are_one_line_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    line = _usage_error(capsys, argv)
    assert "error:" in line and "--help" in line


def test_usage_error_says_what_is_wrong(capsys: pytest.CaptureFixture[str]) -> None:
    line = _usage_error(capsys, ["push", str(MH), *SERVER, "--chunk-size", "0"])
    assert "--chunk-size" in line and "at least 1" in line
    line = _usage_error(capsys, ["synth", "--patients", "2", "--format", MARK])
    assert "invalid choice" in line and "'yaml'" in line


@pytest.mark.parametrize("value", ["2024", "2024-05", "2024-05-01", "2024-05-01T10:00:00Z"])
def test_good_since_values_pass(value: str) -> None:
    args = build_parser().parse_args(
        ["pull", *SERVER, "--patient", "s|v", "-o", "x.json", "--since", value]
    )
    assert args.since == value and args.patient == ("s", "v")


def _actions(parser: argparse.ArgumentParser, name: str) -> list[tuple[str, argparse.Action]]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, subparser in action.choices.items():
                out.extend(_actions(subparser, f"{name} {sub}"))
        elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            out.append((name, action))
    return out


def test_every_option_of_every_command_has_help() -> None:
    actions = _actions(build_parser(), "iopfhir")
    assert len(actions) > 40
    missing = [
        f"{cmd} {action.option_strings or action.dest}"
        for cmd, action in actions
        if not action.help or action.help == argparse.SUPPRESS
    ]
    assert missing == []


# -- one line for every kind of error ---------------------------------------------------------


class Boom(RuntimeError):
    pass


def test_unexpected_errors_are_one_line_internal_errors_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import iopfhir.cli.convert as convert

    def explode(*args: object, **kwargs: object) -> None:
        raise Boom(f"content {MARK}\nsecond line")

    monkeypatch.setattr(convert, "write_bundle", explode)
    assert main(["convert", str(MH), "-o", str(tmp_path / "o.json")]) == 1
    err = capsys.readouterr().err
    assert err == "iopfhir: error: internal error (Boom)\n"
    assert list(tmp_path.iterdir()) == []
    assert main(["-v", "convert", str(MH), "-o", str(tmp_path / "o.json")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.endswith("iopfhir: error: internal error (Boom)\n")


def test_error_lines_are_bounded_and_flat() -> None:
    err = io.StringIO()
    assert print_error(InputError("x" * 100_000 + "\nmore", path="f.json"), err) == 2
    line = err.getvalue()
    assert line.count("\n") == 1 and len(line) <= MAX_MESSAGE + len("iopfhir: error: \n")
    err = io.StringIO()
    assert print_error(SyncError("stopped\r\n\x1b[31mred"), err) == 1
    assert err.getvalue() == "iopfhir: error: stopped [31mred\n"
    assert one_line("a\u2028b\tc") == "a b c"
    err = io.StringIO()
    assert print_error(OSError(28, "No space left on device", f"/x/{MARK}"), err) == 1
    assert MARK not in err.getvalue()


def test_a_message_cut_short_is_followed_by_its_issues() -> None:
    """Every unresolved reference of a push is named, though the message is cut short:
    one bounded line per issue after it, at most MAX_ISSUES."""
    issues = [
        Issue("error", "not-found", "a reference names nothing\nthe server holds", f"X.ref[{i}]")
        for i in range(MAX_ISSUES + 3)
    ]
    summary = "; ".join(f"{i.path}: {i.message}" for i in issues)
    err = io.StringIO()
    assert print_error(
        SyncError(f"{len(issues)} cannot be resolved: {summary}", issues=issues), err
    )
    lines = err.getvalue().splitlines()
    assert lines[0].startswith("iopfhir: error: 53 cannot be resolved") and lines[0].endswith("...")
    assert lines[1:-1] == [
        f"iopfhir:   X.ref[{n}]: a reference names nothing the server holds"
        for n in range(MAX_ISSUES)
    ]
    assert lines[-1] == "iopfhir:   and 3 more"
    # a message that fits says it all: no issue lines
    err = io.StringIO()
    print_error(SyncError("2 cannot be resolved: X.a, X.b", issues=issues[:2]), err)
    assert err.getvalue() == "iopfhir: error: 2 cannot be resolved: X.a, X.b\n"


# -- progress ---------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_silent_off_a_terminal() -> None:
    stream = io.StringIO()
    with progress(10, "work", stream=stream) as tick:
        for _ in range(10):
            tick()
    assert tick.done == 10 and stream.getvalue() == ""
    assert list(progress_iter(range(3), 3, "x", stream=stream)) == [0, 1, 2]
    assert stream.getvalue() == ""


def test_progress_shows_on_a_terminal_and_forced() -> None:
    for stream, force in ((Terminal(), False), (io.StringIO(), True)):
        with progress(5, "validate", stream=stream, force=force) as tick:
            tick.total = 4
            tick(2)
            tick.to(4)
            # tqdm's delay: a bar shows only for work that takes a while; refresh now
            tick._bar.delay = 0
            tick._bar.refresh()
        assert "validate" in stream.getvalue() and "4/4" in stream.getvalue()


def test_cli_commands_print_no_bar_into_pipes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["synth", "--patients", "3", "-o", str(tmp_path / "c")]) == 0
    assert main(["convert", str(tmp_path / "c"), "-o", str(tmp_path / "b.json")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "%" not in err


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("c.json", b'{"server": "http://127.0.0.1:9/fhir", "server": "x"}'),  # duplicate key
        ("c.json", b"\xff\xfe{\x00}\x00"),  # UTF-16
        ("c.json", b"[" * 100_000),
        ("c.toml", f'server = "{MARK}\n'.encode()),
        ("c.toml", b"\xff\xfe"),
        ("c.json", f'{{"server": "x", "{MARK}": 1}}'.encode()),
    ],
)
def test_bad_config_files_are_one_line_exit_2_without_content(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, content: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    code = main(["capabilities", "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.splitlines()) == 1 and str(path) in err and MARK not in err


@pytest.mark.parametrize(
    "content",
    [b'{"resourceType": "Bundle", "resourceType": "Bundle"}', b"[" * 100_000, b"\xff\xfe{\x00"],
)
def test_bad_bundles_for_push_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "bundle.json"
    path.write_bytes(content)
    code = main(["push", str(path), "--server", "http://127.0.0.1:9/fhir"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.splitlines()) == 1 and str(path) in err
