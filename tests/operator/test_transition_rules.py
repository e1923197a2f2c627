"""Transition rules (`oldSelf`) on a real API server: a create, then an update.

IPPool's cidr and blockSize are immutable (blockSize may not be added or removed
either), and so is an IPBlock's spec. `netwright validate` sees one version of a
document, never the stored one, so it skips transition rules (`_cel.CelRule.
is_transition`): the changed document is valid on its own, and only the server refuses
the change. These tests check both halves.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _apiserver import ApiError

from netwright.validate._schema import CrdSchemas

if TYPE_CHECKING:
    from collections.abc import Callable

    from _apiserver import Client

GV = "netwright.io/v1alpha1"
POOLS = "/apis/netwright.io/v1alpha1/ippools"
BLOCKS = "/apis/netwright.io/v1alpha1/ipblocks"
REPO = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def schemas() -> CrdSchemas:
    return CrdSchemas.from_directory(REPO / "crds")


def pool(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": GV,
        "kind": "IPPool",
        "metadata": {"name": name},
        "spec": {"cidr": "10.244.0.0/16", "backend": "overlay", **spec},
    }


def refused_update(
    api: Client, path: str, stored: dict[str, Any], change: Callable[[dict[str, Any]], None]
) -> ApiError:
    updated = copy.deepcopy(stored)
    change(updated)
    with pytest.raises(ApiError) as caught:
        api.put(path, updated)
    return caught.value


def causes(error: ApiError) -> list[tuple[str, str]]:
    return [(c.get("field", ""), c.get("message", "")) for c in error.body["details"]["causes"]]


@dataclass(frozen=True)
class Change:
    id: str
    created: dict[str, Any]  # the pool's spec beyond cidr and backend
    change: dict[str, Any]  # keys set on update (None: removed)
    field: str
    message: str


CHANGES = [
    Change("cidr", {"blockSize": 24}, {"cidr": "10.245.0.0/16"}, "spec.cidr", "cidr is immutable"),
    Change("block-size", {"blockSize": 24}, {"blockSize": 25}, "spec.blockSize", "blockSize is immutable"),
    Change("block-size-added", {}, {"blockSize": 24}, "spec.blockSize", "blockSize is immutable"),
    Change("block-size-removed", {"blockSize": 24}, {"blockSize": None}, "spec.blockSize", "blockSize is immutable"),
]  # fmt: skip


@pytest.mark.parametrize("case", CHANGES, ids=[c.id for c in CHANGES])
def test_an_ippool_keeps_its_cidr_and_block_size(
    api: Client,
    installed_crds: dict[str, Any],
    schemas: CrdSchemas,
    fresh_name: Callable[[str], str],
    case: Change,
) -> None:
    what, created, change, field, message = (
        case.id, case.created, case.change, case.field, case.message
    )  # fmt: skip
    name = fresh_name(what)
    stored = api.post(POOLS, pool(name, **created))

    def apply(doc: dict[str, Any]) -> None:
        for key, value in change.items():
            if value is None:
                doc["spec"].pop(key, None)
            else:
                doc["spec"][key] = value

    error = refused_update(api, f"{POOLS}/{name}", stored, apply)
    assert error.code == 422, error.body
    assert [f for f, _ in causes(error)] == [field], causes(error)
    assert message in causes(error)[0][1]
    # Offline, the changed document is a valid pool of its own: validate cannot know
    # what was stored, and skips the rule as the server does on create.
    changed = pool(name, **created)
    apply(changed)
    assert schemas.validate("IPPool", changed)[1] == []
    # ... and the stored object is unchanged.
    assert api.get(f"{POOLS}/{name}")["spec"] == stored["spec"]


def test_an_ippool_may_change_everything_else(
    api: Client, installed_crds: dict[str, Any], fresh_name: Callable[[str], str]
) -> None:
    name = fresh_name("pool")
    stored = api.post(POOLS, pool(name, blockSize=24))
    updated = copy.deepcopy(stored)
    updated["spec"].update(natOutgoing=True, disabled=True, reserved=["10.244.255.0/24"])
    after = api.put(f"{POOLS}/{name}", updated)
    assert after["spec"]["natOutgoing"] is True
    assert after["metadata"]["generation"] == 2


def test_an_ipblock_never_moves(
    api: Client,
    installed_crds: dict[str, Any],
    schemas: CrdSchemas,
    fresh_name: Callable[[str], str],
) -> None:
    pool_name = fresh_name("pool")
    name = f"{pool_name}.10-244-1-0-24"
    block = {
        "apiVersion": GV,
        "kind": "IPBlock",
        "metadata": {"name": name},
        "spec": {"pool": pool_name, "cidr": "10.244.1.0/24", "node": "n1"},
    }
    stored = api.post(BLOCKS, block)
    error = refused_update(api, f"{BLOCKS}/{name}", stored, lambda d: d["spec"].update(node="n2"))
    assert error.code == 422, error.body
    assert [f for f, _ in causes(error)] == ["spec"], causes(error)
    assert "spec is immutable" in causes(error)[0][1]
    moved = copy.deepcopy(block)
    moved["spec"]["node"] = "n2"
    assert schemas.validate("IPBlock", moved)[1] == []
    # Labels are not spec: an IPBlock may still be labelled.
    labelled = copy.deepcopy(stored)
    labelled["metadata"]["labels"] = {"netwright.io/node": "n1"}
    assert api.put(f"{BLOCKS}/{name}", labelled)["metadata"]["labels"] == {
        "netwright.io/node": "n1"
    }
