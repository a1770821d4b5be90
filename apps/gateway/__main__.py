"""gateway: the HTTP frontend. It forwards requests to the accounts NATS Service and never
publishes events. This is its process form; `vercel/api/index.py` is its function form."""

from apps.gateway.serve import check, main
from deploykit.runtime import process

process.run(main, check)
