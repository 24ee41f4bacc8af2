"""The one exception tree of iopfhir.

Every error the library raises derives from :class:`IopFhirError` and from the
builtin it most resembles, so callers can catch either::

    IopFhirError
    ├── InputError (ValueError)                 bad user input; the CLI exits with 2
    │   ├── EpisodeInputError                   an episode file breaks the input schema or a rule
    │   ├── TerminologyError                    an unknown code, instrument or answer
    │   ├── LoadError                           bytes that are not JSON/YAML within the limits
    │   ├── FhirInputError                      FHIR JSON that cannot be read at all
    │   └── DisclosureRefused                   42 CFR Part 2 data would leave without consent
    ├── MappingError (ValueError)               a domain object cannot be expressed in FHIR
    ├── ValidationFailed (ValueError)           FHIR content failed validation (carries the report)
    ├── ClientError                             anything that went wrong talking to a server
    │   ├── TransportError (ConnectionError)    no usable HTTP response
    │   │   ├── ConnectTimeout / ReadTimeout (TimeoutError)
    │   │   └── ResponseTooLarge
    │   ├── InsecureTransportError              plain http to a non-loopback host, TLS off
    │   │   └── CrossOriginRedirect             a redirect to another origin (never followed)
    │   ├── AuthError (PermissionError)         token endpoint or credentials failed
    │   ├── ServerError                         the server answered with an error status
    │   │   ├── BadRequest (400) / Unauthorized (401) / Forbidden (403) / NotFound (404)
    │   │   ├── MethodNotAllowed (405) / Conflict (409) / Gone (410)
    │   │   ├── PreconditionFailed (412) / UnprocessableEntity (422)
    │   │   ├── TooManyRequests (429)
    │   │   └── ServerUnavailable (5xx)
    │   ├── MalformedResponse (ValueError)      a body that is not the JSON we were promised
    │   └── RetryExhausted                      the retry policy gave up (wraps the last error)
    ├── SyncError                               push/pull could not complete
    │   ├── SyncConflict                        a concurrent change we must not overwrite
    │   ├── UnsupportedByServer                 the server's capabilities rule the write out
    │   └── ExportError (iopfhir.sync)          a Bulk Data export could not complete
    └── PluginError (LookupError)               an entry point is missing or broken

Every error carries ``issues``: a list of :class:`Issue`, the shape of an
``OperationOutcome.issue`` (severity, code, FHIRPath/JSON path, message).
Messages name paths and codes, never patient data or credentials.

A :class:`ClientError` names its request as ``METHOD origin/path-template``
(:func:`request_label`): never a query string, and the ids in the path replaced by
``{id}`` (an id may come from the input). Its message is one line and bounded
(:data:`MAX_CLIENT_MESSAGE` characters); server text reaches it only after the client
scrubbed it (:mod:`iopfhir.client.redact`), and the server's own OperationOutcome is kept
unchanged on :attr:`ServerError.outcome` for programs, never in the message.

This module imports nothing from the rest of the package.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "MAX_CLIENT_MESSAGE",
    "R4_RESOURCE_TYPES",
    "AuthError",
    "BadRequest",
    "ClientError",
    "Conflict",
    "ConnectTimeout",
    "CrossOriginRedirect",
    "DisclosureRefused",
    "EpisodeInputError",
    "FhirInputError",
    "Forbidden",
    "Gone",
    "InputError",
    "InsecureTransportError",
    "IopFhirError",
    "Issue",
    "LoadError",
    "MalformedResponse",
    "MappingError",
    "MethodNotAllowed",
    "NotFound",
    "PluginError",
    "PreconditionFailed",
    "ReadTimeout",
    "ResponseTooLarge",
    "RetryExhausted",
    "ServerError",
    "ServerUnavailable",
    "SyncConflict",
    "SyncError",
    "TerminologyError",
    "TooManyRequests",
    "TransportError",
    "Unauthorized",
    "UnprocessableEntity",
    "UnsupportedByServer",
    "ValidationFailed",
    "one_line",
    "request_label",
]

Severity = Literal["fatal", "error", "warning", "information"]


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding, shaped like ``OperationOutcome.issue``.

    ``path`` is a FHIRPath expression for FHIR content (``CarePlan.activity[0].detail.status``)
    or a JSON path for input files (``$.sessions[3].end``). ``code`` is from the FHIR
    issue-type value set (``required``, ``value``, ``code-invalid``, ``invariant``, ...).
    """

    severity: Severity
    code: str
    message: str
    path: str | None = None
    source: str | None = None

    def to_fhir(self) -> dict[str, Any]:
        """Return this issue as an ``OperationOutcome.issue`` element."""
        out: dict[str, Any] = {"severity": self.severity, "code": self.code}
        out["diagnostics"] = self.message
        if self.path:
            out["expression"] = [self.path]
        return out

    @classmethod
    def from_fhir(cls, element: dict[str, Any]) -> Issue:
        """Read an ``OperationOutcome.issue`` element (as sent by a server)."""
        severity = element.get("severity", "error")
        if severity not in ("fatal", "error", "warning", "information"):
            severity = "error"
        expression = element.get("expression") or element.get("location") or []
        text = element.get("diagnostics") or (element.get("details") or {}).get("text") or ""
        return cls(
            severity=severity,
            code=str(element.get("code", "unknown")),
            message=str(text),
            path=str(expression[0]) if expression else None,
        )

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.severity} [{self.code}] {where}{self.message}"


class IopFhirError(Exception):
    """Base of every iopfhir error. ``issues`` holds OperationOutcome-shaped details."""

    def __init__(
        self, message: str, *, issues: Iterable[Issue] = (), path: str | None = None
    ) -> None:
        self.issues: list[Issue] = list(issues)
        self.path = path
        if not self.issues:
            self.issues = [Issue("error", self.default_code, message, path)]
        super().__init__(f"{path}: {message}" if path else message)

    default_code = "exception"

    def operation_outcome(self) -> dict[str, Any]:
        """The error as a FHIR ``OperationOutcome`` resource."""
        return {
            "resourceType": "OperationOutcome",
            "issue": [issue.to_fhir() for issue in self.issues],
        }


class InputError(IopFhirError, ValueError):
    """Input the user supplied is unusable. The CLI maps this to exit code 2."""

    default_code = "invalid"


class EpisodeInputError(InputError):
    """An episode file breaks the input schema or a domain rule; ``path`` is a JSON path."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        file: str | None = None,
        issues: Iterable[Issue] = (),
    ) -> None:
        self.file = file
        super().__init__(message, issues=issues, path=path)

    def __str__(self) -> str:
        base = super().__str__()
        return f"{self.file}: {base}" if self.file else base


class TerminologyError(InputError):
    """A code, instrument or answer that the package's terminology does not know."""

    default_code = "code-invalid"


class LoadError(InputError):
    """Bytes that are not JSON or YAML within the limits of :mod:`iopfhir.loading`: a
    refused encoding, a syntax error, a duplicate key, nesting, a number or a string too
    large. ``origin`` names the input; ``line`` and ``column`` (1-based, bytes) say where,
    when known; ``detail`` is the message without the origin (for readers that re-raise
    it as their own error), ``reason`` the message without the place either. Never holds
    input content."""

    default_code = "structure"

    def __init__(
        self,
        detail: str,
        *,
        origin: str,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.origin = origin
        self.line = line
        self.column = column
        self.reason = detail
        where = ""
        if line is not None:
            where = f"line {line}, column {column}: " if column is not None else f"line {line}: "
        self.detail = f"{where}{detail}"
        super().__init__(self.detail, path=origin)


class FhirInputError(InputError):
    """FHIR content that cannot be read at all (not JSON, no ``resourceType``...)."""

    default_code = "structure"


class DisclosureRefused(InputError):
    """42 CFR Part 2 data would leave the program without a disclosure under the patient's
    consent (e.g. ``push`` to a server that is not the program's own record system, with no
    recipient named). Raised before any request."""

    default_code = "security"


class MappingError(IopFhirError, ValueError):
    """A domain object that cannot be expressed in FHIR, or FHIR that breaks a mapping rule."""

    default_code = "processing"


class ValidationFailed(IopFhirError, ValueError):
    """FHIR content failed validation; ``issues`` is the validator's report.

    ``report`` is set when a push stopped on it (its report: nothing written).
    """

    default_code = "invalid"
    report: Any = None


#: The longest message a :class:`ClientError` carries (its request label included).
MAX_CLIENT_MESSAGE = 300
_MAX_LABEL = 120

#: The R4 4.0.1 resource types. Path segments that name one are kept in a request label;
#: every other segment after the first type is an id (or a version id) and is hidden.
_R4_TYPE_NAMES = """Account ActivityDefinition AdverseEvent AllergyIntolerance Appointment
    AppointmentResponse AuditEvent Basic Binary BiologicallyDerivedProduct BodyStructure
    Bundle CapabilityStatement CarePlan CareTeam CatalogEntry ChargeItem
    ChargeItemDefinition Claim ClaimResponse ClinicalImpression CodeSystem Communication
    CommunicationRequest CompartmentDefinition Composition ConceptMap Condition Consent
    Contract Coverage CoverageEligibilityRequest CoverageEligibilityResponse DetectedIssue
    Device DeviceDefinition DeviceMetric DeviceRequest DeviceUseStatement DiagnosticReport
    DocumentManifest DocumentReference EffectEvidenceSynthesis Encounter Endpoint
    EnrollmentRequest EnrollmentResponse EpisodeOfCare EventDefinition Evidence
    EvidenceVariable ExampleScenario ExplanationOfBenefit FamilyMemberHistory Flag Goal
    GraphDefinition Group GuidanceResponse HealthcareService ImagingStudy Immunization
    ImmunizationEvaluation ImmunizationRecommendation ImplementationGuide InsurancePlan
    Invoice Library Linkage List Location Measure MeasureReport Media Medication
    MedicationAdministration MedicationDispense MedicationKnowledge MedicationRequest
    MedicationStatement MedicinalProduct MedicinalProductAuthorization
    MedicinalProductContraindication MedicinalProductIndication MedicinalProductIngredient
    MedicinalProductInteraction MedicinalProductManufactured MedicinalProductPackaged
    MedicinalProductPharmaceutical MedicinalProductUndesirableEffect MessageDefinition
    MessageHeader MolecularSequence NamingSystem NutritionOrder Observation
    ObservationDefinition OperationDefinition OperationOutcome Organization
    OrganizationAffiliation Parameters Patient PaymentNotice PaymentReconciliation Person
    PlanDefinition Practitioner PractitionerRole Procedure Provenance Questionnaire
    QuestionnaireResponse RelatedPerson RequestGroup ResearchDefinition
    ResearchElementDefinition ResearchStudy ResearchSubject RiskAssessment
    RiskEvidenceSynthesis Schedule SearchParameter ServiceRequest Slot Specimen
    SpecimenDefinition StructureDefinition StructureMap Subscription Substance
    SubstanceNucleicAcid SubstancePolymer SubstanceProtein SubstanceReferenceInformation
    SubstanceSourceMaterial SubstanceSpecification SupplyDelivery SupplyRequest Task
    TerminologyCapabilities TestReport TestScript ValueSet VerificationResult
    VisionPrescription"""
R4_RESOURCE_TYPES = frozenset(_R4_TYPE_NAMES.split())
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: str, limit: int) -> str:
    """``text`` without control characters or line breaks, at most ``limit`` characters."""
    flat = " ".join(_CONTROL.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: max(0, limit - 1)] + "…"


def request_label(method: str | None, url: str | None, *, origin: bool = True) -> str:
    """``METHOD scheme://host[:port]/path`` with no query and every id replaced by ``{id}``
    (without ``scheme://host[:port]`` when ``origin`` is false: how logs name requests).

    Path segments before the first resource type are the server's base path and are kept;
    after it, resource types, ``_history``/``_search``-style keywords and ``$operations``
    are kept and anything else (an id, a version id) becomes ``{id}``.
    """
    if not url:
        return method or ""
    parts = urlsplit(url)
    out: list[str] = []
    in_fhir_path = False
    for segment in parts.path.split("/"):
        if segment in R4_RESOURCE_TYPES:
            in_fhir_path = True
            out.append(segment)
        elif not in_fhir_path or not segment or segment[0] in "_$" or segment == "metadata":
            out.append(segment)
        else:
            out.append("{id}")
    where = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}" if origin else ""
    label = one_line(f"{where}{'/'.join(out) or '/'}", _MAX_LABEL)
    return f"{method} {label}" if method else label


class ClientError(IopFhirError):
    """Something went wrong talking to a FHIR server.

    ``method`` and ``url`` name the request (``url`` without its query string, which may
    hold patient identifiers); the message names it by :func:`request_label` once, after
    ``reason``, the message the error was raised with. The whole message is one line of at
    most :data:`MAX_CLIENT_MESSAGE` characters.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        url: str | None = None,
        issues: Iterable[Issue] = (),
    ) -> None:
        self.method = method
        self.url = url.split("?", 1)[0].split("#", 1)[0] if url else None
        where = f" ({request_label(method, self.url)})" if method and self.url else ""
        self.reason = one_line(message, MAX_CLIENT_MESSAGE - len(where))
        super().__init__(f"{self.reason}{where}", issues=issues)


class TransportError(ClientError, ConnectionError):
    """No usable HTTP response: connection refused or reset, DNS, TLS failure."""

    default_code = "transient"


class ConnectTimeout(TransportError, TimeoutError):
    """The connection could not be opened in time."""

    default_code = "timeout"


class ReadTimeout(TransportError, TimeoutError):
    """The server accepted the connection but did not answer in time."""

    default_code = "timeout"


class ResponseTooLarge(TransportError):
    """The response body exceeded the configured size bound."""

    default_code = "too-costly"


class InsecureTransportError(ClientError):
    """Plain ``http://`` to a non-loopback host, or TLS verification turned off, without opt-in."""

    default_code = "security"


class CrossOriginRedirect(InsecureTransportError):
    """The server redirected to another origin; the request was not sent there.

    ``origin`` and ``target`` are ``scheme://host:port`` only: a redirect's path and query
    can carry identifiers (an MRN in a search), so they are named nowhere.
    """

    def __init__(self, status: int, origin: str, target: str, *, method: str, url: str) -> None:
        self.status = status
        self.origin = origin
        self.target = target
        super().__init__(
            f"refusing HTTP {status} redirect from {origin} to another origin {target} "
            "(redirects are followed on the same origin only)",
            method=method,
            url=url,
        )


class AuthError(ClientError, PermissionError):
    """Credentials were refused or a token could not be obtained."""

    default_code = "login"


class ServerError(ClientError):
    """The server answered with an error status; ``status`` is the HTTP status code.

    ``outcome`` is the server's ``OperationOutcome`` exactly as sent (``None`` when the body
    was not one), for programs that want it: it is server text, possibly repeating patient
    data or credentials, so it is never put in a message or a log. ``issues`` are its
    issues with the text scrubbed.
    """

    status: int = 0

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str | None = None,
        url: str | None = None,
        issues: Iterable[Issue] = (),
        retry_after: float | None = None,
        outcome: dict[str, Any] | None = None,
    ) -> None:
        if status is not None:
            self.status = status
        self.retry_after = retry_after
        self.outcome = outcome
        super().__init__(message, method=method, url=url, issues=issues)


class BadRequest(ServerError):
    """HTTP 400."""

    status = 400


class Unauthorized(ServerError, PermissionError):
    """HTTP 401."""

    status = 401


class Forbidden(ServerError, PermissionError):
    """HTTP 403."""

    status = 403


class NotFound(ServerError, LookupError):
    """HTTP 404."""

    status = 404


class MethodNotAllowed(ServerError):
    """HTTP 405: the server does not allow this interaction on this type."""

    status = 405


class Conflict(ServerError):
    """HTTP 409."""

    status = 409


class Gone(ServerError):
    """HTTP 410: the resource was deleted."""

    status = 410


class PreconditionFailed(ServerError):
    """HTTP 412: ``If-Match`` did not match, or a conditional create matched several."""

    status = 412


class UnprocessableEntity(ServerError):
    """HTTP 422: the server rejected the content (profile or business rule)."""

    status = 422


class TooManyRequests(ServerError):
    """HTTP 429; ``retry_after`` holds the server's hint in seconds, when it gave one."""

    status = 429


class ServerUnavailable(ServerError):
    """HTTP 5xx."""

    status = 500


class MalformedResponse(ClientError, ValueError):
    """A response body that is not the FHIR JSON the interaction promises."""

    default_code = "structure"


class RetryExhausted(ClientError):
    """The retry policy gave up; ``last`` is the error of the final attempt."""

    def __init__(self, message: str, *, last: ClientError) -> None:
        # ``message`` names ``last`` by its ``reason``: the request is named once, here.
        self.last = last
        super().__init__(message, method=last.method, url=last.url, issues=last.issues)


class SyncError(IopFhirError):
    """A push or pull could not complete; ``report`` says what was and was not written."""

    def __init__(self, message: str, *, report: Any = None, issues: Sequence[Issue] = ()) -> None:
        self.report = report
        super().__init__(message, issues=issues)


class SyncConflict(SyncError):
    """Another client changed a resource in a conflicting way; nothing was overwritten."""

    default_code = "conflict"


class UnsupportedByServer(SyncError):
    """The server's CapabilityStatement rules out an interaction we need."""

    default_code = "not-supported"


class PluginError(IopFhirError, LookupError):
    """An entry-point plugin is missing, ambiguous or failed to load."""

    default_code = "not-found"
