"""The runtime's contract codec: each side of an endpoint and each event judged by its part."""

from __future__ import annotations

import pytest

from deploykit.manifest.model import Manifest
from deploykit.manifest.wiring import wiring_for
from deploykit.runtime.payloads import ContractCodec, PayloadError


def test_the_service_decodes_requests_and_encodes_replies(reference_manifest: Manifest) -> None:
    codec = ContractCodec(wiring_for(reference_manifest, "accounts"))
    assert codec.decode("accounts.rpc.create", b'{"email": "a@b.c"}') == {"email": "a@b.c"}
    with pytest.raises(PayloadError, match=r"request contract v1: \$: 'email' is a required"):
        codec.decode("accounts.rpc.create", b'{"mail": "a@b.c"}')
    with pytest.raises(PayloadError, match=r"reply contract v1: \$: 'id' is a required"):
        codec.encode("accounts.rpc.create", {"email": "a@b.c"})
    with pytest.raises(PayloadError, match=r"accounts\.events\.created breaks its event contract"):
        codec.encode("accounts.events.created", {"id": 7, "email": "a@b.c"})


def test_the_caller_encodes_requests_and_decodes_replies(reference_manifest: Manifest) -> None:
    codec = ContractCodec(wiring_for(reference_manifest, "gateway"))
    with pytest.raises(PayloadError, match="request contract"):
        codec.encode("accounts.rpc.get", {"key": "x"})
    with pytest.raises(PayloadError, match="reply contract"):
        codec.decode("accounts.rpc.get", b'{"id": "x"}')


def test_subjects_without_a_contract_pass_and_the_wiring_holds_only_touched_ones(
    reference_manifest: Manifest,
) -> None:
    projector = wiring_for(reference_manifest, "projector")
    assert set(projector.contracts) == {"accounts.events.created", "accounts.events.welcomed"}
    assert ContractCodec(projector).decode("other.subject", b'{"any": 1}') == {"any": 1}
