"""Local fakes of the SaaS APIs, for tests that never leave 127.0.0.1."""
