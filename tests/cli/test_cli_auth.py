"""The CLI's auth options end to end: ``iopfhir capabilities`` against a small HTTP server on
127.0.0.1 that answers only correctly authenticated requests (bearer, basic, SMART Backend
Services with discovery and a verified ``private_key_jwt``), options given on the command
line, in the environment or in a ``--config`` file; secrets never in the output."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from iopfhir.cli import main

TOKEN = "static-bearer-7f3a"
USER, PASSWORD = "iop-sync", "pw-92c1e"
ISSUED = "smart-access-51d0"
CAPABILITIES = {
    "resourceType": "CapabilityStatement",
    "status": "active",
    "kind": "instance",
    "fhirVersion": "4.0.1",
    "date": "2026-01-01",
    "format": ["json"],
    "rest": [{"mode": "server", "interaction": [{"code": "transaction"}]}],
}


class AuthServer(ThreadingHTTPServer):
    """FHIR ``/fhir/metadata`` behind auth, SMART discovery and a token endpoint."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.base = f"http://127.0.0.1:{self.server_address[1]}/fhir"
        self.token_url = f"http://127.0.0.1:{self.server_address[1]}/auth/token"
        self.public_key: Any = None
        self.alg = "RS384"
        self.assertions: list[dict[str, Any]] = []
        self.seen_auth: list[str] = []

    def accepted(self) -> set[str]:
        basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        return {f"Bearer {TOKEN}", f"Basic {basic}", f"Bearer {ISSUED}"}


class _Handler(BaseHTTPRequestHandler):
    server: AuthServer

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        self.server.seen_auth.append(auth)
        if self.path == "/fhir/.well-known/smart-configuration":
            self._send(
                200,
                {
                    "token_endpoint": self.server.token_url,
                    "grant_types_supported": ["client_credentials"],
                    "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                    "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
                },
            )
        elif self.path == "/fhir/metadata" and auth in self.server.accepted():
            self._send(200, CAPABILITIES)
        else:
            outcome = {"severity": "error", "code": "login", "diagnostics": "who are you?"}
            self._send(401, {"resourceType": "OperationOutcome", "issue": [outcome]})

    def do_POST(self) -> None:
        form = dict(parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
        claims = jwt.decode(
            form["client_assertion"],
            self.server.public_key,
            algorithms=[self.server.alg],
            audience=self.server.token_url,
        )
        assert form["grant_type"] == "client_credentials"
        self.server.assertions.append({**claims, "scope": form["scope"]})
        self._send(200, {"access_token": ISSUED, "token_type": "bearer", "expires_in": 300})


@pytest.fixture
def server() -> Iterator[AuthServer]:
    srv = AuthServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def run(capsys, *args: str) -> tuple[int, str]:
    code = main(["-v", "capabilities", "--format", "json", *args])
    out, err = capsys.readouterr()
    return code, out + err


def assert_no_secrets(output: str) -> None:
    for secret in (
        TOKEN,
        PASSWORD,
        ISSUED,
        base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
    ):
        assert secret not in output


def test_bearer_from_the_option_and_from_the_environment(server, capsys, monkeypatch):
    code, output = run(capsys, "--server", server.base, "--token", TOKEN)
    assert code == 0, output
    assert server.seen_auth[-1] == f"Bearer {TOKEN}"
    monkeypatch.setenv("IOPFHIR_TOKEN", TOKEN)
    code, output = run(capsys, "--server", server.base)
    assert code == 0, output
    assert_no_secrets(output)


def test_a_refused_token_is_an_error_that_does_not_repeat_it(server, capsys):
    code, output = run(capsys, "--server", server.base, "--token", "wrong-" + TOKEN)
    assert code == 1
    assert "401" in output
    assert "wrong-" not in output
    assert_no_secrets(output)


def test_basic_with_the_password_from_an_environment_variable(server, capsys, monkeypatch):
    monkeypatch.setenv("SYNC_PASSWORD", PASSWORD)
    code, output = run(
        capsys,
        "--server",
        server.base,
        "--basic-user",
        USER,
        "--basic-password-env",
        "SYNC_PASSWORD",
    )
    assert code == 0, output
    assert server.seen_auth[-1].startswith("Basic ")
    assert_no_secrets(output)
    monkeypatch.delenv("SYNC_PASSWORD")
    code, output = run(
        capsys,
        "--server",
        server.base,
        "--basic-user",
        USER,
        "--basic-password-env",
        "SYNC_PASSWORD",
    )
    assert code == 2 and "--basic-password-env" in output


def _key_file(tmp_path: Path, alg: str) -> tuple[Path, Any]:
    key: Any = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if alg == "RS384"
        else ec.generate_private_key(ec.SECP384R1())
    )
    path = tmp_path / f"{alg}.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path, key.public_key()


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_smart_backend_services_discovery_and_signed_assertion(server, capsys, tmp_path, alg):
    key_file, public = _key_file(tmp_path, alg)
    server.public_key, server.alg = public, alg
    code, output = run(
        capsys,
        "--server",
        server.base,
        "--smart-client-id",
        "iop-client",
        "--smart-key",
        str(key_file),
        "--smart-alg",
        alg,
        "--smart-scopes",
        "system/CarePlan.rs",
        "system/Observation.cruds",
    )
    assert code == 0, output
    (claims,) = server.assertions
    assert claims["iss"] == claims["sub"] == "iop-client"
    assert claims["scope"] == "system/CarePlan.rs system/Observation.cruds"
    assert server.seen_auth[-1] == f"Bearer {ISSUED}"
    assert "Authorization" not in output
    assert_no_secrets(output)


def test_config_file_toml_and_json_with_options_overriding_it(
    server, capsys, tmp_path, monkeypatch
):
    toml = tmp_path / "sync.toml"
    toml.write_text(f'server = "{server.base}"\ntoken = "{TOKEN}"\n')
    code, output = run(capsys, "--config", str(toml))
    assert code == 0, output
    assert server.seen_auth[-1] == f"Bearer {TOKEN}"
    # an option on the command line wins over the file
    code, output = run(capsys, "--config", str(toml), "--token", "other-token")
    assert code == 1
    assert server.seen_auth[-1] == "Bearer other-token"
    monkeypatch.setenv("SYNC_PASSWORD", PASSWORD)
    js = tmp_path / "sync.json"
    js.write_text(
        json.dumps(
            {"server": server.base, "basic-user": USER, "basic-password-env": "SYNC_PASSWORD"}
        )
    )
    code, output = run(capsys, "--config", str(js))
    assert code == 0, output
    assert server.seen_auth[-1].startswith("Basic ")
    assert_no_secrets(output)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        # the key is named by position: its name is input, never echoed (issue 9)
        ('server = "http://127.0.0.1:1/fhir"\npassword = "x"\n', "key number 2 is not a known"),
        ("server = \n", "not valid TOML/JSON"),
        ('["a list"]', "table/object"),
    ],
)
def test_bad_config_files_name_the_file_and_the_problem(capsys, tmp_path, content, fragment):
    path = tmp_path / ("c.json" if content.startswith("[") else "c.toml")
    path.write_text(content)
    code, output = run(capsys, "--config", str(path))
    assert code == 2
    assert fragment in output and str(path) in output
    assert "password" not in output.split(" (")[0] and len(output.splitlines()) == 1


def test_two_kinds_of_auth_at_once_are_refused_before_any_request(server, capsys, tmp_path):
    key_file, _ = _key_file(tmp_path, "ES384")
    code, output = run(
        capsys,
        "--server",
        server.base,
        "--token",
        TOKEN,
        "--smart-client-id",
        "c",
        "--smart-key",
        str(key_file),
    )
    assert code == 2 and "choose one kind of auth" in output
    assert server.seen_auth == []
    assert_no_secrets(output)


def test_plain_http_to_another_host_needs_the_explicit_option(capsys):
    code, output = run(capsys, "--server", "http://fhir.example.org/r4", "--token", TOKEN)
    assert code == 2
    assert "--server: plain http to a non-loopback host is refused" in output
    assert "--insecure-http" in output
    assert_no_secrets(output)
    code, output = run(capsys, "--server", "ftp://fhir.example.org/r4")
    assert code == 2 and "must be https" in output
