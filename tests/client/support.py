"""Small builders shared by the client tests."""

from __future__ import annotations

from typing import Any

from iopfhir.client import Headers, Request, Response, json_response

BASE = "https://fhir.example.org/r4"


def outcome(*issues: tuple[str, str, str] | tuple[str, str, str, str]) -> dict[str, Any]:
    """An OperationOutcome from (severity, code, diagnostics[, expression]) tuples."""
    out = []
    for item in issues:
        issue: dict[str, Any] = {"severity": item[0], "code": item[1], "diagnostics": item[2]}
        if len(item) == 4:
            issue["expression"] = [item[3]]
        out.append(issue)
    return {"resourceType": "OperationOutcome", "issue": out}


def ok(body: dict[str, Any] | None = None, status: int = 200, **headers: str) -> Response:
    return json_response(status, body, {k.replace("_", "-"): v for k, v in headers.items()})


def raw(
    status: int, body: bytes = b"", content_type: str | None = None, **headers: str
) -> Response:
    h = {k.replace("_", "-"): v for k, v in headers.items()}
    if content_type:
        h["Content-Type"] = content_type
    return Response(status, Headers(h), body)


def patient(pid: str = "p1", version: str = "1", **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "meta": {"versionId": version}, **extra}


def req(method: str, url: str, body: bytes = b"", **headers: str) -> Request:
    return Request(method, url, Headers({k.replace("_", "-"): v for k, v in headers.items()}), body)
