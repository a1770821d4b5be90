"""The manifest: `deploykit.yaml` loaded, typed and cross-checked.

load.py        pure: YAML → model → cross references, every problem located by file and field path
model.py       pure: the pydantic models of the manifest, field rules and field documentation
kinds.py       pure: the kinds of services and consumers (a running service's wiring needs only these)
fielddocs.py   pure: the field documentation as the manifest reference and `validate --help`
references.py  pure: rules that relate one part of the manifest to another
crossbus.py    pure: the paths between buses (calls, consumers, sources), where they are declared
contracts.py   pure: message contracts (JSON Schema per subject), checked and applied to payloads
subjects.py    pure: NATS subject and name syntax, matching and overlap, as the server decides
units.py       pure: durations and sizes as people write them ("30d", "512MiB") and as JetStream takes them
wiring.py      pure: what the manifest says about one running service (DEPLOYKIT_WIRING), as the
               runtime reads it; derived by the kit, so a service needs no copy of the manifest
naming.py      pure: the names the kit derives (accounts, users, inboxes, queue groups, smoke assets)
"""
