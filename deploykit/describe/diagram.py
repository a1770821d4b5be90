"""The system drawn: buses, services by role, streams, KV and object stores, and the arrows between
them (calls, emits, queue and fanout consumers, state access), with lint findings marked. An
arrow between two buses (a cross-bus path) says which bus it is imported from.

One graph is derived from the manifest, then written two ways: Mermaid text (renders on GitHub
and in most docs tools) and a self-contained SVG for people (no renderer needed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from html import escape
from typing import Literal

from deploykit.laws.rules import Finding
from deploykit.manifest.model import ConsumeMode, Manifest
from deploykit.manifest.subjects import is_subset

__all__ = ["Edge", "Graph", "Node", "graph", "mermaid", "svg"]

Kind = Literal["frontend", "rpc", "worker", "stream", "kv", "object_store"]
Style = Literal["call", "emit", "queue", "fanout", "state"]


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    kind: Kind
    bus: str
    findings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str
    style: Style


@dataclass
class Graph:
    system: str
    buses: list[str]
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


def graph(manifest: Manifest, findings: Sequence[Finding] = ()) -> Graph:
    """Nodes for every service and storage object, edges for every declared use of one."""
    marks: dict[str, list[str]] = {}
    for finding in findings:
        marks.setdefault(_node_of(finding.path), []).append(f"{finding.rule}: {finding.message}")
    g = Graph(manifest.system, list(manifest.buses))

    def add(node_id: str, label: str, kind: Kind, bus: str) -> None:
        g.nodes.append(Node(node_id, label, kind, bus, tuple(marks.get(node_id, ()))))

    for name, stream in manifest.streams.items():
        add(f"streams.{name}", f"stream {name}", "stream", stream.bus)
        for source in stream.sources:  # a copy across buses, drawn dotted like a fanout
            label = f"copy\n{source.filter}" if source.filter else "copy"
            g.edges.append(Edge(f"streams.{source.stream}", f"streams.{name}", label, "fanout"))
    for name, bucket in manifest.kv.items():
        add(f"kv.{name}", f"kv {name}", "kv", bucket.bus)
    for name, store in manifest.object_stores.items():
        add(f"object_stores.{name}", f"objects {name}", "object_store", store.bus)
    endpoint_owner = {f"{n}.{e}": n for n, s in manifest.services.items() for e in s.endpoints}
    for name, service in manifest.services.items():
        add(f"services.{name}", f"{name} ({service.role.value})", service.role.value, service.bus)
        for call in service.calls:
            owner = endpoint_owner.get(call)
            if owner:
                g.edges.append(Edge(f"services.{name}", f"services.{owner}", call, "call"))
        for subject in service.emits:
            for stream_name, stream in manifest.streams.items():
                if stream.bus == service.bus and any(
                    is_subset(subject, s) for s in stream.subjects
                ):
                    g.edges.append(
                        Edge(f"services.{name}", f"streams.{stream_name}", subject, "emit")
                    )
        for consume in service.consumes:
            style: Style = "queue" if consume.mode is ConsumeMode.QUEUE else "fanout"
            label = f"{consume.mode.value} {consume.consumer}"
            if consume.filter:
                label += f"\n{consume.filter}"
            g.edges.append(Edge(f"streams.{consume.stream}", f"services.{name}", label, style))
        for section, uses in (("kv", service.kv), ("object_stores", service.object_stores)):
            for target, access in uses.items():
                g.edges.append(
                    Edge(f"services.{name}", f"{section}.{target}", access.value, "state")
                )
    bus_of = {node.id: node.bus for node in g.nodes}
    g.edges = [_across(edge, bus_of) for edge in g.edges]
    return g


def _across(edge: Edge, bus_of: dict[str, str]) -> Edge:
    """An edge between buses, labelled with the bus it is imported from (a call's target, the
    stream's bus for a consumer or a copy)."""
    source, target = bus_of.get(edge.source), bus_of.get(edge.target)
    if source is None or target is None or source == target:
        return edge
    exporter = target if edge.style == "call" else source
    return replace(edge, label=f"{edge.label}\nimported from {exporter}")


def _node_of(path: str) -> str:
    """`services.gateway.calls[0]` → `services.gateway`: findings mark the item they concern."""
    head, _, rest = path.partition(".")
    name = rest.split(".")[0].split("[")[0]
    return f"{head}.{name}" if name else head


_MERMAID_SHAPE = {
    "frontend": ('(["', '"])'),
    "rpc": ('["', '"]'),
    "worker": ('[["', '"]]'),
    "stream": ('[("', '")]'),
    "kv": ('[("', '")]'),
    "object_store": ('[("', '")]'),
}
_MERMAID_ARROW = {"call": "-->", "emit": "-->", "queue": "==>", "fanout": "-.->", "state": "-.-"}


def _mid(node_id: str) -> str:
    return node_id.replace(".", "_").replace("-", "_")


def mermaid(g: Graph) -> str:
    """A Mermaid flowchart: one subgraph per bus; thick arrows for queue consumers, dotted for
    fanout and state access; items with lint findings drawn red."""
    lines = ["flowchart LR"]
    for bus in g.buses:
        lines.append(f'  subgraph bus_{_mid(bus)}["bus {bus}"]')
        for node in g.nodes:
            if node.bus == bus:
                left, right = _MERMAID_SHAPE[node.kind]
                lines.append(f"    {_mid(node.id)}{left}{node.label}{right}")
        lines.append("  end")
    for edge in g.edges:
        arrow = _MERMAID_ARROW[edge.style]
        label = edge.label.replace("\n", "<br/>")
        lines.append(f'  {_mid(edge.source)} {arrow}|"{label}"| {_mid(edge.target)}')
    flagged = [_mid(n.id) for n in g.nodes if n.findings]
    if flagged:
        lines.append("  classDef finding stroke:#c00,stroke-width:3px,color:#c00")
        lines.append(f"  class {','.join(flagged)} finding")
    return "\n".join(lines) + "\n"


_COLUMN: dict[Kind, int] = {
    "frontend": 0,
    "rpc": 1,
    "stream": 2,
    "kv": 2,
    "object_store": 2,
    "worker": 3,
}
_FILL: dict[Kind, str] = {
    "frontend": "#e8f1fb",
    "rpc": "#e9f7ec",
    "worker": "#fdf3e1",
    "stream": "#f1ecfa",
    "kv": "#f4f4f4",
    "object_store": "#f4f4f4",
}
_DASH: dict[Style, str] = {"call": "", "emit": "", "queue": "", "fanout": "6 4", "state": "2 4"}
_WIDTH: dict[Style, float] = {"call": 1.5, "emit": 1.5, "queue": 3.0, "fanout": 1.5, "state": 1.0}
BOX_W, BOX_H, COL_GAP, ROW_GAP, BAND_PAD = 190, 44, 210, 30, 40


def svg(g: Graph) -> str:
    """A self-contained SVG: columns frontends | rpc | storage | workers, one band per bus."""
    places: dict[str, tuple[float, float]] = {}
    bands: list[tuple[str, float, float]] = []
    y = 50.0
    for bus in g.buses:
        top = y
        rows = [0, 0, 0, 0]
        for node in (n for n in g.nodes if n.bus == bus):
            col = _COLUMN[node.kind]
            places[node.id] = (
                30 + col * (BOX_W + COL_GAP),
                y + BAND_PAD + rows[col] * (BOX_H + ROW_GAP),
            )
            rows[col] += 1
        height = float(BAND_PAD * 2 + max(max(rows), 1) * (BOX_H + ROW_GAP))
        bands.append((bus, top, height))
        y += height + 20
    width = 60 + 4 * BOX_W + 3 * COL_GAP
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y:.0f}" '
        f'viewBox="0 0 {width} {y:.0f}" font-family="sans-serif" font-size="13">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>',
        f'<text x="30" y="30" font-size="17" font-weight="bold">{escape(g.system)}</text>',
    ]
    for bus, top, height in bands:
        out.append(
            f'<rect x="10" y="{top:.0f}" width="{width - 20}" height="{height:.0f}" rx="10" '
            'fill="none" stroke="#999" stroke-dasharray="8 4"/>'
            f'<text x="22" y="{top + 20:.0f}" fill="#666">bus {escape(bus)}</text>'
        )
    pairs = {(e.source, e.target) for e in g.edges}
    for (source, target, style), labels in _bundled(g.edges).items():
        shift = 9.0 if (target, source) in pairs else 0.0
        out.append(_arrow(places[source], places[target], style, labels, shift))
    for node in g.nodes:
        x, ny = places[node.id]
        stroke = "#c00" if node.findings else "#555"
        out.append(
            f'<g><rect x="{x:.0f}" y="{ny:.0f}" width="{BOX_W}" height="{BOX_H}" rx="8" '
            f'fill="{_FILL[node.kind]}" stroke="{stroke}" '
            f'stroke-width="{3 if node.findings else 1.2}"/>'
            f'<text x="{x + BOX_W / 2:.0f}" y="{ny + BOX_H / 2 + 4:.0f}" text-anchor="middle">'
            f"{escape(node.label)}</text>"
        )
        if node.findings:
            out.append(f"<title>{escape(chr(10).join(node.findings))}</title>")
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _bundled(edges: list[Edge]) -> dict[tuple[str, str, Style], list[str]]:
    """Parallel edges (two calls to one service) become one arrow with every label."""
    out: dict[tuple[str, str, Style], list[str]] = {}
    for edge in edges:
        out.setdefault((edge.source, edge.target, edge.style), []).append(edge.label)
    return out


def _arrow(
    a: tuple[float, float],
    b: tuple[float, float],
    style: Style,
    labels: list[str],
    shift: float,
) -> str:
    """A straight arrow between box edges; `shift` separates an arrow from its reverse."""
    (ax, ay), (bx, by) = a, b
    if ax < bx:
        x1, x2 = ax + BOX_W, bx
    elif ax > bx:
        x1, x2 = ax, bx + BOX_W
    else:
        x1 = x2 = ax + BOX_W / 2
    offset = shift if x1 < x2 or (x1 == x2 and ay < by) else -shift
    y1, y2 = ay + BOX_H / 2 - offset, by + BOX_H / 2 - offset
    if ax == bx:
        y1, y2 = (ay + BOX_H, by) if ay < by else (ay, by + BOX_H)
    dash = f' stroke-dasharray="{_DASH[style]}"' if _DASH[style] else ""
    head = "" if style == "state" else ' marker-end="url(#arrow)"'
    labels = [line for label in labels for line in label.split("\n")]
    above = offset >= 0
    mx, my = (x1 + x2) / 2, (y1 + y2) / 2
    first = my - 6 - 13 * (len(labels) - 1) if above else my + 15
    text = "".join(
        f'<tspan x="{mx:.0f}" y="{first + 13 * i:.0f}">{escape(label)}</tspan>'
        for i, label in enumerate(labels)
    )
    return (
        f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="#444" '
        f'stroke-width="{_WIDTH[style]}"{dash}{head}/>'
        f'<text text-anchor="middle" font-size="11" fill="#333">{text}</text>'
    )
