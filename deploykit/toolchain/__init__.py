"""The Pulumi toolchain the stacks run on: which versions, where they are kept, how they are got.

pins.py      pure: the pinned versions (CLI, SDK, provider packages, plugins), read from the
             package's own requirements: pyproject.toml is the one place they are written
cache.py     pure: the cache layout, ~/.cache/deploykit/pulumi/v<version>/bin/ (`missing`
             looks at the disk)
gobuild.py   effectful: builds the Pulumi CLI from Go modules, with progress and a named failure
download.py  effectful: the vendor's release archive, time-boxed
ensure.py    effectful: the CLI at the pinned version: cached, downloaded, built, or why it
             cannot be; `python -m deploykit.toolchain` is what scripts/bootstrap runs
pickling.py  effectful: keeps the SDK's provider pickler one wrapper deep (a RecursionError
             after a few hundred dynamic resources otherwise)
__main__.py  effectful: `python -m deploykit.toolchain`
"""
