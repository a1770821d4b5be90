"""Backups of the event store: streams written to files (and copied to SQL), restored into new
streams, verified.

archive.py   pure: the snapshot format (records, checksums, the manifest that closes a snapshot)
reader.py    effectful: every message of a stream up to its last sequence, in order (ordered consumer)
store.py     effectful: where snapshots are kept (a folder or an S3 bucket), manifest last; retention
snapshot.py  effectful: `deploykit backup`: streams → snapshots in a store, complete only when whole
restore.py   effectful: `deploykit restore`: a snapshot → a new stream, then verified against it
pipeline.py  effectful: ordered publishes with a bounded window, every ack's sequence checked
drill.py     effectful: back up, restore into a scratch stream, verify, delete the scratch
sqlcopy.py   pure: the SQL copy (`backup.sql`): table, roles, grants, statements, archiver wiring
archiver.py  effectful: `python -m deploykit.backup.archiver`: streams → the SQL copy, ack after commit
fromsql.py   effectful: `restore --from-sql`: the SQL copy of a stream as a restore source
"""
