"""Local fakes of the SaaS APIs and of the Pulumi engine, for tests that never leave 127.0.0.1."""
