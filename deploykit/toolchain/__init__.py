"""The Pulumi toolchain the stacks run on: which versions, where they are kept, how they are got.

pins.py      the pinned versions (CLI, SDK, provider packages, plugins), read from the
             package's own requirements: pyproject.toml is the one place they are written (pure)
cache.py     the cache layout, ~/.cache/deploykit/pulumi/v<version>/bin/ (pure; `missing`
             looks at the disk)
gobuild.py   builds the Pulumi CLI from Go modules, with progress and a named failure (effectful)
download.py  the vendor's release archive, time-boxed (effectful)
ensure.py    the CLI at the pinned version: cached, downloaded, built, or why it cannot be;
             `python -m deploykit.toolchain` is what scripts/bootstrap runs (effectful)
"""
