"""The apps' environment contract (`naming.service_env`, plus NATS_CREDS on hosted NATS)."""

from __future__ import annotations

import os
import stat

import pytest

from apps.runtime import ConfigError, Settings, creds_file
from deploykit.manifest import naming

BASE = {"DEPLOYKIT_SERVICE": "accounts", "NATS_URL": "nats://a:4222,nats://b:4222"}


def test_service_env_is_what_the_apps_read() -> None:
    env = naming.service_env("accounts", "nats://a:4222", "accounts", "pw", "postgresql://x", 8081)
    settings = Settings.from_env(env, database=True, port=True)
    assert settings.nats_user == "accounts" and settings.nats_password == "pw"
    assert settings.inbox_prefix == "_INBOX_accounts"
    assert settings.database_url == "postgresql://x" and settings.port == 8081
    assert "pw" not in repr(settings)


def test_creds_document_is_accepted_and_kept_private() -> None:
    settings = Settings.from_env({**BASE, "NATS_CREDS": "-----BEGIN NATS USER JWT-----\nx\n"})
    assert settings.nats_creds and settings.nats_user is None
    path = creds_file(settings.nats_creds)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    with open(path) as handle:
        assert handle.read() == settings.nats_creds


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"NATS_USER": "a", "NATS_PASSWORD": "b", "NATS_CREDS": "c"}, "not both"),
        ({"NATS_USER": "a"}, "must be set together"),
        ({"NATS_URL": " , "}, "lists no server"),
    ],
)
def test_bad_environment_is_refused_clearly(extra: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({**BASE, **extra})


def test_a_server_listens_on_loopback_unless_host_says_otherwise() -> None:
    assert Settings.from_env(BASE, port=True).host == "127.0.0.1"
    assert Settings.from_env({**BASE, "HOST": "0.0.0.0"}, port=True).host == "0.0.0.0"
    assert Settings.from_env({**BASE, "HOST": "::"}, port=True).host == "::"
    with pytest.raises(ConfigError, match=r"HOST='example.com' is not an IP address"):
        Settings.from_env({**BASE, "HOST": "example.com"}, port=True)
