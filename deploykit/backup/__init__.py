"""Backups of the event store: streams written to files, restored into new streams, verified.

archive.py   pure: the snapshot format (records, checksums, the manifest that closes a snapshot)
reader.py    effectful: every message of a stream up to its last sequence, in order (ordered consumer)
snapshot.py  effectful: `deploykit backup`: streams → snapshot folders, written then renamed
restore.py   effectful: `deploykit restore`: a snapshot → a new stream, then verified against it
drill.py     effectful: back up, restore into a scratch stream, verify, delete the scratch
retention.py effectful: `--keep N`: a stream's older snapshots removed (`expired` decides, pure)
"""
