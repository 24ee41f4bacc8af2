"""FHIR R4 4.0.1 mapping: domain → FHIR (``build``), FHIR → domain (``read``), bundles, NDJSON.

Layout: ``conventions`` (identifier systems, ``urn:uuid`` full URLs, profile and
extension URLs: what both directions share), ``build`` (domain → resources) and ``read``
(resources → domain), each split into the same resource families (``people``, ``team``,
``episode``, ``plans``, ``aftercare``, ``sessions``, ``measures``; ``MAPPING.md`` pairs
each row with its build and read function), ``bundle`` (transaction and collection
Bundles), ``ndjson`` (NDJSON writing, and the one NDJSON line reader), ``summary``
(counts of what was read).

Import direction: uses :mod:`iopfhir.domain`, :mod:`iopfhir.terminology` and
:mod:`iopfhir.errors`; never the validation, client, sync or CLI layers. Inside:
``read`` → ``ndjson`` → ``build`` → ``conventions``; ``build`` never imports ``read``.
"""
