"""`deploykit dev`: the whole system on one machine, from the same templates as the metal tier.

state.py      the state folder .deploykit/ (ports, secrets, outputs; modes 0700/0600)
plan.py       pure: manifest + ports + secrets → what to run and the stack outputs
stack.py      side effects: start, wait, stop, status
discovery.py  NATS Service discovery ($SRV.PING), the readiness signal of rpc and workers
"""
