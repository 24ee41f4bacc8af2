"""Real FHIR servers for integration tests, started on 127.0.0.1 by the test session."""
