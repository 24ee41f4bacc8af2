"""The server and auth options of the commands that talk to a server (``push``, ``pull``,
``capabilities``, ``export``) and the :class:`~iopfhir.client.FhirClient` they make.

Auth: ``--token`` or env ``IOPFHIR_TOKEN`` (bearer); ``--basic-user`` with
``--basic-password-env NAME``; ``--smart-client-id --smart-key FILE --smart-scopes ...
[--smart-alg RS384|ES384] [--smart-token-url URL]``; or ``--config FILE`` (TOML or JSON with
the same keys, dashes or underscores; a key is named by its position, never its text: a
mistyped line may hold a secret). ``--insecure-http`` allows plain http to a non-loopback
host.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iopfhir.cli._lazy import LazyImports

if TYPE_CHECKING:  # imported when a command runs (``_lazy``): the CLI starts without them
    import tomllib

    from iopfhir.client import (
        Auth,
        BasicAuth,
        BearerAuth,
        FhirClient,
        NoAuth,
        SmartBackendAuth,
        check_url,
    )
    from iopfhir.errors import InputError, InsecureTransportError
    from iopfhir.loading import decode, load_json

__all__ = ["CONFIG_KEYS", "build_client", "connection_options", "load_config", "option"]

_lazy = LazyImports(
    globals(),
    {
        "tomllib": "tomllib",
        **{
            name: f"iopfhir.client:{name}"
            for name in ("BasicAuth", "BearerAuth", "FhirClient", "NoAuth", "SmartBackendAuth")
        },
        "check_url": "iopfhir.client:check_url",
        "InputError": "iopfhir.errors:InputError",
        "InsecureTransportError": "iopfhir.errors:InsecureTransportError",
        "decode": "iopfhir.loading:decode",
        "load_json": "iopfhir.loading:load_json",
    },
)
__getattr__ = _lazy.attribute

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
    "own_system",
)


def connection_options(p: argparse.ArgumentParser, *, needs_server: bool = True) -> None:
    """Add the server and auth options (``--server``, ``--config``, ``--token``, Basic,
    SMART Backend Services, ``--insecure-http``) to ``p``."""
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


#: Largest config file read (bytes): a few options, never megabytes.
MAX_CONFIG_BYTES = 1 << 20


@_lazy.needed
def load_config(path: str) -> dict[str, Any]:
    """The options of a ``--config`` file (TOML or JSON), keys with underscores."""
    # JSON and the text of TOML through iopfhir.loading: one rule for encodings, duplicate
    # keys, nesting and sizes, and errors that name the file and line, never content.
    file = Path(path)
    try:
        with file.open("rb") as handle:
            text = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read the config file ({exc.strerror})", path=path) from exc
    if len(text) > MAX_CONFIG_BYTES:
        raise InputError("the config file is larger than 1 MiB", path=path)
    if file.suffix == ".toml":
        try:
            data = tomllib.loads(decode(text, path))
        except tomllib.TOMLDecodeError as exc:
            # tomllib's reason quotes no content, but only the line is kept: one rule
            line = getattr(exc, "lineno", None) or _toml_line(str(exc))
            where = f" (line {line})" if line else ""
            raise InputError(f"the config file is not valid TOML/JSON{where}", path=path) from exc
    else:
        data = load_json(text, path, path_keys=CONFIG_KEYS)
    if not isinstance(data, dict):
        raise InputError("the config file must hold a table/object", path=path)
    out: dict[str, Any] = {}
    for n, (key, value) in enumerate(data.items()):
        name = str(key).replace("-", "_")
        if name not in CONFIG_KEYS:
            # the key's position, not its name: a mistyped line may hold a secret
            raise InputError(
                f"key number {n + 1} is not a known option ({', '.join(CONFIG_KEYS)})", path=path
            )
        out[name] = value
    chunk = out.get("chunk_size")
    if chunk is not None and (type(chunk) is not int or chunk < 1):
        raise InputError("chunk_size must be a whole number of at least 1", path=path)
    return out


def _toml_line(message: str) -> int | None:
    match = re.search(r"at line (\d+)", message)
    return int(match.group(1)) if match else None


def option(args: argparse.Namespace, config: dict[str, Any], name: str) -> Any:
    """An option given on the command line, else in the config file."""
    value = getattr(args, name, None)
    return value if value is not None else config.get(name)


@_lazy.needed
def build_client(args: argparse.Namespace) -> FhirClient:
    """A :class:`FhirClient` from the server and auth options (and ``--config``)."""
    config = load_config(args.config) if getattr(args, "config", None) else {}
    server = option(args, config, "server")
    if not server:
        raise InputError("--server URL is required (or 'server' in --config)")
    insecure = bool(option(args, config, "insecure_http"))
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
    token = option(args, config, "token") or os.environ.get("IOPFHIR_TOKEN")
    user = option(args, config, "basic_user")
    smart_id = option(args, config, "smart_client_id")
    chosen = [name for name, on in (("token", token), ("basic", user), ("smart", smart_id)) if on]
    if len(chosen) > 1:
        raise InputError(f"choose one kind of auth, not {' and '.join(chosen)}")
    auth: Auth = NoAuth()
    try:
        if token:
            auth = BearerAuth(str(token))
        elif user:
            env = option(args, config, "basic_password_env")
            if not env or env not in os.environ:
                raise InputError("--basic-user needs --basic-password-env NAME with NAME set")
            auth = BasicAuth(str(user), os.environ[env])
        elif smart_id:
            key_file = option(args, config, "smart_key")
            if not key_file:
                raise InputError("--smart-client-id needs --smart-key FILE")
            try:
                key = Path(key_file).read_bytes()
            except OSError as exc:
                raise InputError("cannot read the SMART key", path=str(key_file)) from exc
            scopes = option(args, config, "smart_scopes") or "system/*.rs"
            auth = SmartBackendAuth(
                str(smart_id),
                key,
                fhir_base_url=str(server),
                token_url=option(args, config, "smart_token_url"),
                scopes=scopes if isinstance(scopes, str) else [str(s) for s in scopes],
                alg=str(option(args, config, "smart_alg") or "RS384"),
            )
    except ValueError as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(str(exc)) from exc
    if hasattr(args, "chunk_size") and args.chunk_size is None and config.get("chunk_size"):
        args.chunk_size = int(config["chunk_size"])
    return FhirClient(str(server), auth=auth, allow_insecure_http=insecure)
