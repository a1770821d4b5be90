"""What a bench run writes and how its workers connect: only the smoke user's own space,
core traffic where no stream captures it, secrets never in a repr."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from deploykit.bench.settings import BenchSettings, Mode, Names, Target
from deploykit.bench.target import bench_target
from deploykit.manifest import naming
from deploykit.manifest.subjects import collide, is_subset
from deploykit.stack.outputs import StackOutputs


def test_jetstream_and_kv_writes_stay_in_the_smoke_assets() -> None:
    names = Names("ab12")
    smoke = naming.SMOKE_SUBJECTS[0]
    for subject in (names.js_all, names.js_publish, names.js_consume):
        assert is_subset(subject, smoke)
    assert names.stream == naming.SMOKE_STREAM and names.bucket == naming.SMOKE_BUCKET
    assert is_subset(names.kv_all, f"$KV.{naming.SMOKE_BUCKET}.>")
    assert is_subset(f"$KV.{names.bucket}.{names.kv_put(3)}.7", names.kv_all)
    assert is_subset(f"$KV.{names.bucket}.{names.kv_get}.7", names.kv_all)
    assert names.table == "deploykit_bench_ab12"


def test_core_traffic_is_never_captured_by_the_smoke_stream() -> None:
    names = Names("ab12")
    for subject in (names.core_all, names.core(0), names.fanout(), names.service, names.probe()):
        assert not collide(subject, naming.SMOKE_SUBJECTS[0])
        assert is_subset(subject, names.core_all)


def test_runs_do_not_share_subjects() -> None:
    assert not collide(Names("aaaa").core_all, Names("bbbb").core_all)
    assert not collide(Names("aaaa").js_all, Names("bbbb").js_all)


def test_direct_get_subject_is_the_last_by_subject_form() -> None:
    assert Names("ab12").direct_get("bench.ab12.get.0") == (
        "$JS.API.DIRECT.GET.KV_deploykit_smoke.$KV.deploykit_smoke.bench.ab12.get.0"
    )


def test_settings_defaults_and_limits() -> None:
    settings = BenchSettings(clients=3)
    assert settings.modes == tuple(Mode)
    assert (settings.msgs, settings.duration, settings.size) == (100_000, 5.0, 128)
    assert settings.fanout_subscribers == 3 and settings.service_responders == 3
    assert BenchSettings(subscribers=5).fanout_subscribers == 5
    for bad in ({"clients": 0}, {"duration": 0}, {"size": -1}, {"run": "Bad!"}):
        with pytest.raises(ValidationError):
            BenchSettings.model_validate(bad)


def test_client_i_starts_at_server_i_mod_n() -> None:
    target = Target(urls=("nats://a:1", "nats://b:2", "nats://c:3"), user_name="smoke-core")
    assert target.nats_options(0)["servers"] == ["nats://a:1", "nats://b:2", "nats://c:3"]
    assert target.nats_options(4)["servers"] == ["nats://b:2", "nats://c:3", "nats://a:1"]
    assert target.nats_options(0)["dont_randomize"] is True
    assert "user" not in target.nats_options(0)


def test_secrets_go_to_the_client_and_nowhere_else() -> None:
    target = Target(
        urls=("nats://a:1",),
        user_name="smoke-core",
        user="smoke-core",
        password=SecretStr("hunter2"),
        inbox_prefix="_INBOX_smoke-core",
        database_url=SecretStr("postgresql://u:pw-db@h/d"),
    )
    options = target.nats_options(0)
    assert options["user"] == "smoke-core" and options["password"] == "hunter2"
    assert options["inbox_prefix"] == b"_INBOX_smoke-core"
    shown = repr(target) + str(target) + target.model_dump_json()
    assert "hunter2" not in shown and "pw-db" not in shown


def test_target_from_outputs_keeps_secrets_off_the_summary_and_creds_in_a_private_file() -> None:
    outputs = StackOutputs.model_validate(
        {
            "target": "small",
            "system": "acme",
            "nats": {
                "urls": ["tls://u:url-secret@connect.example:4222"],
                "credentials": {
                    "smoke-core": {"account": "core", "role": "smoke", "creds": "-----JWT-----"}
                },
            },
            "database": {"urls": {"accounts": "postgresql://a:db-secret@h/accounts"}},
        }
    )
    with bench_target(outputs, None, None, need_database=True) as (target, summary):
        creds = Path(target.creds_file or "")
        assert creds.read_text() == "-----JWT-----"
        assert stat.S_IMODE(creds.stat().st_mode) == 0o600
        assert target.urls == ("tls://u:url-secret@connect.example:4222",)
        assert summary.nats_urls == ["tls://connect.example:4222"]
        assert (summary.user, summary.database) == ("smoke-core", "accounts")
        assert "secret" not in summary.model_dump_json()
    assert not creds.exists()
