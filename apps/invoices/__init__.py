"""The billing bus's rpc service of the three-bus example: `invoices.get`, called across buses."""
