"""The laws of the architecture: one rule table, read by the lint and by the permission compiler.

rules.py        pure: the laws as rules with stable ids (DK101…), and the lint that applies them
permissions.py  pure: manifest → NATS accounts, users and allow/deny lists, from the same rules
exports.py      pure: cross-bus paths → each account's exports and imports, exactly what is used
natsapi.py      pure: the subjects of NATS's own APIs that each client operation needs
authconf.py     pure: compiled authorization rendered as nats-server `accounts` or a neutral document
"""
