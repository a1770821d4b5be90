"""The manifest: `deploykit.yaml` loaded, typed and cross-checked. Everything here is pure.

load.py        YAML → model → cross references, every problem located by file and field path
model.py       the pydantic models of the manifest, field rules and field documentation
references.py  rules that relate one part of the manifest to another (a consumer's stream exists)
subjects.py    NATS subject and name syntax, matching and overlap, as the server decides them
units.py       durations and sizes as people write them ("30d", "512MiB") and as JetStream takes them
naming.py      the names the kit derives (accounts, users, inboxes, queue groups, smoke assets)
"""
