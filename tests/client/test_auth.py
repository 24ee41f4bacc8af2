"""Auth flows: static bearer, basic, and SMART Backend Services (discovery, signed client
assertion, token caching and renewal by an injected clock, one retry on 401)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from urllib.parse import parse_qsl

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from iopfhir.client import (
    BasicAuth,
    BearerAuth,
    FhirClient,
    MemoryTransport,
    NoAuth,
    Request,
    Response,
    SmartBackendAuth,
)
from iopfhir.errors import AuthError, InputError, Unauthorized

from .support import BASE, ok, patient, raw, req

AUTH_BASE = "https://auth.example.org"
TOKEN_URL = f"{AUTH_BASE}/oauth/token"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


# -- simple methods -------------------------------------------------------------------------


def run_flow(auth, request: Request, responder: Callable[[Request], Response]) -> list[Request]:
    sent = []
    flow = auth.auth_flow(request)
    outgoing = next(flow)
    while True:
        sent.append(outgoing)
        try:
            outgoing = flow.send(responder(outgoing))
        except StopIteration:
            return sent


def test_no_auth_bearer_and_basic_flows():
    r = req("GET", f"{BASE}/Patient/1")
    assert "Authorization" not in run_flow(NoAuth(), r, lambda x: raw(200))[0].headers
    assert (
        run_flow(BearerAuth("abc"), r, lambda x: raw(200))[0].headers["Authorization"]
        == "Bearer abc"
    )
    header = run_flow(BasicAuth("user", "pä:ss"), r, lambda x: raw(200))[0].headers["Authorization"]
    assert base64.b64decode(header.removeprefix("Basic ")).decode() == "user:pä:ss"
    # a 401 is not retried by static methods
    assert len(run_flow(BearerAuth("abc"), r, lambda x: raw(401))) == 1


@pytest.mark.parametrize("bad", ["", "a\nb"])
def test_bearer_token_must_be_one_line(bad):
    with pytest.raises(ValueError):
        BearerAuth(bad)


def test_reprs_hide_secrets(rsa_key):
    assert "s3cret" not in repr(BearerAuth("s3cret"))
    assert "s3cret" not in repr(BasicAuth("u", "s3cret"))
    smart = SmartBackendAuth("cid", rsa_key, token_url=TOKEN_URL)
    assert "PRIVATE" not in repr(smart)


# -- SMART backend services -------------------------------------------------------------------


class FakeAuthServer:
    """Discovery + token endpoint + a FHIR server that accepts only current tokens."""

    def __init__(
        self,
        key,
        alg: str,
        clock: Callable[[], float],
        *,
        lifetime: int = 300,
        smart_config: dict | None = None,
    ) -> None:
        self.public_key = key.public_key()
        self.alg = alg
        self.clock = clock
        self.lifetime = lifetime
        self.issued: list[str] = []
        self.valid: set[str] = set()
        self.jtis: set[str] = set()
        self.assertions: list[tuple[dict, dict]] = []
        self.forms: list[dict[str, str]] = []
        self.token_status = 200
        self.smart_config = (
            smart_config
            if smart_config is not None
            else {
                "token_endpoint": TOKEN_URL,
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
            }
        )

    def __call__(self, r: Request) -> Response:
        if r.url == f"{BASE}/.well-known/smart-configuration":
            assert "Authorization" not in r.headers
            return ok(self.smart_config)
        if r.url == TOKEN_URL:
            return self.token(r)
        auth = r.headers.get("Authorization", "")
        if auth.removeprefix("Bearer ") in self.valid:
            return ok(patient())
        return raw(401)

    def token(self, r: Request) -> Response:
        assert r.method == "POST"
        assert "Authorization" not in r.headers
        assert r.headers["Content-Type"] == "application/x-www-form-urlencoded"
        form = dict(parse_qsl(r.body.decode()))
        self.forms.append(form)
        if self.token_status != 200:
            return ok(
                {"error": "invalid_client", "error_description": "unknown key"},
                status=self.token_status,
            )
        assertion = form["client_assertion"]
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(
            assertion,
            self.public_key,
            algorithms=[self.alg],
            audience=TOKEN_URL,
            options={"verify_exp": False},
        )
        assert claims["exp"] - self.clock() <= 300
        assert claims["jti"] not in self.jtis
        self.jtis.add(claims["jti"])
        self.assertions.append((header, claims))
        token = f"access-{len(self.issued) + 1}"
        self.issued.append(token)
        self.valid.add(token)
        return ok(
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.lifetime,
                "scope": form["scope"],
            }
        )


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_discovery_token_and_signed_assertion(alg, rsa_key, ec_key, fake_time):
    key = rsa_key if alg == "RS384" else ec_key
    server = FakeAuthServer(key, alg, fake_time.clock)
    smart = SmartBackendAuth(
        "client-7",
        key,
        fhir_base_url=BASE,
        alg=alg,
        kid="k1",
        scopes=["system/Patient.rs", "system/Observation.cruds"],
        clock=fake_time.clock,
    )
    transport = MemoryTransport(server)
    client = FhirClient(
        BASE, transport=transport, auth=smart, clock=fake_time.clock, sleep=fake_time.sleep
    )
    assert client.read("Patient", "p1")["id"] == "p1"
    assert [r.url for r in transport.requests] == [
        f"{BASE}/.well-known/smart-configuration",
        TOKEN_URL,
        f"{BASE}/Patient/p1",
    ]
    form = server.forms[0]
    assert form["grant_type"] == "client_credentials"
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert form["scope"] == "system/Patient.rs system/Observation.cruds"
    header, claims = server.assertions[0]
    assert header["alg"] == alg
    assert header["kid"] == "k1"
    assert header["typ"] == "JWT"
    assert claims["iss"] == claims["sub"] == "client-7"
    assert claims["exp"] == int(fake_time.now + 300)
    assert transport.requests[2].headers["Authorization"] == "Bearer access-1"
    assert smart.token_url == TOKEN_URL


def test_token_is_cached_then_renewed_before_expiry(rsa_key, fake_time):
    server = FakeAuthServer(rsa_key, "RS384", fake_time.clock, lifetime=300)
    smart = SmartBackendAuth(
        "c", rsa_key, token_url=TOKEN_URL, clock=fake_time.clock, renew_before=60
    )
    transport = MemoryTransport(server)
    client = FhirClient(BASE, transport=transport, auth=smart)
    client.read("Patient", "p1")
    fake_time.advance(200)
    client.read("Patient", "p1")
    assert server.issued == ["access-1"]
    fake_time.advance(45)  # 245 s: inside the 60 s renewal window
    client.read("Patient", "p1")
    assert server.issued == ["access-1", "access-2"]
    assert transport.requests[-1].headers["Authorization"] == "Bearer access-2"
    assert len(server.jtis) == 2  # a fresh assertion each time
    assert "access-2" not in repr(smart.token)


def test_401_renews_the_token_once_and_resends(rsa_key, fake_time):
    server = FakeAuthServer(rsa_key, "RS384", fake_time.clock)
    smart = SmartBackendAuth("c", rsa_key, token_url=TOKEN_URL, clock=fake_time.clock)
    transport = MemoryTransport(server)
    client = FhirClient(BASE, transport=transport, auth=smart)
    client.read("Patient", "p1")
    server.valid.clear()  # the server revoked every token
    client.read("Patient", "p1")
    assert server.issued == ["access-1", "access-2"]
    assert [r.url for r in transport.requests][-3:] == [
        f"{BASE}/Patient/p1",
        TOKEN_URL,
        f"{BASE}/Patient/p1",
    ]


def test_a_second_401_is_raised_not_looped(rsa_key, fake_time):
    server = FakeAuthServer(rsa_key, "RS384", fake_time.clock)
    smart = SmartBackendAuth("c", rsa_key, token_url=TOKEN_URL, clock=fake_time.clock)

    def handler(r: Request) -> Response:
        return server(r) if r.url == TOKEN_URL else raw(401)

    transport = MemoryTransport(handler)
    with pytest.raises(Unauthorized):
        FhirClient(BASE, transport=transport, auth=smart).read("Patient", "p1")
    assert len(transport.requests) == 4  # token, request, token, request


def test_token_endpoint_refusal_is_an_auth_error_without_secrets(rsa_key, fake_time, caplog):
    server = FakeAuthServer(rsa_key, "RS384", fake_time.clock)
    server.token_status = 401
    smart = SmartBackendAuth("c", rsa_key, token_url=TOKEN_URL, clock=fake_time.clock)
    client = FhirClient(BASE, transport=MemoryTransport(server), auth=smart)
    with caplog.at_level(logging.DEBUG, logger="iopfhir"), pytest.raises(AuthError) as info:
        client.read("Patient", "p1")
    assert "invalid_client" in str(info.value)
    assert isinstance(info.value, PermissionError)
    assertion = server.forms[0]["client_assertion"]
    assert assertion not in str(info.value)
    assert assertion not in caplog.text
    assert "POST /oauth/token -> 401" in caplog.text


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({}, "no token_endpoint"),
        (
            {"token_endpoint": TOKEN_URL, "grant_types_supported": ["authorization_code"]},
            "client_credentials",
        ),
        (
            {
                "token_endpoint": TOKEN_URL,
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            },
            "private_key_jwt",
        ),
        (
            {
                "token_endpoint": TOKEN_URL,
                "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            },
            "RS384",
        ),
    ],
)
def test_discovery_checks_what_the_server_supports(config, fragment, rsa_key, fake_time):
    server = FakeAuthServer(rsa_key, "RS384", fake_time.clock, smart_config=config)
    smart = SmartBackendAuth("c", rsa_key, fhir_base_url=BASE, clock=fake_time.clock)
    with pytest.raises(AuthError, match=fragment):
        FhirClient(BASE, transport=MemoryTransport(server), auth=smart).read("Patient", "p1")


@pytest.mark.parametrize(
    "body", [b"<html/>", b'{"token_type": "bearer"}', b'{"access_token": "x", "token_type": "mac"}']
)
def test_bad_token_responses(body, rsa_key, fake_time):
    def handler(r: Request) -> Response:
        return raw(200, body, "application/json")

    smart = SmartBackendAuth("c", rsa_key, token_url=TOKEN_URL, clock=fake_time.clock)
    with pytest.raises(AuthError):
        FhirClient(BASE, transport=MemoryTransport(handler), auth=smart).read("Patient", "p1")


def test_token_endpoint_over_plain_http_is_refused(rsa_key, fake_time):
    smart = SmartBackendAuth(
        "c", rsa_key, token_url="http://auth.example.org/token", clock=fake_time.clock
    )
    transport = MemoryTransport(lambda r: raw(500))
    from iopfhir.errors import InsecureTransportError

    with pytest.raises(InsecureTransportError):
        FhirClient(BASE, transport=transport, auth=smart).read("Patient", "p1")
    assert transport.requests == []


def test_key_checks(rsa_key, ec_key):
    with pytest.raises(InputError):
        SmartBackendAuth("c", rsa_key, token_url=TOKEN_URL, alg="ES384")
    with pytest.raises(InputError):
        SmartBackendAuth("c", ec_key, token_url=TOKEN_URL, alg="RS384")
    with pytest.raises(InputError):
        SmartBackendAuth(
            "c", ec.generate_private_key(ec.SECP256R1()), token_url=TOKEN_URL, alg="ES384"
        )
    with pytest.raises(InputError):
        SmartBackendAuth("c", rsa_key, token_url=TOKEN_URL, alg="HS256")
    with pytest.raises(InputError):
        SmartBackendAuth("c", rsa_key)
    with pytest.raises(InputError):
        SmartBackendAuth("c", b"not a key", token_url=TOKEN_URL)


def test_pem_key_default_kid_and_jwks(rsa_key):
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    smart = SmartBackendAuth("c", pem.decode(), token_url=TOKEN_URL)
    (jwk,) = smart.public_jwks()["keys"]
    assert jwk["kid"] == smart.kid
    assert jwk["alg"] == "RS384"
    assert "d" not in jwk
    public = jwt.algorithms.RSAAlgorithm.from_jwk(jwk)
    claims = jwt.decode(
        smart.client_assertion(TOKEN_URL), public, algorithms=["RS384"], audience=TOKEN_URL
    )
    assert claims["iss"] == "c"
    assert SmartBackendAuth("c", rsa_key, token_url=TOKEN_URL).kid == smart.kid


def test_ec_jwks_verifies(ec_key):
    smart = SmartBackendAuth("c", ec_key, token_url=TOKEN_URL, alg="ES384", jku="https://c/jwks")
    (jwk,) = smart.public_jwks()["keys"]
    public = jwt.algorithms.ECAlgorithm.from_jwk(jwk)
    assertion = smart.client_assertion(TOKEN_URL)
    assert jwt.get_unverified_header(assertion)["jku"] == "https://c/jwks"
    assert jwt.decode(assertion, public, algorithms=["ES384"], audience=TOKEN_URL)["sub"] == "c"
