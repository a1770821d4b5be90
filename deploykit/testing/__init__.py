"""Test support shipped with the kit: the one place the test suite and `bench/` take helpers from.

Everything here starts or drives real parts (servers, processes, a Pulumi engine, test hosts),
except the Pulumi mock engine, which is Pulumi's own mock runtime recording what a program
declares.

engine.py  a hermetic real Pulumi engine: file backend, passphrase secrets, inline programs,
           preview/up/refresh/destroy/import, the raw state and the real CLI (effectful)
fakes/     the SaaS API fakes (Neon, Railway, Synadia Cloud), see its docstring (effectful)
"""
