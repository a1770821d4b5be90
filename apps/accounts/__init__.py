"""accounts: the RPC service that owns accounts (PostgreSQL) and emits accounts.events.created."""
