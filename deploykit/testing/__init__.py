"""Test support shipped with the kit: the one place the test suite and `bench/` take helpers from.

polling.py      pure: wait_until / retry (sync and async; no I/O of their own): a deadline, and a
                message naming what was awaited when it runs out
pulumimocks.py  effectful: the one Pulumi mock engine (in-process: replaces Pulumi's runtime with
                mocks that record every registration; no servers or files)
faults.py       effectful: fault scenarios on real servers (kill -9, SIGSTOP) and their figures
clirun.py       effectful: `deploykit` as a user runs it: in-process, or the console script
natsusers.py    effectful: a local nats-server with a manifest's compiled accounts and users
engine.py       effectful: a hermetic real Pulumi engine: file backend, passphrase secrets, inline
                programs, preview/up/refresh/destroy/import, the raw state and the real CLI
fakes/          effectful: the SaaS API fakes (Neon, Railway, Synadia Cloud), see its docstring
sockets.py      effectful: what a process tree listens on (from /proc), for the loopback tests
hosts.py        effectful: Debian test hosts with real systemd: debootstrap rootfs, nspawn,
                network namespaces on a bridge, SSH, reboot, kill -9, teardown and sweep

metal.py        effectful: the metal tier on test hosts: known_hosts from the hosts' own keys, the
                end-to-end scenario driver

The effectful ones start or drive real parts (servers, processes, test hosts), except the mock
engine. The kit itself never imports this package (a test checks it).
"""
