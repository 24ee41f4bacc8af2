"""``iopfhir push``, ``iopfhir pull``, ``iopfhir capabilities``: sync with a FHIR server.

* ``push FILE --server URL [--summary] [--dry-run] [--chunk-size N] [--progress]``: FILE is
  an episode file or folder, or a FHIR Bundle JSON. ``--summary`` prints exactly one JSON
  object (``created``, ``updated``, ``unchanged``, ``failed``, ``round_trips``), also when
  the push fails. ``--dry-run`` prints the planned writes (method and URL path: no bodies,
  no query strings, no patient data).
* ``pull --server URL --patient SYSTEM|VALUE -o FILE [--since DATE]``: writes an episode
  file (YAML for ``.yaml``/``.yml``, JSON otherwise).
* ``capabilities --server URL``: what the server supports for each IOP type and the write
  plan it implies.

Auth (all three): ``--token`` or env ``IOPFHIR_TOKEN`` (bearer); ``--basic-user`` with
``--basic-password-env NAME``; ``--smart-client-id --smart-key FILE --smart-scopes ...
[--smart-alg RS384|ES384] [--smart-token-url URL]``; or ``--config FILE`` (TOML or JSON with
the same keys, dashes or underscores). ``--insecure-http`` allows plain http to a
non-loopback host. Exit codes: 0 ok, 2 bad input, 1 any other failure (a conflict too).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import yaml

from iopfhir.client import (
    Auth,
    BasicAuth,
    BearerAuth,
    FhirClient,
    NoAuth,
    SmartBackendAuth,
    check_url,
)
from iopfhir.domain import dump_episodes, load_episodes
from iopfhir.errors import (
    InputError,
    InsecureTransportError,
    IopFhirError,
    SyncError,
    ValidationFailed,
)
from iopfhir.sync import IOP_TYPES, PullReport, PushReport, pull, push, server_support
from iopfhir.validation import Validator

__all__ = ["build_client", "register", "run", "run_capabilities", "run_pull", "run_push"]

CONFIG_KEYS = (
    "server",
    "token",
    "basic_user",
    "basic_password_env",
    "smart_client_id",
    "smart_key",
    "smart_scopes",
    "smart_alg",
    "smart_token_url",
    "insecure_http",
    "chunk_size",
)


def _connection_options(p: argparse.ArgumentParser, *, needs_server: bool = True) -> None:
    g = p.add_argument_group("server and auth")
    g.add_argument("--server", metavar="URL", help="FHIR base URL (or 'server' in --config)")
    g.add_argument("--config", metavar="FILE", help="TOML or JSON file with these options")
    g.add_argument("--token", help="bearer token (default: env IOPFHIR_TOKEN)")
    g.add_argument("--basic-user", metavar="USER", help="HTTP Basic user name")
    g.add_argument(
        "--basic-password-env", metavar="NAME", help="environment variable holding the password"
    )
    g.add_argument("--smart-client-id", metavar="ID", help="SMART backend services client id")
    g.add_argument("--smart-key", metavar="FILE", help="PEM private key for the client assertion")
    g.add_argument("--smart-scopes", nargs="+", metavar="SCOPE", help="scopes to request")
    g.add_argument("--smart-alg", choices=("RS384", "ES384"), help="signing algorithm")
    g.add_argument("--smart-token-url", metavar="URL", help="token endpoint (default: discovery)")
    g.add_argument(
        "--insecure-http",
        action="store_true",
        default=None,
        help="allow plain http to a non-loopback host (credentials travel unencrypted)",
    )


def register(subparsers: Any) -> None:
    """Add ``push``, ``pull`` and ``capabilities`` to an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "push",
        help="write episodes or a FHIR Bundle to a server (idempotent)",
        description="Write episodes (file or folder) or a FHIR Bundle JSON to a FHIR server: "
        "creates what is missing, updates what changed, nothing else.",
    )
    p.add_argument("file", metavar="FILE", help="episode file/folder, or a FHIR Bundle JSON")
    p.add_argument("--summary", action="store_true", help="print one JSON object of counts")
    p.add_argument("--dry-run", action="store_true", help="print the planned writes only")
    p.add_argument(
        "--no-validate",
        action="store_true",
        help="do not validate against R4 and the IOP profiles before sending (servers often "
        "do not enforce required bindings, so validation is on by default)",
    )
    p.add_argument("--chunk-size", type=int, metavar="N", help="entries per chunk (default 250)")
    p.add_argument("--progress", action="store_true", help="progress bar on stderr")
    p.add_argument(
        "--unlisted",
        choices=("attempt", "skip"),
        default="attempt",
        help="types the CapabilityStatement does not list: send them or report them",
    )
    _connection_options(p)
    p.set_defaults(func=run_push)

    q = subparsers.add_parser(
        "pull",
        help="read one patient's IOP data from a server into an episode file",
        description="Fetch one patient's IOP data by identifier and write an episode file.",
    )
    q.add_argument("--patient", required=True, metavar="SYSTEM|VALUE", help="patient identifier")
    q.add_argument("-o", "--output", required=True, metavar="FILE", help="episode file to write")
    q.add_argument("--since", metavar="DATE", help="only what changed after DATE (incremental)")
    _connection_options(q)
    q.set_defaults(func=run_pull)

    c = subparsers.add_parser(
        "capabilities",
        help="what a server supports for each IOP resource type, and the write plan",
        description="Read the server's CapabilityStatement and print the per-type support "
        "and the write plan a push would use.",
    )
    c.add_argument("--format", choices=("text", "json"), default="text")
    c.add_argument("--unlisted", choices=("attempt", "skip"), default="attempt")
    _connection_options(c)
    c.set_defaults(func=run_capabilities)


def run(args: argparse.Namespace) -> int:
    """Dispatch to the subcommand's runner."""
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


# -- options -> client ----------------------------------------------------------------------


def _load_config(path: str) -> dict[str, Any]:
    file = Path(path)
    try:
        text = file.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the config file ({exc.strerror})", path=path) from exc
    try:
        data = tomllib.loads(text.decode()) if file.suffix == ".toml" else json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError("the config file is not valid TOML/JSON", path=path) from exc
    if not isinstance(data, dict):
        raise InputError("the config file must hold a table/object", path=path)
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name not in CONFIG_KEYS:
            raise InputError(f"unknown config key {key!r}", path=path)
        out[name] = value
    return out


def _option(args: argparse.Namespace, config: dict[str, Any], name: str) -> Any:
    value = getattr(args, name, None)
    return value if value is not None else config.get(name)


def build_client(args: argparse.Namespace) -> FhirClient:
    """A :class:`FhirClient` from the server and auth options (and ``--config``)."""
    config = _load_config(args.config) if getattr(args, "config", None) else {}
    server = _option(args, config, "server")
    if not server:
        raise InputError("--server URL is required (or 'server' in --config)")
    insecure = bool(_option(args, config, "insecure_http"))
    try:
        check_url(str(server), allow_insecure_http=insecure)
    except InsecureTransportError as exc:
        # the client's own message names its Python option; say what the CLI user can do
        why = (
            "plain http to a non-loopback host is refused: use https, or --insecure-http "
            "to send anyway"
            if str(server).lower().startswith("http:")
            else "the server URL must be https (or http on loopback)"
        )
        raise InputError(why, path="--server") from exc
    token = _option(args, config, "token") or os.environ.get("IOPFHIR_TOKEN")
    user = _option(args, config, "basic_user")
    smart_id = _option(args, config, "smart_client_id")
    chosen = [name for name, on in (("token", token), ("basic", user), ("smart", smart_id)) if on]
    if len(chosen) > 1:
        raise InputError(f"choose one kind of auth, not {' and '.join(chosen)}")
    auth: Auth = NoAuth()
    try:
        if token:
            auth = BearerAuth(str(token))
        elif user:
            env = _option(args, config, "basic_password_env")
            if not env or env not in os.environ:
                raise InputError("--basic-user needs --basic-password-env NAME with NAME set")
            auth = BasicAuth(str(user), os.environ[env])
        elif smart_id:
            key_file = _option(args, config, "smart_key")
            if not key_file:
                raise InputError("--smart-client-id needs --smart-key FILE")
            try:
                key = Path(key_file).read_bytes()
            except OSError as exc:
                raise InputError("cannot read the SMART key", path=str(key_file)) from exc
            scopes = _option(args, config, "smart_scopes") or "system/*.rs"
            auth = SmartBackendAuth(
                str(smart_id),
                key,
                fhir_base_url=str(server),
                token_url=_option(args, config, "smart_token_url"),
                scopes=scopes if isinstance(scopes, str) else [str(s) for s in scopes],
                alg=str(_option(args, config, "smart_alg") or "RS384"),
            )
    except ValueError as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(str(exc)) from exc
    if hasattr(args, "chunk_size") and args.chunk_size is None and config.get("chunk_size"):
        args.chunk_size = int(config["chunk_size"])
    return FhirClient(str(server), auth=auth, allow_insecure_http=insecure)


# -- push -----------------------------------------------------------------------------------


def _read_source(path: str) -> Any:
    file = Path(path)
    if not file.exists():
        raise InputError("no such file or folder", path=path)
    if file.is_file() and file.suffix == ".json":
        try:
            data = json.loads(file.read_bytes())
        except ValueError as exc:
            raise InputError("not valid JSON", path=path) from exc
        if isinstance(data, dict) and data.get("resourceType") == "Bundle":
            return data
    return load_episodes(file)


class _Bar:
    """A one-line progress bar on a terminal stream."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, done: int, total: int) -> None:
        width = 30
        filled = width * done // total if total else width
        self.stream.write(f"\rpush [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def run_push(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run ``iopfhir push``; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        source = _read_source(args.file)
        client = build_client(args)
    except InputError as exc:
        print(f"iopfhir: error: {exc}", file=err)
        return 2
    chunk_size = args.chunk_size or 250
    if chunk_size < 1:
        print("iopfhir: error: --chunk-size must be at least 1", file=err)
        return 2
    show_bar = (args.progress or err.isatty()) and not args.summary and not args.dry_run
    report: PushReport | None = None
    code = 0
    with client:
        try:
            report = push(
                client,
                source,
                chunk_size=chunk_size,
                dry_run=args.dry_run,
                progress=_Bar(err) if show_bar else None,
                unlisted=args.unlisted,
                validator=None
                if getattr(args, "no_validate", False)
                else Validator.with_iop_profiles(),
            )
        except ValidationFailed as exc:
            print(f"iopfhir: error: {exc}", file=err)
            for issue in exc.issues[:10]:
                print(f"  {issue}", file=err)
            return 2
        except InputError as exc:
            print(f"iopfhir: error: {exc}", file=err)
            return 2
        except SyncError as exc:
            report = exc.report if isinstance(exc.report, PushReport) else None
            print(f"iopfhir: error: {exc}", file=err)
            code = 1
        except IopFhirError as exc:
            print(f"iopfhir: error: {exc}", file=err)
            return 1
    if report is None:
        return code
    if args.summary:
        out.write(report.to_json() + "\n")
        return code
    if args.dry_run:
        print(
            f"# dry run: {len(report.planned)} write(s) in {report.chunks} chunk(s), "
            f"mode {report.mode}; {report.unchanged} unchanged",
            file=out,
        )
        for planned in report.planned:
            print(f"{planned.chunk}\t{planned}", file=out)
    else:
        print(json.dumps(report.summary()), file=out)
    for rtype, n in sorted(report.not_accepted.items()):
        reason = report.not_accepted_reasons.get(rtype, "")
        print(f"not accepted by the server: {n} {rtype} ({reason})", file=err)
    if report.dropped_references:
        print(
            f"references to not-accepted resources left out: {report.dropped_references}", file=err
        )
    for merged in report.merged:
        print(f"merged with a concurrent change: {merged}", file=err)
    return code


# -- pull -----------------------------------------------------------------------------------


def _patient(value: str) -> tuple[str, str]:
    system, sep, ident = value.partition("|")
    if not sep or not system or not ident:
        raise InputError("--patient must be SYSTEM|VALUE")
    return system, ident


def run_pull(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run ``iopfhir pull``; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        ident = _patient(args.patient)
        client = build_client(args)
    except InputError as exc:
        print(f"iopfhir: error: {exc}", file=err)
        return 2
    report = PullReport()
    with client:
        try:
            result = pull(client, ident, since=args.since, report=report)
        except InputError as exc:
            print(f"iopfhir: error: {exc}", file=err)
            return 2
        except IopFhirError as exc:
            print(f"iopfhir: error: {exc}", file=err)
            return 1
    if not result.episodes:
        print("iopfhir: error: the server holds no IOP episode for that patient", file=err)
        return 1
    data = dump_episodes(result.episodes)
    target = Path(args.output)
    if target.suffix in (".yaml", ".yml"):
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    target.write_text(text, encoding="utf-8")
    total = sum(report.resources.values())
    print(
        f"pulled {len(result.episodes)} episode(s) from {total} resources via {report.method} "
        f"in {report.round_trips} round trips",
        file=out,
    )
    for why, n in sorted(result.unmapped.items()):
        print(f"not mapped: {n} x {why}", file=err)
    return 0


# -- capabilities ---------------------------------------------------------------------------


def run_capabilities(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run ``iopfhir capabilities``; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        client = build_client(args)
    except InputError as exc:
        print(f"iopfhir: error: {exc}", file=err)
        return 2
    with client:
        try:
            support = server_support(client.capabilities(), unlisted=args.unlisted)
        except IopFhirError as exc:
            print(f"iopfhir: error: {exc}", file=err)
            return 1
    described = support.describe()
    described["lookup"] = "one batch round trip" if support.batch else "one request per search"
    described["pull"] = (
        "Patient/$everything + references"
        if support.has_operation("everything", "Patient")
        else "searches by patient + references"
    )
    if args.format == "json":
        out.write(json.dumps(described, indent=2) + "\n")
        return 0
    print(f"server: {described['software'] or '(unnamed)'}", file=out)
    print(
        f"writes: {support.mode}; look-ups: {described['lookup']}; pull: {described['pull']}",
        file=out,
    )
    print(f"{'type':<22} {'listed':<7} {'id-search':<10} {'write':<11} reason", file=out)
    for name in IOP_TYPES:
        t = described["types"][name]
        print(
            f"{name:<22} {'yes' if t['listed'] else 'no':<7} "
            f"{'yes' if t['identifier_search'] else 'no':<10} {t['write']:<11} {t['reason']}",
            file=out,
        )
    return 0
