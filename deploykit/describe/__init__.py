"""Documents that describe the system for people and other tools, made from the manifest alone.

asyncapi.py  pure: one AsyncAPI 3.0 document per bus (channels, operations, payloads, JetStream)
diagram.py   pure: the system drawn as Mermaid text and as an SVG picture
compat.py    pure: which contract changes between two manifests break which services
"""
