"""URL rules the client applies to every request it sends.

* a client's base URL is an absolute ``http(s)`` URL without query or fragment;
* plain ``http://`` is refused (:class:`~iopfhir.errors.InsecureTransportError`) unless
  the host is a loopback address (``127.0.0.0/8``, ``::1``, ``localhost``) or the caller
  passed ``allow_insecure_http=True``;
* TLS certificate verification is turned off only on an explicit opt-in, and then with a
  warning in the log (:func:`check_tls_verification`, called by every transport);
* requests go only to the origin (scheme, host, port) of the server: a redirect to
  another origin is refused (:class:`~iopfhir.errors.CrossOriginRedirect`, raised by the
  send loop before anything is sent there), and ``next`` links or ``Location`` URLs on
  another origin are not followed either.
"""

from __future__ import annotations

import ipaddress
import logging
from urllib.parse import urlsplit

from iopfhir.errors import InputError, InsecureTransportError

from .transport import origin_of

__all__ = [
    "CREDENTIAL_HEADERS",
    "check_base_url",
    "check_tls_verification",
    "check_url",
    "is_loopback_host",
    "same_origin",
]

log = logging.getLogger("iopfhir.client")

#: Headers that carry credentials (never logged, never followed to another origin).
CREDENTIAL_HEADERS = ("Authorization", "Proxy-Authorization", "Cookie")


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, allow_insecure_http: bool) -> None:
    """Raise unless ``url`` is ``https``, or ``http`` to loopback, or ``http`` allowed."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https":
        return
    if scheme != "http":
        raise InsecureTransportError(f"unsupported URL scheme {scheme!r}", url=url)
    if allow_insecure_http or is_loopback_host(parts.hostname or ""):
        return
    raise InsecureTransportError(
        "refusing plain http to a non-loopback host (pass allow_insecure_http=True to override)",
        url=url,
    )


def check_base_url(base_url: str, *, allow_insecure_http: bool) -> str:
    """A client's base URL without its trailing ``/``, after the rules of :func:`check_url`.

    It must be an absolute http(s) URL without query or fragment; plain http to a host
    that is not loopback (allowed by ``allow_insecure_http``) is logged as a warning.
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError("base_url must be an absolute http(s) URL")
    if parts.query or parts.fragment:
        raise InputError("base_url must not carry a query or fragment")
    checked = base_url.rstrip("/")
    check_url(checked, allow_insecure_http=allow_insecure_http)
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        log.warning("plain http allowed to a non-loopback host: %s", parts.hostname)
    return checked


def check_tls_verification(verify: bool | str, *, allow_unverified_tls: bool) -> None:
    """Raise when ``verify`` is ``False`` without ``allow_unverified_tls``; warn when allowed.

    ``verify`` is what a transport hands its HTTP library: ``True``, a CA bundle path, or
    ``False``. Turning verification off never happens silently.
    """
    if verify is not False:
        return
    if not allow_unverified_tls:
        raise InsecureTransportError(
            "TLS certificate verification cannot be turned off without allow_unverified_tls=True"
        )
    log.warning("TLS certificate verification is OFF for this transport")


def same_origin(a: str, b: str) -> bool:
    """True when both absolute URLs share scheme, host and port."""
    return origin_of(a) == origin_of(b)
