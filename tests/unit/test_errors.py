"""Every error class the kit raises on purpose belongs to the one hierarchy in `errors.py`, and
the CLI turns each into its message alone and its exit code."""

from __future__ import annotations

import pytest

import deploykit.cli
from deploykit import errors
from deploykit.jetstream.api import ApiError as JetStreamApiError
from deploykit.jetstream.apply import ApplyError, ApplyResult
from deploykit.saas import ApiError as SaasApiError
from deploykit.saas import AuthError, NotFound, QuotaError

RAISED = [
    errors.ManifestError("deploykit.yaml", [errors.Problem("services.x", "bad")]),
    errors.ConfigError("--outputs x.json: file not found"),
    errors.ConnectError("cannot connect"),
    errors.PlanRefused("refused"),
    errors.ProcessError("did not start"),
    JetStreamApiError("$JS.API.STREAM.CREATE.X", 400, 10058, "stream name already in use"),
    ApplyError(ApplyResult(bus="core"), []),
    SaasApiError("neon: POST /projects failed with 400: bad", status=400),
    AuthError("neon: the token was refused", status=401),
    QuotaError("neon: quota reached", status=402),
    NotFound("neon: gone", status=404),
]


def test_the_classes_outside_errors_py_are_those_it_names() -> None:
    assert JetStreamApiError is errors.JetStreamApiError
    assert ApplyError is errors.ApplyError
    assert issubclass(SaasApiError, errors.SaasApiError)
    for name in ("JetStreamApiError", "ApplyError", "SaasApiError"):
        assert name in (errors.__doc__ or "")


@pytest.mark.parametrize("error", RAISED, ids=lambda e: type(e).__name__)
def test_each_error_exits_with_its_code_and_message_alone(
    error: errors.DeploykitError,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def command(**_: object) -> None:
        raise error

    monkeypatch.setattr(deploykit.cli, "build", lambda _=None: command)
    with pytest.raises(SystemExit) as exited:
        deploykit.cli.main()
    assert isinstance(error, errors.DeploykitError)
    assert exited.value.code == error.exit_code == 2
    assert capsys.readouterr().err == f"{error}\n"
