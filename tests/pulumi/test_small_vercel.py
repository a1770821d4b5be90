"""Vercel dynamic providers against the local fake of Vercel's REST API, directly and under the
real Pulumi engine (create, update by a changed file, refresh, destroy)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi import automation as auto
from pulumi.dynamic import Config, ConfigureRequest

from components.small.vercel import (
    DeploymentProvider,
    ProjectProvider,
    VercelDeployment,
    VercelProject,
    bundle,
)
from deploykit.errors import ConfigError
from deploykit.saas import AuthError
from deploykit.stack.config import VercelFrontend
from deploykit.testing.fakes.vercel import FakeVercel

ROOT = Path(__file__).resolve().parents[2]
PULUMI = Path.home() / ".cache" / "deploykit" / "pulumi" / "v3.260.0"
VARIABLES = {"NATS_URL": "tls://connect.ngs.global", "NATS_CREDS": "--creds--"}


@pytest.fixture
def fake() -> Iterator[FakeVercel]:
    with FakeVercel() as server:
        yield server


def provider(cls: type, fake: FakeVercel, token: str | None = None) -> Any:
    instance = cls(fake.url, {"sleep": lambda _: None})
    key = {"deploykit:vercelToken": token or fake.token}
    instance.configure(ConfigureRequest(Config(key, "deploykit")))
    return instance


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "web" / "api").mkdir(parents=True)
    (tmp_path / "web" / "api" / "index.py").write_text("app = None\n")
    (tmp_path / "web" / "api" / "__pycache__").mkdir()
    (tmp_path / "web" / "api" / "__pycache__" / "index.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "shared.py").write_text("X = 1\n")
    return tmp_path


FRONTEND = VercelFrontend(source="web", include=["lib/shared.py"])


def test_the_bundle_is_the_source_at_the_root_and_includes_at_their_place(site: Path) -> None:
    files = bundle(site, "gateway", FRONTEND)
    assert sorted(files) == ["api/index.py", "lib/shared.py"]  # no bytecode
    assert files["lib/shared.py"]["size"] == 6


def test_a_missing_include_names_the_setting(site: Path) -> None:
    frontend = VercelFrontend(source="web", include=["lib/gone.py"])
    with pytest.raises(ConfigError, match=r"frontends.gateway.include\[0\]: .*gone.py does not"):
        bundle(site, "gateway", frontend)


def test_project_and_deployment_lifecycle(fake: FakeVercel, site: Path) -> None:
    projects, deployments = provider(ProjectProvider, fake), provider(DeploymentProvider, fake)
    props = {
        "name": "acme-gateway",
        "team": "",
        "framework": None,
        "domain": "",
        "variables": VARIABLES,
    }
    project = projects.create(dict(props))
    assert {e["key"] for e in fake.projects[project.id]["env"]} == set(VARIABLES)
    files = bundle(site, "gateway", FRONTEND)
    shipped = {
        "project_id": project.id,
        "project_name": "acme-gateway",
        "team": "",
        "framework": None,
        "files": files,
        "url": None,
    }
    deployment = deployments.create(dict(shipped))
    assert deployment.outs["url"] == "https://acme-gateway.vercel.app"
    assert fake.deployments[deployment.id]["files"]["api/index.py"] == b"app = None\n"
    assert deployments.read(deployment.id, deployment.outs).id == deployment.id

    (site / "web" / "api" / "index.py").write_text("app = 1\n")  # changed after the plan
    with pytest.raises(ConfigError, match="changed between the preview and the deployment"):
        deployments.create(dict(shipped))
    changed = {**shipped, "files": bundle(site, "gateway", FRONTEND)}
    assert deployments.diff(deployment.id, shipped, changed).replaces == ["files"]

    update = projects.update(project.id, props, {**props, "domain": "app.acme.test"})
    assert fake.projects[project.id]["domains"] == ["app.acme.test"]
    assert update.outs["domain"] == "app.acme.test"
    fewer = {**props, "variables": {"NATS_URL": "tls://elsewhere"}}
    projects.update(project.id, props, fewer)  # a variable the service no longer has goes
    env = fake.projects[project.id]["env"]
    assert [(e["key"], e["value"]) for e in env] == [("NATS_URL", "tls://elsewhere")]
    deployments.delete(deployment.id, deployment.outs)
    assert deployments.read(deployment.id, deployment.outs).id == ""
    projects.delete(project.id, props)
    projects.delete(project.id, props)  # already gone: nothing to do
    assert fake.projects == {} and fake.deployments == {}


def test_a_wrong_token_fails_with_the_setting_to_fix(fake: FakeVercel) -> None:
    projects = provider(ProjectProvider, fake, token="wrong")
    with pytest.raises(AuthError, match="deploykit:vercelToken"):
        projects.create(
            {"name": "acme", "team": "", "framework": None, "domain": "", "variables": {}}
        )


@pytest.mark.integration
@pytest.mark.skipif(not (PULUMI / "bin" / "pulumi").exists(), reason="no Pulumi CLI here")
def test_under_the_real_engine_up_update_refresh_destroy(
    fake: FakeVercel, site: Path, tmp_path: Path
) -> None:
    def program() -> None:
        frontend = FRONTEND
        project = VercelProject(
            "gateway",
            ProjectProvider(fake.url, {"poll_interval": 0.01}),
            project_name="acme-gateway",
            team="",
            frontend=frontend,
            variables=pulumi.Output.secret(VARIABLES),
            opts=pulumi.ResourceOptions(),
        )
        deployment = VercelDeployment(
            "gateway-deployment",
            DeploymentProvider(fake.url, {"poll_interval": 0.01}),
            project=project,
            project_name="acme-gateway",
            team="",
            frontend=frontend,
            files=bundle(site, "gateway", frontend),
            opts=pulumi.ResourceOptions(),
        )
        pulumi.export("url", deployment.url)

    env = {
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "test-passphrase",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_HOME": str(tmp_path / "home"),
        "PATH": f"{PULUMI / 'bin'}:{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),  # the provider process unpickles components.small.vercel
    }
    (tmp_path / "state").mkdir()
    options = auto.LocalWorkspaceOptions(
        env_vars=env,
        pulumi_command=auto.PulumiCommand(root=str(PULUMI), skip_version_check=True),
    )
    stack = auto.create_or_select_stack(
        stack_name="small", project_name="vercel-test", program=program, opts=options
    )
    stack.set_config("deploykit:vercelToken", auto.ConfigValue(fake.token, secret=True))

    up = stack.up()
    assert up.outputs["url"].value == "https://acme-gateway.vercel.app"
    [first] = fake.deployments
    assert stack.up().summary.resource_changes == {"same": 3}

    (site / "lib" / "shared.py").write_text("X = 2\n")
    changed = stack.up().summary.resource_changes
    assert changed == {"same": 2, "replace": 1}
    [second] = fake.deployments
    assert second != first and fake.deployments[second]["files"]["lib/shared.py"] == b"X = 2\n"

    stack.refresh()
    assert stack.up().summary.resource_changes == {"same": 3}
    # the token reaches the provider as encrypted config; nothing on disk holds it in the clear
    for state in (tmp_path / "state").rglob("*.json"):
        text = state.read_text()
        assert fake.token not in text and "--creds--" not in text, state

    stack.destroy()
    assert fake.projects == {} and fake.deployments == {}
