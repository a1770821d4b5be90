"""gateway: the HTTP frontend. It forwards requests to the accounts NATS Service and never
publishes events."""
