"""Pulumi components of deploykit: one module per concern (see design.md, "Where things go")."""
