"""deploykit: one manifest, a NATS message bus, and the targets that run it.

errors.py    pure: every error deploykit reports on purpose, and the exit code each maps to
__main__.py  effectful: `python -m deploykit`, the command line

The packages, one per concern, each list their own files.
"""

__version__ = "0.1.0"
