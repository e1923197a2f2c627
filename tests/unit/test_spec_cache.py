"""The validated-spec cache: same answers as without it, never a secret on disk, never trusted blindly."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from netwright.errors import ValidationError
from netwright.validate import LoadedSpec, caching, load_spec

EXAMPLES = Path(__file__).parents[2] / "examples"
PASSWORD = "cache-must-not-see-this"

PEER = f"""\
apiVersion: netwright.io/v1alpha1
kind: BGPPeer
metadata: {{name: tor}}
spec:
  peerIP: 172.31.255.1
  asNumber: 64513
  passwordSecretRef: {{namespace: kube-system, name: bgp, key: tor}}
---
apiVersion: v1
kind: Secret
metadata: {{name: bgp, namespace: kube-system}}
stringData: {{tor: {PASSWORD}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: unrelated}}
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("NETWRIGHT_CACHE_DIR", str(path))
    monkeypatch.delenv("NETWRIGHT_NO_CACHE", raising=False)
    return path


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    root = tmp_path / "spec"
    shutil.copytree(EXAMPLES / "bgp", root)
    (root / "peer.yaml").write_text(PEER)
    return root


def entries(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.glob("spec-*"))


def must_hit(monkeypatch: pytest.MonkeyPatch, directory: Path) -> LoadedSpec:
    """`load_spec(directory)`, failing the test if it validates instead of using the cache."""
    from netwright.validate import validating

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cache miss: the directory was validated again")

    with monkeypatch.context() as m:
        m.setattr(validating, "validate_documents", must_not_run)
        return load_spec(str(directory))


def test_a_hit_gives_what_validation_gives(
    cache: Path, spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cold = load_spec(str(spec))
    assert len(entries(cache)) == 1
    warm = must_hit(monkeypatch, spec)
    assert warm.cluster == cold.cluster
    assert warm.cluster.secrets == cold.cluster.secrets
    (ref,) = warm.cluster.secrets
    assert warm.cluster.secrets[ref].reveal() == PASSWORD, "secrets are read afresh on a hit"
    assert [(d.file, d.line, d.kind, d.name) for d in warm.ignored] == [
        (d.file, d.line, d.kind, d.name) for d in cold.ignored
    ]


def test_no_secret_reaches_the_cache(cache: Path, spec: Path) -> None:
    load_spec(str(spec))
    for path in cache.iterdir():
        assert PASSWORD.encode() not in path.read_bytes(), path.name


def test_a_changed_file_is_validated_again(cache: Path, spec: Path) -> None:
    load_spec(str(spec))
    network = spec / "network.yaml"
    network.write_text(network.read_text().replace("blockSize: 24", "blockSize: 33"))
    with pytest.raises(ValidationError) as info:
        load_spec(str(spec))
    assert "spec.blockSize: 33 is larger than 32" in str(info.value)
    network.write_text(
        network.read_text()
        .replace("blockSize: 33", "blockSize: 24")
        .replace("natOutgoing: true", "natOutgoing: false")
    )
    assert load_spec(str(spec)).cluster.pools[0].nat_outgoing is False


def test_a_damaged_entry_is_a_miss(cache: Path, spec: Path) -> None:
    cold = load_spec(str(spec))
    (entry,) = entries(cache)
    (cache / entry).write_bytes(b"not a pickle")
    assert load_spec(str(spec)).cluster == cold.cluster


def test_a_directory_others_can_write_is_not_trusted(cache: Path, spec: Path) -> None:
    cache.mkdir(mode=0o700)
    cache.chmod(0o777)
    load_spec(str(spec))
    assert entries(cache) == [], "nothing is stored where others could plant a pickle"
    cache.chmod(0o700)
    load_spec(str(spec))
    (entry,) = entries(cache)
    os.chmod(cache / entry, 0o666)
    assert caching.load(entry, []) is None, "an entry others can write is not loaded"


def test_no_cache_turns_it_off(cache: Path, spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETWRIGHT_NO_CACHE", "1")
    load_spec(str(spec))
    assert not cache.exists() or entries(cache) == []


def test_old_entries_are_pruned(
    cache: Path, spec: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(caching, "KEEP", 3)
    for i in range(5):
        copy = tmp_path / f"copy{i}"
        shutil.copytree(spec, copy)
        load_spec(str(copy))
    assert len(entries(cache)) == 3


def test_allocate_write_leaves_the_cache_warm(
    cache: Path, spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netwright.cli import main

    (spec / "ipblocks.yaml").unlink()
    assert main(["allocate", str(spec), "--write"]) == 0
    warm = must_hit(monkeypatch, spec)
    monkeypatch.setenv("NETWRIGHT_NO_CACHE", "1")
    cold = load_spec(str(spec))
    assert warm.cluster == cold.cluster
    assert [b.source for b in warm.cluster.blocks] == [b.source for b in cold.cluster.blocks]
    assert warm.secret_files == cold.secret_files == ("peer.yaml",)
