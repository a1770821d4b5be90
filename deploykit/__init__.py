"""deploykit: one manifest, a NATS message bus, and the targets that run it."""

__version__ = "0.1.0"
