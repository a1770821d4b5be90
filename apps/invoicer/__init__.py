"""The billing bus's worker of the three-bus example: core events in, billing events out."""
