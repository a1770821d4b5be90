"""`components/jetstream.py` through the real Pulumi engine against a real nats-server.

The server runs the reference manifest's authorization (an account per bus); the program
reconciles every bus as its `provisioning-<bus>` user, whose passwords reach it as a secret
stack config value (`pulumi config set --secret`), as the tiers' credentials do.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi import automation as auto
from pulumi.dynamic import CreateResult, Resource, ResourceProvider, UpdateResult

from components.jetstream import Connection, JetStream, JetStreamDefinitions, Stream
from deploykit.jetstream.api import JetStreamApi, connect
from deploykit.jetstream.desired import desired_state, stream_config
from deploykit.laws.authconf import generate_passwords, render_accounts_block
from deploykit.laws.permissions import compile_authorization
from deploykit.local.nats import LocalNats, local_cluster
from deploykit.manifest import naming
from deploykit.manifest.load import load_manifest
from deploykit.stack.outputs import NatsCredential
from deploykit.testing.engine import Engine, EngineStack

ROOT = Path(__file__).resolve().parents[2]
S = 1_000_000_000
BUSES = ("core", "analytics")


@dataclass
class Target:
    """A nats-server with the manifest's accounts, and the manifest file the program reads."""

    cluster: LocalNats
    manifest: Path
    passwords: dict[str, str]

    def edit(self, change: Callable[[dict[str, Any]], None]) -> None:
        data = yaml.safe_load(self.manifest.read_text())
        change(data)
        self.manifest.write_text(yaml.safe_dump(data))

    def credential(self, user: str) -> NatsCredential:
        return NatsCredential(
            account="",
            role="provisioning" if user.startswith("provisioning-") else "rpc",
            user=user,
            password=self.passwords[user],
            inbox_prefix=naming.inbox_prefix(user),
        )

    def on_server(self, user: str, work: Callable[[Any], Awaitable[Any]]) -> Any:
        """`work(JetStreamApi)` as `user`; for other users `work(nats-py JetStream context)`."""

        async def main() -> Any:
            conn = await connect(self.cluster.url, self.credential(user))
            try:
                if user.startswith("provisioning-"):
                    return await work(JetStreamApi(conn))
                return await work(conn.jetstream())
            finally:
                await conn.close()

        return asyncio.run(main())

    def objects(self, bus: str) -> dict[str, dict[str, Any]]:
        """Every stream and durable consumer of the bus's account by plan label, with its config."""
        state = self.on_server(naming.provisioning_user(bus), lambda api: api.server_state())
        kinds = {"KV_": "kv", "OBJ_": "object_store"}
        found = {}
        for stream, config in state.streams.items():
            prefix = next((p for p in kinds if stream.startswith(p)), "")
            found[f"{kinds.get(prefix, 'stream')} {stream.removeprefix(prefix)}"] = config
            for consumer, consumer_config in state.consumers[stream].items():
                found[f"consumer {stream}/{consumer}"] = consumer_config
        return found

    def everything(self) -> dict[str, dict[str, Any]]:
        return {f"{bus}: {k}": v for bus in BUSES for k, v in self.objects(bus).items()}

    def connection(self, bus: str) -> Connection:
        user = naming.provisioning_user(bus)
        return Connection(url=self.cluster.url, user=user, password=self.passwords[user])


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Target]:
    manifest = tmp_path / "deploykit.yaml"
    manifest.write_text((ROOT / "deploykit.yaml").read_text())
    authorization = compile_authorization(load_manifest(manifest))
    passwords = generate_passwords(authorization)
    accounts = render_accounts_block(authorization, passwords)
    with local_cluster(tmp_path / "nats", 1, accounts) as cluster:
        yield Target(cluster, manifest, passwords)


def definitions(target: Target) -> Callable[[], None]:
    """The tiers' JetStream part alone: every bus, as its provisioning user, from the manifest."""

    def program() -> None:
        credentials = pulumi.Config().require_secret_object("credentials")
        JetStreamDefinitions(
            "js", load_manifest(target.manifest), [target.cluster.url], 1, credentials
        )

    return program


def deployed(
    engine: Engine, target: Target, program: Callable[[], None] | None = None
) -> EngineStack:
    """A stack of `program` (the definitions) with the provisioning credentials as a secret."""
    stack = engine.stack("js", program or definitions(target))
    users = [naming.provisioning_user(bus) for bus in BUSES]
    credentials = {u: {"user": u, "password": target.passwords[u]} for u in users}
    stack.set_config("credentials", json.dumps(credentials), secret=True)
    return stack


def test_up_creates_everything_and_a_second_up_changes_nothing(
    engine: Engine, target: Target
) -> None:
    stack = deployed(engine, target)
    manifest = load_manifest(target.manifest)
    declared = {f"{b}: {o.label}" for b in BUSES for o in desired_state(manifest, b, 1).objects}
    preview = stack.preview()
    assert preview.change_summary == {"create": len(declared) + 4}  # + stack, 3 components
    assert target.everything() == {}

    up = stack.up()
    assert up.summary.resource_changes == {"create": len(declared) + 4}
    assert set(target.everything()) == declared
    assert stack.expect_no_changes().summary.resource_changes == {"same": len(declared) + 4}

    state = stack.state_text()
    for user in ("provisioning-core", "provisioning-analytics"):
        assert target.passwords[user] not in state


def test_a_changed_max_age_is_one_update_in_place_keeping_every_message(
    engine: Engine, target: Target
) -> None:
    stack = deployed(engine, target)
    stack.up()

    async def publish(js: Any) -> None:
        for i in range(25):
            await js.publish("accounts.events.created", f"{i}".encode())

    target.on_server("accounts", publish)
    target.edit(lambda m: m["streams"]["ACCOUNTS"].update(max_age="400d"))
    before = target.everything()

    up = stack.up()
    changes = up.summary.resource_changes or {}
    assert changes.get("update") == 1 and set(changes) == {"update", "same"}
    after = target.everything()
    assert after["core: stream ACCOUNTS"]["max_age"] == 400 * 86400 * S
    assert {k: v for k, v in after.items() if k != "core: stream ACCOUNTS"} == {
        k: v for k, v in before.items() if k != "core: stream ACCOUNTS"
    }
    info = target.on_server("provisioning-core", lambda api: api.request("STREAM.INFO.ACCOUNTS"))
    assert info["state"]["messages"] == 25


def test_an_immutable_change_without_allow_destroy_fails_and_changes_nothing(
    engine: Engine, target: Target
) -> None:
    stack = deployed(engine, target)
    stack.up()
    before = target.everything()
    target.edit(lambda m: m["streams"]["ACCOUNTS"].update(storage="memory"))

    for operation in (stack.preview, stack.up):
        with pytest.raises(auto.CommandError) as failed:
            operation()
        assert (
            "stream ACCOUNTS: the server refuses storage in place (the storage type cannot "
            "change), so it would be deleted and created again, destroying its data: "
            "set allow_destroy=True on the resource to allow it"
        ) in str(failed.value)
    assert target.everything() == before


def test_refresh_shows_drift_made_out_of_band(engine: Engine, target: Target) -> None:
    stack = deployed(engine, target)
    stack.up()

    async def drift(api: JetStreamApi) -> None:
        config = await api.stream_info("ACCOUNTS")
        await api.update_stream({**config, "max_msgs": 1000})

    target.on_server("provisioning-core", drift)
    refreshed = stack.refresh()
    assert (refreshed.summary.resource_changes or {}).get("update") == 1
    preview = stack.preview(diff=True)
    assert preview.change_summary.get("update") == 1
    assert "max_msgs" in preview.stdout
    stack.up()
    assert target.objects("core")["stream ACCOUNTS"]["max_msgs"] == -1


def test_up_adopts_an_existing_stream_keeping_its_messages(engine: Engine, target: Target) -> None:
    """The dynamic-provider plugin cannot import (see `test_import_is_not_possible_for_dynamic_
    resources`): `up` adopts what exists instead, as `deploykit nats apply` does."""
    manifest = load_manifest(target.manifest)
    config = stream_config("ACCOUNTS", manifest.streams["ACCOUNTS"], 1)
    target.on_server("provisioning-core", lambda api: api.create_stream({**config, "max_age": 0}))

    async def publish(js: Any) -> None:
        await js.publish("accounts.events.created", b"before the stack")

    target.on_server("accounts", publish)
    stack = deployed(engine, target)
    up = stack.up()
    assert (up.summary.resource_changes or {}).get("create") == len(target.everything()) + 4
    info = target.on_server("provisioning-core", lambda api: api.request("STREAM.INFO.ACCOUNTS"))
    assert info["config"]["max_age"] == config["max_age"]
    assert info["state"]["messages"] == 1
    stack.expect_no_changes()


def test_import_is_not_possible_for_dynamic_resources(engine: Engine, target: Target) -> None:
    """Pins the SDK's limitation that adoption works around: the day this passes no more,
    `import_` works and `create` need not adopt."""
    manifest = load_manifest(target.manifest)
    config = stream_config("ACCOUNTS", manifest.streams["ACCOUNTS"], 1)
    target.on_server("provisioning-core", lambda api: api.create_stream(config))

    def program() -> None:
        Stream(
            "accounts",
            connection=target.connection("core"),
            config=config,
            stream="ACCOUNTS",
            opts=pulumi.ResourceOptions(import_="ACCOUNTS"),
        )

    with pytest.raises(auto.CommandError, match="KeyError: '__provider'"):
        engine.stack("adopt", program).up()


def test_destroy_refuses_and_changes_nothing(engine: Engine, target: Target) -> None:
    stack = deployed(engine, target)
    stack.up()
    before = target.everything()
    with pytest.raises(auto.CommandError) as failed:
        stack.destroy()
    assert "refusing to delete it (and its data): set allow_destroy=True" in str(failed.value)
    assert target.everything() == before


def test_destroy_refuses_protected_streams_even_when_deletes_are_allowed(
    engine: Engine, target: Target
) -> None:
    def program() -> None:
        Stream(
            "accounts",
            connection=target.connection("core"),
            config=stream_config("ACCOUNTS", load_manifest(target.manifest).streams["ACCOUNTS"], 1),
            stream="ACCOUNTS",
            allow_destroy=True,
            opts=pulumi.ResourceOptions(protect=True),
        )

    stack = engine.stack("protected", program)
    stack.up()
    with pytest.raises(auto.CommandError, match="because it is protected"):
        stack.destroy()
    assert "stream ACCOUNTS" in target.objects("core")


class _Issued(ResourceProvider):
    """Stands for what a tier creates before JetStream (a Synadia user, a TLS CA): credentials
    known only once created."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(f"issued-{props['generation']}", dict(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(dict(news))


class Issued(Resource):
    credentials: pulumi.Output[dict[str, Any]]

    def __init__(self, name: str, credentials: pulumi.Input[Any], generation: int) -> None:
        props = {"credentials": credentials, "generation": generation}
        super().__init__(_Issued(), name, props)


def test_previews_with_unknown_credentials(engine: Engine, target: Target) -> None:
    """As on both tiers, the credentials come from resources of the same update, so previews
    see them unknown: first when nothing exists, then whenever their source changes."""
    generation = {"n": 1}

    def program() -> None:
        config = pulumi.Config().require_secret_object("credentials")
        issued = Issued("issued", config, generation["n"])
        JetStreamDefinitions(
            "js", load_manifest(target.manifest), [target.cluster.url], 1, issued.credentials
        )

    stack = deployed(engine, target, program)
    first = stack.preview()
    assert first.change_summary == {"create": 13}  # 8 objects, 3 components, stack, issued
    stack.up()
    assert len(target.everything()) == 8

    generation["n"] = 2
    again = stack.preview()
    assert again.change_summary.get("update", 0) >= 1
    up = stack.up()
    assert (up.summary.resource_changes or {}).get("update") == 1  # the issuer alone
    stack.expect_no_changes()


def test_a_replaced_stream_takes_its_consumers_with_it(engine: Engine, target: Target) -> None:
    """With deletes allowed, an immutable change replaces the stream (delete first: the name is
    unique); the server deletes its consumers with it, so the engine must create them again."""

    def program() -> None:
        JetStream(
            "js",
            load_manifest(target.manifest),
            "core",
            target.connection("core"),
            cluster_size=1,
            allow_destroy=True,
            protect_streams=False,
        )

    stack = engine.stack("replace", program)
    stack.up()
    target.edit(lambda m: m["streams"]["ACCOUNTS"].update(storage="memory", max_bytes="1MiB"))
    up = stack.up()
    print(up.summary.resource_changes)
    objects = target.objects("core")
    assert objects["stream ACCOUNTS"]["storage"] == "memory"
    assert "consumer ACCOUNTS/welcome" in objects
    stack.expect_no_changes()


def test_an_object_deleted_out_of_band_is_dropped_by_refresh_and_made_again(
    engine: Engine, target: Target
) -> None:
    stack = deployed(engine, target)
    stack.up()
    target.on_server("provisioning-core", lambda api: api.delete_consumer("ACCOUNTS", "welcome"))

    refreshed = stack.refresh()
    assert (refreshed.summary.resource_changes or {}).get("delete") == 1
    up = stack.up()
    assert (up.summary.resource_changes or {}).get("create") == 1
    assert "consumer ACCOUNTS/welcome" in target.objects("core")
