"""Render the files in `templates/` with Jinja2: pure functions from data to text.

The local stack and the metal tier render the same templates, so what runs on a laptop is
configured exactly as what runs on the VMs.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

__all__ = ["TEMPLATES", "nats_json", "render"]


def _templates_folder() -> Path:
    """The installed copy (package data, `deploykit/templates`) or, in a checkout, `templates/`."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "templates"
    return installed if installed.is_dir() else package.parent / "templates"


TEMPLATES = _templates_folder()


def nats_json(value: Any, indent: int | None = None) -> str:
    """JSON that nats-server's config parser reads: Jinja's `tojson` writes `>` as `\\u003e`,
    an escape the parser rejects, so subjects like `orders.>` need this filter instead."""
    return json.dumps(value, indent=indent, ensure_ascii=False)


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    environment.filters["nats_json"] = nats_json
    return environment


def render(template: str, **context: Any) -> str:
    """Render `templates/<template>`; a missing variable is an error, never an empty string."""
    return _environment().get_template(template).render(**context)
