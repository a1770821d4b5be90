"""A plan as people read it (a rich table) and as programs read it (JSON)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from deploykit.jetstream.apply import ApplyResult
from deploykit.jetstream.plan import Plan

__all__ = ["plans_json", "print_plan", "print_result"]

_STYLE = {"create": "green", "update": "yellow", "replace": "bold red", "delete": "bold red"}


def print_plan(console: Console, plan: Plan) -> None:
    """One row per step; replace and delete say that they destroy data."""
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/] bus {plan.bus}: {warning}")
    if not plan.steps and not plan.undeclared:
        console.print(f"bus {plan.bus}: no changes ({len(plan.unchanged)} objects up to date)")
        return
    table = Table(title=f"bus {plan.bus}", title_justify="left", show_lines=False)
    table.add_column("action")
    table.add_column("object")
    table.add_column("changes")
    for step in plan.steps:
        style = _STYLE[step.action]
        action = f"[{style}]{step.action}[/]"
        details = [c.render() for c in step.changes]
        if step.note:
            details.append(step.note)
        if step.destroys_data and "destroys" not in step.note:
            details.append("[bold red]destroys data[/]")
        table.add_row(action, step.label, "\n".join(details) or "-")
    for item in plan.undeclared:
        table.add_row("[dim]keep[/]", item.label, "not declared; deleted only with --prune")
    console.print(table)
    console.print(
        f"bus {plan.bus}: {len(plan.steps)} to change, {len(plan.unchanged)} up to date, "
        f"{len(plan.undeclared)} undeclared kept"
    )


def print_result(console: Console, result: ApplyResult) -> None:
    counts: dict[str, int] = {}
    for step in result.done:
        counts[step.action] = counts.get(step.action, 0) + 1
    summary = ", ".join(f"{n} {action}d" for action, n in sorted(counts.items())) or "nothing"
    console.print(f"bus {result.bus}: applied: {summary} ({result.mutations} API changes)")


def plans_json(plans: Sequence[Plan]) -> str:
    return json.dumps(
        {"changes": any(p.has_changes for p in plans), "buses": [p.to_json() for p in plans]},
        indent=2,
    )
