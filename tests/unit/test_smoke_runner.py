"""The smoke runner without servers: the catalogue, --only/--skip, timeouts, errors, secrets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from deploykit.errors import ConfigError, ConnectError
from deploykit.manifest.load import load_manifest
from deploykit.smoke.checks import Check, catalogue
from deploykit.smoke.context import Context
from deploykit.smoke.laws_checks import event_subject
from deploykit.smoke.results import CheckFailed, Outcome, Status, passed
from deploykit.smoke.runner import matches, run_checks, run_smoke, select
from deploykit.stack.outputs import StackOutputs

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = load_manifest(ROOT / "deploykit.yaml")
SECRET = "s3cret-Password-xyz"


def outputs(**nats: object) -> StackOutputs:
    users = {
        "gateway": ("core", "frontend", "gateway"),
        "accounts": ("core", "rpc", "accounts"),
        "smoke-core": ("core", "smoke", None),
        "system": ("SYS", "system", None),
    }
    return StackOutputs.model_validate(
        {
            "target": "local",
            "system": "acme",
            "nats": {
                "urls": ["nats://127.0.0.1:1"],
                "cluster_size": 3,
                "credentials": {
                    user: {
                        "account": account,
                        "role": role,
                        "service": service,
                        "user": user,
                        "password": SECRET,
                    }
                    for user, (account, role, service) in users.items()
                },
                **nats,
            },
            "database": {
                "admin_url": f"postgresql://postgres:{SECRET}@127.0.0.1:1/postgres",
                "urls": {"accounts": f"postgresql://accounts:{SECRET}@127.0.0.1:1/accounts"},
            },
            "services": [
                {"name": "gateway", "role": "frontend", "url": "http://127.0.0.1:1"},
                {"name": "accounts", "role": "rpc", "endpoints": {"create": "accounts.rpc.create"}},
                {"name": "welcome", "role": "worker"},
                {"name": "projector", "role": "worker"},
            ],
        }
    )


def test_the_catalogue_of_the_reference_system() -> None:
    names = [c.name for c in catalogue(MANIFEST, outputs())]
    assert names == [
        "nats.connect.gateway",
        "nats.connect.accounts",
        "nats.connect.smoke-core",
        "nats.connect.system",
        "nats.jetstream.core",
        "nats.jetstream.analytics",
        "nats.cluster",
        "nats.monitor",
        "jetstream.stream.ACCOUNTS",
        "jetstream.consumer.ACCOUNTS/welcome",
        "jetstream.stream.DEPLOYKIT_SMOKE",
        "jetstream.kv.flags",
        "jetstream.kv.deploykit_smoke",
        "jetstream.object_store.exports",
        "jetstream.object_store.deploykit_smoke",
        "jetstream.stream.PAGEVIEWS",
        "roundtrip.stream",
        "roundtrip.kv",
        "roundtrip.object_store",
        "services.gateway",
        "services.accounts",
        "services.welcome",
        "services.projector",
        "laws.frontend.gateway",
        "database.accounts",
        "database.welcome",
        "database.replication",
        "observability.prometheus",
        "observability.grafana",
        "probes.create-account",
        "backups.ACCOUNTS",
    ]


def test_the_backup_drills_run_only_when_named() -> None:
    checks = catalogue(MANIFEST, outputs())
    assert not [c.name for c in select(checks, [], []) if c.group == "backups"]
    assert [c.name for c in select(checks, ["backups"], [])] == ["backups.ACCOUNTS"]
    assert [c.name for c in select(checks, ["backups.ACCOUNTS", "nats.cluster"], [])] == [
        "nats.cluster",
        "backups.ACCOUNTS",
    ]


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("nats", "nats.connect.gateway", True),
        ("nats.connect", "nats.connect.gateway", True),
        ("nats.connect.gateway", "nats.connect.gateway", True),
        ("nats.conn", "nats.connect.gateway", False),
        ("*.gateway", "services.gateway", True),
        ("jetstream.*.ACCOUNTS*", "jetstream.consumer.ACCOUNTS/welcome", True),
        ("probes", "probe.x", False),
    ],
)
def test_matches(pattern: str, name: str, expected: bool) -> None:
    assert matches(name, pattern) is expected


def test_only_and_skip() -> None:
    checks = catalogue(MANIFEST, outputs())
    assert [c.name for c in select(checks, ["services", "laws"], ["services.welcome"])] == [
        "services.gateway",
        "services.accounts",
        "services.projector",
        "laws.frontend.gateway",
    ]
    assert all(c.group != "probes" for c in select(checks, [], ["probes"]))
    no_probes = [c for c in checks if c.group not in ("probes", "backups")]
    assert select(no_probes, [], ["probes"]) == no_probes  # a group is always a known name


def test_an_unknown_check_name_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown check 'nast': give a group \(nats, "):
        select(catalogue(MANIFEST, outputs()), ["nast"], [])


def test_outputs_of_another_system_are_refused() -> None:
    other = outputs().model_copy(update={"system": "other"})
    with pytest.raises(ConfigError, match="outputs are for system 'other'"):
        run_smoke(MANIFEST, other, source="x.json")


def test_the_event_subject_a_frontend_must_not_publish_to() -> None:
    assert event_subject(MANIFEST, "core") == "accounts.events.created"
    assert event_subject(MANIFEST, "analytics") == "pageviews.deploykit-smoke"


async def _hang(_: Context) -> Outcome:
    await asyncio.sleep(60)
    raise AssertionError("unreachable")


async def _fine(_: Context) -> Outcome:
    return passed("fine")


async def _leaks(ctx: Context) -> Outcome:
    raise CheckFailed(f"refused password {SECRET}", (f"url {ctx.outputs.database.admin_url}",))  # type: ignore[union-attr]  # these outputs have one


async def _connect_error(_: Context) -> Outcome:
    raise ConnectError("cannot connect to nats://127.0.0.1:1: nothing answers")


async def _bug(_: Context) -> Outcome:
    outcomes: dict[str, Outcome] = {}
    return outcomes["missing"]  # the bug under test: a KeyError


def test_the_runner_times_out_scrubs_secrets_and_turns_errors_into_failures() -> None:
    checks = [
        Check("a.hang", _hang),
        Check("a.fine", _fine),
        Check("a.leak", _leaks),
        Check("a.connect", _connect_error),
        Check("a.bug", _bug),
    ]
    results = asyncio.run(run_checks(checks, MANIFEST, outputs(), 0.3))
    by_name = {r.name: r for r in results}
    assert [r.name for r in results] == [c.name for c in checks]
    assert by_name["a.hang"].status is Status.FAIL
    assert by_name["a.hang"].message == "did not finish within the 0.3s timeout"
    assert by_name["a.fine"].status is Status.PASS
    assert by_name["a.leak"].message == "refused password ********"
    assert by_name["a.leak"].details == ("url ********",)
    assert by_name["a.connect"].message == "cannot connect to nats://127.0.0.1:1: nothing answers"
    assert by_name["a.bug"].message == "unexpected error: KeyError: 'missing'"


def test_a_check_whose_prerequisite_failed_is_not_run_and_names_the_root() -> None:
    ran: list[str] = []

    def check(name: str, outcome: Outcome, **needs: tuple[str, ...]) -> Check:
        async def run(_: Context) -> Outcome:
            ran.append(name)
            return outcome

        return Check(name, run, **needs)

    down = Outcome(Status.FAIL, "nothing answers", unreachable=True)
    refused = Outcome(Status.FAIL, "authorization violation")
    checks = [
        check("nats.connect.a", down),
        check("nats.connect.b", passed("ok"), needs_answer=("nats.connect.a",)),
        check("nats.jetstream.core", passed("ok"), needs=("nats.connect.a",)),
        check("roundtrip.stream", passed("ok"), needs=("nats.jetstream.core",)),
        check("database.x", refused),
        check("probes.p", passed("ok"), needs=("database.x", "not.chosen")),
        check("nats.connect.c", refused),
        check("nats.connect.d", passed("ok"), needs_answer=("nats.connect.c",)),
        check("laws.c", passed("ok"), needs=("nats.connect.c",)),
    ]
    for concurrency in (None, 1):  # one at a time: a waiting check holds no turn
        ran.clear()
        results = {
            r.name: r for r in asyncio.run(run_checks(checks, MANIFEST, outputs(), 5, concurrency))
        }
        assert sorted(ran) == ["database.x", "nats.connect.a", "nats.connect.c", "nats.connect.d"]
        causes = {n: r.cause for n, r in results.items() if r.cause}
        assert causes == {
            "nats.connect.b": "nats.connect.a",  # nothing answered: one failure, not one per user
            "nats.jetstream.core": "nats.connect.a",
            "roundtrip.stream": "nats.connect.a",  # the root, not the check in between
            "probes.p": "database.x",
            "laws.c": "nats.connect.c",
        }
        assert results["roundtrip.stream"].status is Status.SKIP
        assert results["roundtrip.stream"].message == "not run: nats.connect.a failed"
        assert results["roundtrip.stream"].duration == 0
        assert results["nats.connect.a"].unreachable and not results["database.x"].unreachable
        assert results["nats.connect.d"].status is Status.PASS  # c was refused, not unreachable


def test_the_catalogue_says_what_each_check_needs() -> None:
    checks = {c.name: c for c in catalogue(MANIFEST, outputs())}
    assert (
        checks["nats.connect.smoke-core"].needs
        == checks["nats.connect.smoke-core"].needs_answer
        == ()
    )
    assert checks["nats.connect.gateway"].needs_answer == ("nats.connect.smoke-core",)
    assert checks["nats.jetstream.core"].needs == ("nats.connect.smoke-core",)
    assert checks["nats.jetstream.analytics"].needs == ()  # no smoke-analytics in these outputs
    assert checks["nats.cluster"].needs == ("nats.connect.system",)
    assert checks["nats.monitor"].needs_answer == ("nats.connect.smoke-core",)
    assert checks["jetstream.stream.ACCOUNTS"].needs == ("nats.jetstream.core",)
    assert checks["roundtrip.kv"].needs == ("nats.jetstream.core",)
    assert checks["services.accounts"].needs == ("nats.connect.smoke-core",)
    assert checks["services.gateway"].needs_answer == ("nats.connect.smoke-core",)
    assert checks["laws.frontend.gateway"].needs == ("nats.connect.gateway",)
    assert checks["probes.create-account"].needs == (
        "nats.connect.smoke-core",
        "services.accounts",
    )
    assert checks["database.accounts"].needs == checks["database.accounts"].needs_answer == ()
