"""Random and mutated input to every command: it works, or it fails with a message and its
documented exit code; never a traceback, never a half-applied change.

The commands run in-process through the console script's own entry point (`deploykit.cli.main`),
so an exception that escapes it is exactly the traceback a user would see. Inputs are mutated
from real ones (the reference manifest, a local stack's outputs and state) and, for arguments,
drawn from a vocabulary of options and hostile values. Everything the commands may reach is on
loopback: a nats-server of this module's own, closed ports, a sandbox folder.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploykit.jetstream import JetStreamApi
from deploykit.local.nats import LocalNats, local_cluster
from deploykit.local.plan import plan_outputs
from deploykit.local.state import DevState
from deploykit.manifest.load import load_manifest
from deploykit.testing.clirun import Outcome, cli

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
REFERENCE_TEXT = (ROOT / "deploykit.yaml").read_text()
REFERENCE = yaml.safe_load(REFERENCE_TEXT)
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_N", "40")),
    deadline=None,
    derandomize=not os.environ.get("FUZZ_N"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Exit codes each command documents; anything else (or an exception) is a bug.
EXIT_CODES: dict[tuple[str, ...], set[int]] = {
    ("validate",): {0, 2},
    ("lint",): {0, 1, 2},  # 1: error-level findings
    ("render", "permissions"): {0, 2},
    ("nats", "plan"): {0, 1, 2},  # 1: an error, 2: changes to apply
    ("nats", "apply"): {0, 2},
    ("dev", "status"): {0, 1, 2},  # 1: a process is down
    ("dev", "logs"): {0, 2},
    ("dev", "down"): {0, 2},
    ("dev", "up"): {0, 2},
}


def command_of(args: list[str]) -> tuple[str, ...]:
    words = [a for a in args if not a.startswith("-")]
    for size in (2, 1):
        if tuple(words[:size]) in EXIT_CODES:
            return tuple(words[:size])
    return ()


def check(outcome: Outcome, args: list[str]) -> None:
    """Works, or fails saying why with a documented code; no traceback either way."""
    assert "Traceback" not in outcome.text, outcome.text
    allowed = EXIT_CODES.get(command_of(args), {0, 2})
    if command_of(args) == ("nats", "plan") and not any(a in args for a in ("-h", "--help")):
        allowed = {0, 1, 2}
    assert outcome.code in allowed, (
        f"deploykit {' '.join(args)} exited {outcome.code}:\n{outcome.text}"
    )
    if outcome.code != 0:
        assert outcome.text.strip(), f"deploykit {' '.join(args)} failed silently"


# -- strategies ------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(
        ["1d", "-5s", "0", "1GiB", "x.>", "*", ">", "a..b", "queue", "fanout", "rpc", "core"]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, child in node.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from paths(child, (*prefix, index))


@st.composite
def mutated(draw: st.DrawFn, original: Any, keep: tuple[tuple[Any, ...], ...] = ()) -> Any:
    """`original` with 1-4 deletions, replacements or additions at random places (except
    under the paths in `keep`)."""
    doc = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 4))):
        candidates = [p for p in paths(doc) if p and not any(p[: len(k)] == k for k in keep)]
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["delete", "replace", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "replace":
            parent[path[-1]] = draw(values)
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(values)
        else:
            parent.append(draw(values))
    return doc


manifest_texts = st.one_of(
    mutated(REFERENCE).map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
    st.text(max_size=200),
    st.sampled_from(
        [
            "",
            "[]",
            "version: 1",
            "!!python/object/apply:os.system ['true']",
            "a: &a [*a]",
            "a: b\na: c",
            "{" * 500,
            REFERENCE_TEXT.replace("replicas: 3", "replicas: 0"),
            REFERENCE_TEXT + "\n\x00",
        ]
    ),
)


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNats]:
    """A nats-server without authentication: what a plan or apply may reach and change."""
    with local_cluster(tmp_path_factory.mktemp("bad-input-nats"), 1) as cluster:
        yield cluster


def server_state(cluster: LocalNats) -> tuple[dict[str, Any], dict[str, Any]]:
    async def read() -> tuple[dict[str, Any], dict[str, Any]]:
        nc = await nats.connect(cluster.urls)
        try:
            state = await JetStreamApi(nc).server_state()
        finally:
            await nc.close()
        return state.streams, state.consumers

    return asyncio.run(read())


def outputs_document(cluster: LocalNats) -> dict[str, Any]:
    """A local stack's outputs for the reference system, its NATS URL the live server's."""
    state = DevState(
        manifest="deploykit.yaml",
        cluster_name="acme",
        nodes=1,
        nats_ports=[cluster.nodes[0].client_port, 1, 2],
        postgres_port=5432,
        frontend_ports={"gateway": 8080},
    )
    manifest = load_manifest(ROOT / "deploykit.yaml")
    outputs = plan_outputs(manifest, state, cluster.urls, [])
    return outputs.model_dump(mode="json")


def state_document() -> dict[str, Any]:
    return DevState(
        manifest="deploykit.yaml",
        cluster_name="acme",
        nodes=3,
        nats_ports=list(range(40001, 40010)),
        postgres_port=40010,
        frontend_ports={"gateway": 40011},
        passwords={"nats:gateway": "pw"},
    ).model_dump(mode="json")


# -- properties ------------------------------------------------------------------------------


@FUZZ
@given(text=manifest_texts)
def test_every_manifest_command_survives_any_manifest(live: LocalNats, text: str) -> None:
    """validate, lint, render and nats plan/apply agree on validity and never crash; an apply
    that fails before its first call changes nothing on the server."""
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "deploykit.yaml"
        file.write_text(text, encoding="utf-8", errors="surrogateescape")
        f = str(file)
        runs = [
            ["validate", f],
            ["validate", f, "--json"],
            ["lint", f, "--target", "local"],
            ["lint", f, "--json"],
            ["render", "permissions", f],
            ["render", "permissions", f, "--json"],
            ["render", "permissions", f, "--nats"],
            ["nats", "plan", "-f", f, "--url", live.url, "--bus", "core"],
        ]
        outcomes = {tuple(args): cli(*args) for args in runs}
        for args, outcome in outcomes.items():
            check(outcome, list(args))
        valid = outcomes[tuple(runs[0])].code == 0
        assert (outcomes[tuple(runs[2])].code != 2) == valid, "validate and lint disagree"
        assert (outcomes[tuple(runs[4])].code == 0) == valid, "validate and render disagree"
        if not valid:
            before = server_state(live)
            apply = ["nats", "apply", "-f", f, "--url", live.url, "--bus", "core"]
            check(cli(*apply), apply)
            assert server_state(live) == before, "a refused manifest changed the server"


@FUZZ
@given(data=st.data())
def test_nats_commands_survive_any_outputs_file(live: LocalNats, data: st.DataObject) -> None:
    """A mutated outputs file (its NATS URLs kept on loopback) never crashes plan or apply."""
    doc = data.draw(mutated(outputs_document(live), keep=(("nats", "urls"),)))
    if isinstance(doc, dict) and isinstance(doc.get("nats"), dict):
        doc["nats"]["urls"] = data.draw(
            st.sampled_from([live.urls, [], ["not a url"], ["nats://127.0.0.1:99999"], "x"])
        )
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "outputs.json"
        file.write_text(json.dumps(doc))
        manifest = str(ROOT / "deploykit.yaml")
        for verb in ("plan", "apply"):
            args = ["nats", verb, "-f", manifest, "--outputs", str(file), "--bus", "core"]
            check(cli(*args), args)


@FUZZ
@given(data=st.data())
def test_dev_commands_survive_any_state_file(data: st.DataObject) -> None:
    """A mutated state.json: status, logs and down answer or refuse it, and `down --wipe`
    removes nothing that `up` did not create."""
    doc = data.draw(mutated(state_document()))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / ".deploykit"
        root.mkdir()
        (root / "state.json").write_text(json.dumps(doc))
        manifest = str(ROOT / "deploykit.yaml")
        for args in (
            ["dev", "status", "--dir", str(root), "-f", manifest],
            ["dev", "logs", "--dir", str(root), "-f", manifest],
            ["dev", "down", "--dir", str(root), "-f", manifest],
            ["dev", "down", "--wipe", "--dir", str(root), "-f", manifest],
        ):
            check(cli(*args), args)
        assert not root.exists(), "`dev down --wipe` left the local stack's folder"


COMMANDS = [
    [],
    ["validate"],
    ["lint"],
    ["render"],
    ["render", "permissions"],
    ["nats"],
    ["nats", "plan"],
    ["nats", "apply"],
    ["dev"],
    ["dev", "status"],
    ["dev", "logs"],
    ["dev", "down"],
    ["dev", "up"],
    ["smoke"],
    ["bogus"],
]


@dataclass(frozen=True)
class Sandbox:
    """Files and folders the arguments may name, inside a folder with no deploykit.yaml."""

    root: Path
    valid: str
    invalid: str
    precious: Path

    def options(self, live: LocalNats) -> dict[str, list[str]]:
        """Every option of every command, each with hostile and ordinary values (none: a flag)."""
        root = self.root
        files = [self.valid, self.invalid, *(str(root / n) for n in FILES), str(root), ""]
        port = live.nodes[0].client_port
        urls = [live.url, f"nats://u:pw@127.0.0.1:{port}", f"tls://127.0.0.1:{port}"]
        urls += ["nats://127.0.0.1:99999", "nats://[::1", "::", "", "💥"]
        numbers = ["0", "-3", "1", "3", "9", "x", "1e400", "99999999999999999999"]
        dirs = [
            str(self.precious.parent),
            str(root / "new"),
            str(root / "broken"),
            str(self.precious),
        ]
        texts = ["u", "", "💥", "x" * 300, "provisioning-core"]
        return {
            **dict.fromkeys(["--file", "-f", "--creds", "--outputs"], files),
            "--url": urls,
            **dict.fromkeys(["--user", "--password"], texts),
            "--bus": ["core", "analytics", "nope", ""],
            **dict.fromkeys(["--cluster-size", "--nodes", "--lines", "-n", "--timeout"], numbers),
            "--target": ["local", "small", "metal", "moon"],
            "--dir": dirs,
            **{flag: [] for flag in FLAGS},
        }

    def base(self, command: list[str], live: LocalNats) -> list[str]:
        """Arguments that make `command` work, so that the random ones reach deep paths."""
        if command[:1] == ["nats"]:
            return ["-f", self.valid, "--url", live.url, "--bus", "core"]
        if command[:1] == ["dev"]:
            return ["-f", self.invalid if command == ["dev", "up"] else self.valid, "--dir"]
        return [self.valid] if command else []


FLAGS = ["--json", "--nats", "--prune", "--allow-destroy", "--wipe", "--help", "--version"]
FILES = ["empty.yaml", "binary.yaml", "missing.yaml", "outputs.json", "garbage.creds"]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, live: LocalNats) -> Sandbox:
    root = tmp_path_factory.mktemp("sandbox")
    (root / "valid.yaml").write_text(REFERENCE_TEXT)
    (root / "invalid.yaml").write_text(REFERENCE_TEXT.replace("role: rpc", "role: wizard"))
    (root / "empty.yaml").write_text("")
    (root / "binary.yaml").write_bytes(bytes(range(256)))
    (root / "outputs.json").write_text(json.dumps(outputs_document(live)))
    (root / "garbage.creds").write_text("-----BEGIN NATS USER JWT-----\nnot a jwt\n")
    (root / "broken").mkdir()
    (root / "broken" / "state.json").write_text('{"nodes": "three"}')
    precious = root / "not-a-stack" / "precious.txt"
    precious.parent.mkdir()
    precious.write_text("not deploykit's to delete")
    return Sandbox(root, str(root / "valid.yaml"), str(root / "invalid.yaml"), precious)


@st.composite
def arguments(draw: st.DrawFn, sandbox: Sandbox, live: LocalNats) -> list[str]:
    """A command, maybe arguments that make it work, and up to six options with values."""
    options = sandbox.options(live)
    command = list(draw(st.sampled_from(COMMANDS)))
    args = list(command)
    if draw(st.booleans()):
        args += sandbox.base(command, live)
        if args[-1:] == ["--dir"]:
            args.append(draw(st.sampled_from(options["--dir"])))
    for _ in range(draw(st.integers(0, 6))):
        option = draw(st.sampled_from(sorted(options)))
        args.append(option)
        if options[option]:
            args.append(draw(st.sampled_from(options[option])))
    if args[:2] == ["dev", "up"]:  # a valid manifest would start a whole stack: not here
        args = [sandbox.invalid if a == sandbox.valid else a for a in args]
    return args


@settings(FUZZ, max_examples=4 * FUZZ.max_examples)  # cheap: most fail before any I/O
@given(data=st.data())
def test_any_arguments_to_any_command(
    live: LocalNats, sandbox: Sandbox, data: st.DataObject
) -> None:
    """Random arguments: the documented exit codes, a message on failure, no traceback, and
    nothing outside deploykit's own folders is ever removed or left behind."""
    args = data.draw(arguments(sandbox, live))
    check(cli(*args, cwd=sandbox.root), args)
    assert sandbox.precious.read_text() == "not deploykit's to delete"
    assert (sandbox.root / "broken" / "state.json").exists()
    assert not (sandbox.root / "new").exists(), "a failed command left a state folder"


HOSTILE_FILES = ["empty.yaml", "binary.yaml", "missing.yaml", "outputs.json", "garbage.creds", "."]


def file_options(sandbox: Sandbox, live: LocalNats) -> list[tuple[list[str], str]]:
    """Every option that reads a file, with the arguments that get the command to reading it."""
    nats = ["-f", sandbox.valid, "--url", live.url, "--bus", "core"]
    return [
        (["validate"], ""),
        (["lint"], ""),
        (["render", "permissions"], ""),
        *((["nats", verb, *nats[2:]], "-f") for verb in ("plan", "apply")),
        *((["nats", verb, *nats], "--creds") for verb in ("plan", "apply")),
        *((["nats", verb, "-f", sandbox.valid], "--outputs") for verb in ("plan", "apply")),
        *((["dev", verb, "--dir", str(sandbox.root / "new")], "-f") for verb in ("up", "status")),
    ]


@pytest.mark.parametrize("name", HOSTILE_FILES)
def test_every_file_option_refuses_a_hostile_file_clearly(
    live: LocalNats, sandbox: Sandbox, name: str
) -> None:
    """Each option that reads a file, given an empty, binary, missing, wrong-kind file or a
    folder: a message and the documented code, no traceback."""
    path = str(sandbox.root / name)
    for args, option in file_options(sandbox, live):
        full = [*args, *([option] if option else []), path]
        check(cli(*full, cwd=sandbox.root), full)
    assert not (sandbox.root / "new").exists()


def test_down_wipe_after_the_state_broke_stops_what_the_pid_files_name(tmp_path: Path) -> None:
    """Found by mypy: with a state file that no longer loads, `down --wipe` named the recorded
    processes by a `Proc.stem` that does not exist (AttributeError, a traceback)."""
    root = tmp_path / ".deploykit"
    (root / "services").mkdir(parents=True)
    (root / "state.json").write_text("{ not json")
    (root / "services" / "gateway.pid").write_text("999999999\n")  # no such process
    done = cli("dev", "down", "--wipe", "--dir", str(root), "-f", str(ROOT / "deploykit.yaml"))
    assert "Traceback" not in done.text and "AttributeError" not in done.text, done.text
    assert done.code == 0, done.text
    assert not root.exists()
