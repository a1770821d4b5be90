"""Render the files in `templates/` with Jinja2: pure functions from data to text.

The local stack and the metal tier render the same templates, so what runs on a laptop is
configured exactly as what runs on the VMs.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2

__all__ = ["TEMPLATES", "render"]

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render(template: str, **context: Any) -> str:
    """Render `templates/<template>`; a missing variable is an error, never an empty string."""
    return _environment().get_template(template).render(**context)
