"""SMART Backend Services authorization (SMART App Launch 2.x, "backend services").

:class:`SmartBackendAuth` is an auth flow (see :mod:`iopfhir.client.auth`) that:

1. discovers the token endpoint from ``[base]/.well-known/smart-configuration`` unless
   one is given, and checks that the server supports ``client_credentials``,
   ``private_key_jwt`` and the signing algorithm;
2. obtains an access token with the ``client_credentials`` grant and a
   ``private_key_jwt`` client assertion signed RS384 or ES384 (PyJWT);
3. caches the token and renews it ``renew_before`` seconds before it expires, by an
   injectable clock;
4. on a 401 from the FHIR server, drops the cached token, obtains a new one and sends
   the request once more, unless another request has already replaced the token that
   got the 401 (then it sends with that one).

One token request at a time ("single flight"): requests that need a token while one is
being fetched (tasks on an event loop, threads, or both, sharing this object) wait for it
(:class:`~iopfhir.client.auth.Pending`) and use its token, or raise its error. A failed
request caches nothing, so a later request tries again. When the flow that made the
request stops before the answer (a cancelled task), one of those waiting makes it anew.

All requests go through the client (the flow yields them), so the whole exchange is
tested by feeding the generator responses. No token, assertion or key appears in a
``repr``, a log line or an exception message.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from iopfhir.errors import AuthError, InputError

from .auth import AuthFlow, Pending
from .redact import scrub
from .transport import Headers, Request, Response

# RFC 6749 §5.2 error codes are lower-case ASCII words joined by "_".
_OAUTH_CODE = re.compile(r"[a-z_]{1,40}")

__all__ = ["SmartBackendAuth", "Token"]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SUPPORTED_ALGS = ("RS384", "ES384")

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class Token:
    """A cached access token; ``expires_at`` is in the auth's clock (epoch seconds)."""

    access_token: str
    expires_at: float
    scope: str | None = None

    def __repr__(self) -> str:
        return f"Token(access_token=***, expires_at={self.expires_at}, scope={self.scope!r})"


@dataclass(frozen=True, slots=True)
class _Fetched:
    """How the token request in flight ended: a token, an error (with its traceback as
    it left that request), or neither (its flow stopped first)."""

    token: Token | None = None
    error: Exception | None = None
    trace: TracebackType | None = None


_TokenSteps = Generator[Request | Pending, Response, Token]


class SmartBackendAuth:
    """``client_credentials`` + ``private_key_jwt`` token flow with caching and renewal."""

    def __init__(
        self,
        client_id: str,
        private_key: PrivateKey | bytes | str,
        *,
        fhir_base_url: str | None = None,
        token_url: str | None = None,
        scopes: str | Iterable[str] = "system/*.rs",
        alg: str = "RS384",
        kid: str | None = None,
        jku: str | None = None,
        clock: Callable[[], float] = time.time,
        renew_before: float = 60.0,
        assertion_lifetime: float = 300.0,
        new_jti: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        if fhir_base_url is None and token_url is None:
            raise InputError("SMART backend auth needs fhir_base_url (for discovery) or token_url")
        if alg not in SUPPORTED_ALGS:
            raise InputError(f"unsupported signing algorithm {alg!r}; use one of {SUPPORTED_ALGS}")
        if not 0 < assertion_lifetime <= 300:
            raise InputError("a client assertion may live at most 300 seconds")
        self.client_id = client_id
        self.alg = alg
        self._key = _load_key(private_key, alg)
        self.kid = kid or jwk_thumbprint(self._key)
        self.jku = jku
        self.scope = scopes if isinstance(scopes, str) else " ".join(scopes)
        self.fhir_base_url = fhir_base_url.rstrip("/") if fhir_base_url else None
        self.token_url = token_url
        self._clock = clock
        self._renew_before = renew_before
        self._assertion_lifetime = assertion_lifetime
        self._new_jti = new_jti
        self._token: Token | None = None
        # the token request in flight, if any; the lock guards it and the cache
        self._fetching: concurrent.futures.Future[_Fetched] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SmartBackendAuth(client_id={self.client_id!r}, alg={self.alg!r}, kid={self.kid!r})"

    # -- public helpers --------------------------------------------------------------

    @property
    def token(self) -> Token | None:
        """The cached token, if any (for inspection; its repr hides the secret)."""
        return self._token

    def public_jwks(self) -> dict[str, Any]:
        """The public key as a JWKS, to register with the authorization server."""
        jwk = _public_jwk(self._key)
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        return {"keys": [jwk]}

    def client_assertion(self, token_url: str) -> str:
        """A freshly signed ``private_key_jwt`` assertion for ``token_url``."""
        now = self._clock()
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": token_url,
            "exp": int(now + self._assertion_lifetime),
            "jti": self._new_jti(),
        }
        headers: dict[str, Any] = {"kid": self.kid, "typ": "JWT"}
        if self.jku:
            headers["jku"] = self.jku
        return jwt.encode(claims, self._key, algorithm=self.alg, headers=headers)

    def invalidate(self) -> None:
        """Forget the cached token (the next request obtains a new one)."""
        with self._lock:
            self._token = None

    # -- the flow ----------------------------------------------------------------------

    def auth_flow(self, request: Request) -> AuthFlow:
        """Yield the request with a valid token; on 401 renew once and yield it again."""
        token = yield from self._valid_token()
        response = yield _bearer(request, token)
        if response.status != 401:
            return
        token = yield from self._valid_token(rejected=token)
        yield _bearer(request, token)

    def _valid_token(self, rejected: Token | None = None) -> _TokenSteps:
        """The cached token while fresh (and not ``rejected`` by a 401), else the token of
        the request in flight, else one this flow requests for every flow that waits."""
        while True:
            with self._lock:
                token = self._token
                if rejected and token and token.access_token == rejected.access_token:
                    self._token = token = None  # not if another flow already replaced it
                if token is not None and self._clock() < token.expires_at - self._renew_before:
                    return token
                fetching = self._fetching
                if fetching is None:
                    fetching = self._fetching = concurrent.futures.Future()
                    fetching.set_running_or_notify_cancel()  # nobody may cancel it
                    mine = True
                else:
                    mine = False
            if mine:
                return (yield from self._fetch_for_all(fetching))
            yield Pending(fetching)
            fetched = fetching.result()
            if fetched.error is not None:
                # the same error in every waiting flow, as asyncio does for a Future's
                raise fetched.error.with_traceback(fetched.trace)
            if fetched.token is not None:
                return fetched.token
            # the flow that requested it stopped before the answer: try again

    def _fetch_for_all(self, fetching: concurrent.futures.Future[_Fetched]) -> _TokenSteps:
        """Request a token; cache it, and hand it (or the error) to the flows waiting."""
        outcome = _Fetched()  # stays empty when this flow is closed before the answer
        try:
            token = yield from self._obtain_token()
            outcome = _Fetched(token=token)
            return token
        except Exception as exc:  # the endpoint's answer, or a transport error thrown in
            outcome = _Fetched(error=exc, trace=exc.__traceback__)
            raise
        finally:
            with self._lock:
                if outcome.token is not None:
                    self._token = outcome.token
                self._fetching = None
            fetching.set_result(outcome)

    def _obtain_token(self) -> Generator[Request, Response, Token]:
        token_url = self.token_url
        if token_url is None:
            token_url = yield from self._discover()
        form = {
            "grant_type": "client_credentials",
            "scope": self.scope,
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": self.client_assertion(token_url),
        }
        started = self._clock()
        response = yield Request(
            "POST",
            token_url,
            Headers(
                {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                }
            ),
            urlencode(form).encode("ascii"),
        )
        data = _json_object(response, "token endpoint", token_url)
        if response.status != 200:
            raise AuthError(_oauth_error(response.status, data), method="POST", url=token_url)
        access = data.get("access_token")
        if not isinstance(access, str) or not access:
            raise AuthError(
                "token endpoint answered without an access_token", method="POST", url=token_url
            )
        if str(data.get("token_type", "bearer")).lower() != "bearer":
            raise AuthError(
                "token endpoint issued a non-bearer token", method="POST", url=token_url
            )
        expires_in = data.get("expires_in", 300)
        if not isinstance(expires_in, int | float) or isinstance(expires_in, bool):
            expires_in = 300
        scope = data.get("scope")
        return Token(access, started + float(expires_in), scope if isinstance(scope, str) else None)

    def _discover(self) -> Generator[Request, Response, str]:
        assert self.fhir_base_url is not None  # checked in __init__
        url = f"{self.fhir_base_url}/.well-known/smart-configuration"
        response = yield Request("GET", url, Headers({"Accept": "application/json"}))
        if response.status != 200:
            raise AuthError(
                f"SMART discovery failed with HTTP {response.status}", method="GET", url=url
            )
        config = _json_object(response, "SMART configuration", url)
        token_url = config.get("token_endpoint")
        if not isinstance(token_url, str) or not token_url:
            raise AuthError("SMART configuration has no token_endpoint", method="GET", url=url)
        for key, wanted in (
            ("grant_types_supported", "client_credentials"),
            ("token_endpoint_auth_methods_supported", "private_key_jwt"),
            ("token_endpoint_auth_signing_alg_values_supported", self.alg),
        ):
            offered = config.get(key)
            if isinstance(offered, list) and wanted not in offered:
                raise AuthError(f"server does not support {wanted} ({key})", method="GET", url=url)
        self.token_url = token_url
        return token_url


def _bearer(request: Request, token: Token) -> Request:
    return request.with_header("Authorization", f"Bearer {token.access_token}")


def _json_object(response: Response, what: str, url: str) -> dict[str, Any]:
    try:
        data = orjson.loads(response.body) if response.body else {}
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise AuthError(
            f"{what} answered HTTP {response.status} without a JSON object", method="POST", url=url
        )
    return data


def _oauth_error(status: int, data: dict[str, Any]) -> str:
    # RFC 6749 §5.2: "error" is a code from a fixed set; the description is server text.
    code = data.get("error")
    text = f"token request refused with HTTP {status}"
    if isinstance(code, str):
        # The code is from a fixed set; anything else the server put there is not shown.
        text += f": {code}" if _OAUTH_CODE.fullmatch(code) else ": (unrecognised error code)"
        description = data.get("error_description")
        if isinstance(description, str):
            text += f" ({scrub(description, limit=120)})"
    return text


def _load_key(key: PrivateKey | bytes | str, alg: str) -> PrivateKey:
    if isinstance(key, str):
        key = key.encode()
    if isinstance(key, bytes):
        try:
            loaded = load_pem_private_key(key, password=None)
        except (ValueError, TypeError) as exc:
            raise InputError("the private key is not an unencrypted PEM key") from exc
        if not isinstance(loaded, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise InputError("the private key must be RSA or EC")
        key = loaded
    if alg.startswith("RS") and not isinstance(key, rsa.RSAPrivateKey):
        raise InputError(f"{alg} needs an RSA private key")
    if alg.startswith("ES"):
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise InputError(f"{alg} needs an EC private key")
        if not isinstance(key.curve, ec.SECP384R1):
            raise InputError(f"{alg} needs a P-384 key")
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < 2048:
        raise InputError("RSA keys must have at least 2048 bits")
    return key


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _public_jwk(key: PrivateKey) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.public_key().public_numbers()
        return {"kty": "RSA", "e": _b64(numbers.e), "n": _b64(numbers.n)}
    ec_numbers = key.public_key().public_numbers()
    size = (key.curve.key_size + 7) // 8

    def coord(v: int) -> str:
        return base64.urlsafe_b64encode(v.to_bytes(size, "big")).rstrip(b"=").decode("ascii")

    return {"kty": "EC", "crv": "P-384", "x": coord(ec_numbers.x), "y": coord(ec_numbers.y)}


def jwk_thumbprint(key: PrivateKey) -> str:
    """RFC 7638 SHA-256 thumbprint of the public key (the default ``kid``)."""
    jwk = _public_jwk(key)
    required = ("e", "kty", "n") if jwk["kty"] == "RSA" else ("crv", "kty", "x", "y")
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
