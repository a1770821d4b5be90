"""Pulumi components of deploykit: one module per concern, grouped by tier (`small/`, `metal/`)."""
