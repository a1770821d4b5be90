"""Test support shipped with the kit: the one place the test suite and `bench/` take helpers from.

Everything here starts or drives real parts (servers, processes, a Pulumi engine, test hosts),
except the Pulumi mock engine, which is Pulumi's own mock runtime recording what a program
declares.

    hosts   (effectful) Debian test hosts with real systemd: debootstrap rootfs, nspawn,
            network namespaces on a bridge, SSH, reboot, kill -9, teardown and sweep
engine.py  a hermetic real Pulumi engine: file backend, passphrase secrets, inline programs,
           preview/up/refresh/destroy/import, the raw state and the real CLI (effectful)
metal.py   the metal tier on test hosts: known_hosts from the hosts' own keys (effectful)
"""
