"""Runs a Vercel Python function the way Vercel's Lambda-style entry does, for tests.

Run by the interpreter that has `vercel-runtime` (Vercel's own Python runtime, which needs
Python 3.12+), with `__VC_HANDLER_*` naming the function. It imports `vercel_runtime.vc_init`:
without an IPC socket that module serves the function's app with its own uvicorn in a thread
and defines `vc_handler(event, context)`. Each line of stdin is one request
(`{"method", "path", "headers", "body"}`), each line of stdout its response.
"""

import json
import sys

from vercel_runtime import vc_init

print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    result = vc_init.vc_handler({"body": line}, None)
    print(json.dumps(result), flush=True)
