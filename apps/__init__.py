"""The reference SaaS that the default deploykit.yaml describes: a gateway, an RPC service and
two workers, each run as `python -m apps.<name>` and configured only by the environment."""

__version__ = "0.1.0"
