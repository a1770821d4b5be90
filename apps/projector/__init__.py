"""projector: a worker on a fanout consumer that keeps its own in-memory read model of accounts
(each instance its own), warms up from the whole stream before it is ready, and never publishes."""
