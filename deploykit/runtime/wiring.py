"""The wiring under the name services' own tests written before it moved import it by; it is
`deploykit.manifest.wiring` (a derivation of the manifest the kit computes without the runtime)."""

from deploykit.manifest.wiring import ConsumerWiring, Wiring, wiring_for

__all__ = ["ConsumerWiring", "Wiring", "wiring_for"]
