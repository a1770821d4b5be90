"""gateway: the HTTP frontend. It forwards requests to the accounts NATS Service and never
publishes events. One ASGI app, run unchanged in each form:

server.py            effectful: the ASGI app and its NATS connection (made on first use)
serve.py             effectful: the process form, uvicorn on HOST:PORT (local, container)
__main__.py          effectful: `python -m apps.gateway`, the process form
vercel/api/index.py  effectful: the Vercel function form, exporting `app`
vercel/vercel.json, vercel/requirements.txt: Vercel's routing and what it installs
"""
