"""An in-memory FHIR server for the sync unit tests, configurable in what it supports."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from iopfhir.client import Request, Response, json_response
from iopfhir.errors import TransportError
from iopfhir.sync import IOP_TYPES

BASE = "https://fhir.example.test/r4"


def _refs(node: Any, mapping: dict[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and ref in mapping:
            node["reference"] = mapping[ref]
        for v in node.values():
            _refs(v, mapping)
    elif isinstance(node, list):
        for v in node:
            _refs(v, mapping)


def _idents(resource: dict[str, Any]) -> set[str]:
    idents = resource.get("identifier") or []
    if isinstance(idents, dict):
        idents = [idents]
    return {f"{i.get('system')}|{i.get('value')}" for i in idents}


class FakeServer:
    """``handle(request)`` answers like a small FHIR server; ``writes`` counts writes."""

    def __init__(
        self,
        *,
        transaction: bool = True,
        batch: bool = True,
        read_only: tuple[str, ...] = (),
        fail_on_write_call: int | None = None,
        fail_status: int = 500,
    ) -> None:
        self.transaction, self.batch, self.read_only = transaction, batch, read_only
        self.store: dict[tuple[str, str], dict[str, Any]] = {}
        self.writes = 0
        self.write_calls = 0
        self.fail_on_write_call = fail_on_write_call
        self.fail_status = fail_status
        self.bodies: list[dict[str, Any]] = []

    def statement(self) -> dict[str, Any]:
        resources = []
        for t in IOP_TYPES:
            inter = ["read", "search-type"] + ([] if t in self.read_only else ["create", "update"])
            resources.append(
                {
                    "type": t,
                    "interaction": [{"code": c} for c in inter],
                    "searchParam": [{"name": "identifier", "type": "token"}],
                }
            )
        system = ([{"code": "transaction"}] if self.transaction else []) + (
            [{"code": "batch"}] if self.batch else []
        )
        return {
            "resourceType": "CapabilityStatement",
            "fhirVersion": "4.0.1",
            "rest": [{"mode": "server", "resource": resources, "interaction": system}],
        }

    # -- one interaction ----------------------------------------------------------------

    def _search(self, rtype: str, query: dict[str, list[str]]) -> dict[str, Any]:
        wanted: set[str] = set()
        for value in query.get("identifier", []):
            wanted |= {v.replace("\\,", ",") for v in value.split(",")}
        hits = [r for (t, _), r in self.store.items() if t == rtype and _idents(r) & wanted]
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(hits),
            "entry": [{"resource": r, "search": {"mode": "match"}} for r in hits],
        }

    def _write(
        self,
        method: str,
        path: str,
        body: dict[str, Any],
        if_none: str | None,
        if_match: str | None,
    ) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        rtype = parts[0]
        if rtype in self.read_only:
            return 405, {}
        if method == "POST":
            if if_none:
                found = self._search(rtype, parse_qs(if_none))["entry"]
                if len(found) > 1:
                    return 412, {}
                if found:
                    return 200, found[0]["resource"]
            rid = str(uuid.uuid4())
            version = 1
        else:
            rid = parts[1]
            current = self.store.get((rtype, rid))
            version = int(current["meta"]["versionId"]) + 1 if current else 1
            if if_match and (not current or if_match != f'W/"{current["meta"]["versionId"]}"'):
                return 412, {}
        stored = json.loads(json.dumps(body))
        stored["id"] = rid
        stored["meta"] = {**(stored.get("meta") or {}), "versionId": str(version)}
        self.store[(rtype, rid)] = stored
        self.writes += 1
        return (201 if version == 1 else 200), stored

    def handle(self, request: Request) -> Response:
        url = urlsplit(request.url)
        path = url.path[len(urlsplit(BASE).path) :].strip("/")
        query = parse_qs(url.query)
        if request.method == "GET":
            if path == "metadata":
                return json_response(200, self.statement())
            parts = path.split("/")
            if len(parts) == 1:
                return json_response(200, self._search(parts[0], query))
            found = self.store.get((parts[0], parts[1]))
            return (
                json_response(200, found)
                if found
                else json_response(404, {"resourceType": "OperationOutcome", "issue": []})
            )
        body = json.loads(request.body)
        self.bodies.append(body)
        if path == "":
            return self._bundle(body)
        self.write_calls += 1
        if self.fail_on_write_call and self.write_calls >= self.fail_on_write_call:
            return json_response(
                self.fail_status, {"resourceType": "OperationOutcome", "issue": []}
            )
        status, res = self._write(
            request.method,
            path,
            body,
            request.headers.get("If-None-Exist"),
            request.headers.get("If-Match"),
        )
        if status >= 400:
            return json_response(
                status,
                {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "processing"}],
                },
            )
        return json_response(
            status,
            res,
            {"Location": f"{BASE}/{_loc(res)}"},
        )

    def _bundle(self, bundle: dict[str, Any]) -> Response:
        kind = bundle["type"]
        if (kind == "transaction" and not self.transaction) or (kind == "batch" and not self.batch):
            return json_response(400, {"resourceType": "OperationOutcome", "issue": []})
        is_write = any(e["request"]["method"] != "GET" for e in bundle["entry"])
        if is_write:
            self.write_calls += 1
            if self.fail_on_write_call and self.write_calls >= self.fail_on_write_call:
                if self.fail_status == 0:
                    raise TransportError("connection reset", method="POST", url=BASE)
                return json_response(
                    self.fail_status, {"resourceType": "OperationOutcome", "issue": []}
                )
        mapping: dict[str, str] = {}
        out = []
        for entry in bundle["entry"]:
            req = entry["request"]
            if req["method"] == "GET":
                target = urlsplit(req["url"])
                parts = target.path.split("/")
                if len(parts) == 1:
                    out.append(
                        {
                            "response": {"status": "200 OK"},
                            "resource": self._search(parts[0], parse_qs(target.query)),
                        }
                    )
                else:
                    found = self.store.get((parts[0], parts[1]))
                    out.append(
                        {
                            "response": {"status": "200 OK" if found else "404 Not Found"},
                            **({"resource": found} if found else {}),
                        }
                    )
                continue
            resource = json.loads(json.dumps(entry["resource"]))
            _refs(resource, mapping)
            status, res = self._write(
                req["method"], req["url"], resource, req.get("ifNoneExist"), req.get("ifMatch")
            )
            if status >= 400:
                if kind == "transaction":
                    return json_response(
                        status,
                        {
                            "resourceType": "OperationOutcome",
                            "issue": [{"severity": "error", "code": "conflict"}],
                        },
                    )
                out.append({"response": {"status": str(status)}})
                continue
            mapping[entry.get("fullUrl", "")] = f"{res['resourceType']}/{res['id']}"
            out.append(
                {
                    "response": {
                        "status": f"{status}",
                        "location": _loc(res),
                    }
                }
            )
        return json_response(
            200, {"resourceType": "Bundle", "type": f"{kind}-response", "entry": out}
        )


def _loc(res: dict[str, Any]) -> str:
    return f"{res['resourceType']}/{res['id']}/_history/{res['meta']['versionId']}"
