"""The gateway as a Vercel Python function: Vercel imports this file and calls its ASGI `app`.

Deployed from the bundle deploykit uploads (this folder at the root, with the modules of `apps`
and `deploykit` the gateway imports beside it: the kit is not a package Vercel installs), so the
root is put on the import path: Vercel loads this file by its path and does not promise that
for the root.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apps.gateway.server import from_environment

app = from_environment()
