"""welcome: a worker on the queue consumer `welcome` that turns each account creation into one
accounts.events.welcomed event."""
