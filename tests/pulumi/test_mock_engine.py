"""The one Pulumi mock engine itself: what it records, and that it cannot hide a failure."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from deploykit.testing.pulumimocks import Engine, SmallTierEngine, plain, strings


def two_resources() -> pulumi.Output[Any]:
    parent = pulumi.ComponentResource("test:area:Thing", "thing")
    base = pulumi.CustomResource("test:area:Base", "base", {})
    child = pulumi.CustomResource(
        "test:area:Part",
        "thing-part",
        {"name": "part", "password": pulumi.Output.secret("pw"), "tags": ["a", "b"]},
        pulumi.ResourceOptions(parent=parent, depends_on=[base]),
    )
    pulumi.export("password", pulumi.Output.secret("pw"))
    pulumi.export("name", "part")
    return child.urn


def test_it_records_parents_dependencies_secrets_and_exports() -> None:
    engine = Engine().run(two_resources)
    thing, part = engine.registrations["thing"], engine.registrations["thing-part"]
    base = engine.registrations["base"]
    assert thing.parent != part.parent and "test:area:Thing" not in thing.parent
    assert part.parent == thing.urn and part.dependencies == [base.urn]
    assert part.is_secret("password") and part.input("password") == "pw"
    assert not part.is_secret("name")
    assert sorted(strings(part.inputs)) == ["a", "b", "part"]
    assert sorted(strings(plain(part.inputs))) == ["a", "b", "part", "pw"]
    assert engine.exports == {"password": ("pw", True), "name": ("part", False)}
    assert engine.by_urn(part.urn) is part
    assert engine.closure(part.urn) == {base.urn}


def test_an_assertion_in_what_the_program_returns_fails_the_run() -> None:
    def program() -> pulumi.Output[None]:
        def check(urn: str) -> None:
            assert urn.endswith("thing-else"), urn

        return two_resources().apply(check)

    with pytest.raises(AssertionError, match="thing-part"):
        Engine().run(program)


def test_two_resources_of_one_name_are_refused() -> None:
    def program() -> None:
        pulumi.CustomResource("test:a:One", "same", {})
        pulumi.CustomResource("test:b:Two", "same", {})

    with pytest.raises(Exception, match="two resources are named 'same'"):
        Engine().run(program)


def test_the_small_tier_stand_ins_answer_its_lookups() -> None:
    def program() -> pulumi.Output[Any]:
        return pulumi.Output.from_input(
            pulumi.runtime.invoke("grafana:cloud/getStack:getStack", {"slug": "acme"}).value
        )

    engine = SmallTierEngine().run(program)
    assert engine.invokes == [("grafana:cloud/getStack:getStack", {"slug": "acme"})]
