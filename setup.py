"""What pyproject.toml cannot say: ship only `deploykit`, with the top-level `templates/` inside.

The templates stay where the kit is known to keep them, at the top of the repository, and are
installed as `deploykit/templates`, where `deploykit.configs.templates` looks first. The Pulumi
program (`components/`) and the reference apps (`apps/`) are not installed: Pulumi and
`deploykit dev` run them from the repository, and generic top-level names like these do not
belong in everyone's site-packages.
"""

from setuptools import find_namespace_packages, find_packages, setup

TEMPLATES = [
    "deploykit.templates",
    *(f"deploykit.templates.{folder}" for folder in find_namespace_packages(where="templates")),
]

setup(
    packages=[*find_packages(include=["deploykit", "deploykit.*"]), *TEMPLATES],
    package_dir={"deploykit.templates": "templates"},
    package_data={package: ["*"] for package in TEMPLATES},
)
