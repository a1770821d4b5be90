"""The local stack (`deploykit dev`): the whole system on one machine, from the metal templates.

state.py      effectful: the state folder .deploykit/ (ports, secrets, outputs; modes 0700/0600)
plan.py       pure: manifest + ports + secrets → what to run and the stack outputs
stack.py      effectful: start, wait until ready, stop, status
nats.py       effectful: a NATS cluster of real nats-server processes on loopback
postgres.py   effectful: a real PostgreSQL on loopback (pgserver's binaries, unprivileged user)
processes.py  effectful: processes that outlive the command (pid and log files, stop, wait)
launch.py     effectful: the Python services forked from one launcher that imported the runtime once
ports.py      effectful: free loopback ports, chosen by the kernel
"""
