"""The fakes say no where their references do: types, required fields, nullability."""

from __future__ import annotations

import httpx

from deploykit.testing.fakes.neon import FakeNeon
from deploykit.testing.fakes.railway import FakeRailway
from deploykit.testing.fakes.schema import integer, obj, problems, string
from deploykit.testing.fakes.synadia import FakeSynadia


def test_the_schema_checker_names_each_problem_by_its_path() -> None:
    spec = obj({"a": integer(minimum=-1), "b": obj({"c": string(nullable=True)})}, required=("a",))
    assert problems({"a": 1, "b": {"c": None}}, spec) == []
    assert problems({"a": 1.5, "b": {"d": 1}}, spec) == [
        "a: must be an integer",
        "b.d: unknown field",
    ]
    assert problems({"a": True}, spec) == ["a: must be an integer"]  # JSON true is no number
    assert problems({"b": None}, spec) == ["a: required", "b: must not be null"]
    assert problems({"a": -2}, spec) == ["a: must be at least -1"]


def test_synadia_refuses_a_float_limit_and_a_null_that_is_not_nullable() -> None:
    with FakeSynadia() as fake:
        auth = {"Authorization": f"Bearer {fake.token}"}
        base = f"{fake.url}/api/core/beta"
        bad = {"name": "core", "jwt_settings": {"limits": {"conn": 2.0}}}
        answer = httpx.post(f"{base}/systems/sys-1/accounts", json=bad, headers=auth)
        assert (answer.status_code, answer.text) == (
            400,
            "jwt_settings.limits.conn: must be an integer",
        )
        account = httpx.post(
            f"{base}/systems/sys-1/accounts", json={"name": "core"}, headers=auth
        ).json()
        group = httpx.get(f"{base}/accounts/{account['id']}/account-sk-groups", headers=auth).json()
        user = {"name": "web", "sk_group_id": group["items"][0]["id"]}
        created = httpx.post(
            f"{base}/accounts/{account['id']}/nats-users", json=user, headers=auth
        ).json()
        clear = {"jwt_settings": {"resp": None, "subs": None}}
        answer = httpx.request(
            "PATCH", f"{base}/nats-users/{created['id']}", json=clear, headers=auth
        )
        assert (answer.status_code, answer.text) == (400, "jwt_settings.subs: must not be null")
        answer = httpx.delete(f"{base}/nats-users/{created['id']}", headers=auth)
        assert (answer.status_code, answer.content) == (204, b"")


def test_railway_refuses_a_string_where_the_schema_says_int() -> None:
    with FakeRailway() as fake:
        body = {
            "query": "mutation { serviceCreate(input: $input) { id } }",
            "variables": {"input": {"projectId": "p", "name": 3}},
        }
        answer = httpx.post(
            f"{fake.url}/graphql/v2", json=body, headers={"Authorization": f"Bearer {fake.token}"}
        ).json()
        assert answer["errors"][0]["message"] == (
            'Variable "$input" got invalid value at "name": must be a string.'
        )


def test_neon_refuses_an_org_id_outside_its_pattern() -> None:
    with FakeNeon() as fake:
        body = {"project": {"name": "acme", "org_id": "Org With Spaces"}}
        answer = httpx.post(
            f"{fake.url}/api/v2/projects",
            json=body,
            headers={"Authorization": f"Bearer {fake.token}"},
        )
        assert answer.status_code == 400
        assert answer.json()["message"] == "project.org_id: must match [a-z0-9-]{1,60}"


def test_synadia_refuses_tiered_and_account_wide_jetstream_limits_together() -> None:
    with FakeSynadia() as fake:
        auth = {"Authorization": f"Bearer {fake.token}"}
        limits = {"disk_storage": 1024, "tiered_limits": {"R1": {"disk_storage": 1024}}}
        body = {"name": "core", "jwt_settings": {"limits": limits}}
        answer = httpx.post(
            f"{fake.url}/api/core/beta/systems/sys-1/accounts", json=body, headers=auth
        )
        assert answer.status_code == 400
        assert "mutually exclusive" in answer.text
