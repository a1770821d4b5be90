"""The runtime's configuration: the environment every target gives a service, and the wiring."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from deploykit.manifest import naming
from deploykit.manifest.load import load_manifest
from deploykit.manifest.model import Manifest
from deploykit.manifest.wiring import wiring_for
from deploykit.runtime import ConfigError, Event, Request, Service, Settings, connection
from deploykit.runtime.settings import DEFAULT_METRICS_ADDR, Exporter


def env_of(manifest: Manifest, name: str, **extra: str) -> dict[str, str]:
    wiring = wiring_for(manifest, name).model_dump_json()
    return (
        naming.service_env(name, "nats://a:4222", name, "pw", "postgresql://x", wiring=wiring)
        | extra
    )


def test_service_env_is_what_the_runtime_reads(reference_manifest: Manifest) -> None:
    settings = Settings.from_env(env_of(reference_manifest, "accounts"))
    assert settings.inbox_prefix == "_INBOX_accounts" and settings.nats_user == "accounts"
    assert settings.wiring.endpoints == {"create": "accounts.rpc.create", "get": "accounts.rpc.get"}
    assert settings.wiring.emits == ["accounts.events.created"]
    assert (settings.exporter, settings.metrics_addr) == (Exporter.PROMETHEUS, DEFAULT_METRICS_ADDR)
    assert "pw" not in repr(settings) and "postgresql" not in repr(settings)
    welcome = Settings.from_env(env_of(reference_manifest, "welcome")).wiring.consumes["welcome"]
    assert (welcome.stream, welcome.mode.value, welcome.filter) == (
        "ACCOUNTS",
        "queue",
        "accounts.events.created",
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"DEPLOYKIT_WIRING": ""}, "DEPLOYKIT_WIRING is required"),
        ({"NATS_INBOX_PREFIX": ""}, "NATS_INBOX_PREFIX is required"),
        ({"DEPLOYKIT_WIRING": '{"role": "boss"}'}, "DEPLOYKIT_WIRING: role: Input should be"),
        ({"NATS_CREDS": "jwt"}, "not both"),
        ({"NATS_PASSWORD": ""}, "NATS_USER and NATS_PASSWORD must be set together"),
        ({"NATS_URL": " , "}, "NATS_URL lists no server"),
        ({"HOST": "example.com"}, r"HOST='example.com' is not an IP address"),
        ({"DEPLOYKIT_METRICS": "statsd"}, "DEPLOYKIT_METRICS='statsd': one of prometheus, otlp"),
        ({"DEPLOYKIT_METRICS_ADDR": "9464"}, "want HOST:PORT"),
        ({"PORT": "http"}, "PORT='http' is not a TCP port"),
    ],
)
def test_a_bad_variable_is_named(
    reference_manifest: Manifest, change: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env_of(reference_manifest, "accounts", **change))


def test_a_frontend_listens_on_loopback_unless_host_says_otherwise(
    reference_manifest: Manifest,
) -> None:
    def host(**extra: str) -> str:
        return Settings.from_env(env_of(reference_manifest, "gateway", **extra)).host

    assert host() == "127.0.0.1"
    assert (host(HOST="0.0.0.0"), host(HOST="::")) == ("0.0.0.0", "::")


def test_a_creds_document_is_accepted_and_kept_private(reference_manifest: Manifest) -> None:
    creds = "-----BEGIN NATS USER JWT-----\nx"
    env = env_of(reference_manifest, "gateway", NATS_CREDS=creds)
    del env["NATS_USER"], env["NATS_PASSWORD"]
    settings = Settings.from_env(env)
    assert settings.nats_creds == creds and settings.nats_user is None
    assert creds not in repr(settings)
    path = connection._creds_file(creds)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert Path(path).read_text() == creds


def test_a_stream_of_another_bus_is_read_through_the_api_it_exports() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "three-buses" / "deploykit.yaml"
    manifest = load_manifest(example)
    invoicer = wiring_for(manifest, "invoicer").consumes["invoicer"]
    assert (invoicer.stream, invoicer.api) == ("ACCOUNTS", naming.crossbus_api("core"))
    assert wiring_for(manifest, "invoicer").emits == ["billing.events.invoiced"]
    assert wiring_for(manifest, "gateway").calls["invoices.get"] == "billing.rpc.invoice"


def test_a_stream_of_the_own_bus_is_read_directly(reference_manifest: Manifest) -> None:
    assert wiring_for(reference_manifest, "welcome").consumes["welcome"].api is None


def test_otlp_where_the_standard_endpoint_is_set(reference_manifest: Manifest) -> None:
    env = env_of(reference_manifest, "accounts", OTEL_EXPORTER_OTLP_ENDPOINT="https://otlp")
    assert Settings.from_env(env).exporter is Exporter.OTLP


def test_code_and_manifest_must_agree(reference_manifest: Manifest) -> None:
    service = Service()

    @service.endpoint("create")
    async def create(request: Request) -> None: ...

    wiring = wiring_for(reference_manifest, "accounts")
    with pytest.raises(ConfigError, match="declares endpoint 'get' and the code has no handler"):
        service.check_wiring(wiring, "accounts")

    @service.endpoint("get")
    async def get(request: Request) -> None: ...

    service.check_wiring(wiring, "accounts")

    @service.consumer("welcome")
    async def welcome(event: Event) -> None: ...

    with pytest.raises(ConfigError, match=r"handles consumer 'welcome', which services\.accounts"):
        service.check_wiring(wiring, "accounts")
