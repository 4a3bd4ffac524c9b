"""RFC 6962 / RFC 9162 Merkle trees: the published test vectors, and properties against a
reference written from the definitions (RFC 9162 §2.1.1 MTH, §2.1.3.1 PATH, §2.1.4.1 PROOF).

The vectors are the Certificate Transparency ones (transparency-dev/merkle `testonly/constants.go`
and `proof/verify_test.go`): eight leaves, the root of every size 0..8, and known proofs.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.ledger.merkle import (
    EMPTY_ROOT,
    LEAF_PREFIX,
    NODE_PREFIX,
    MerkleTree,
    ProofError,
    consistency_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

INPUTS = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657"]] + [
    bytes.fromhex("606162636465666768696a6b6c6d6e6f")
]
LEAVES = [leaf_hash(data) for data in INPUTS]
ROOTS = [
    bytes.fromhex(h)
    for h in [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]


def h(*hexes: str) -> list[bytes]:
    return [bytes.fromhex(x) for x in hexes]


INCLUSION = [  # (index, size, proof): verify_test.go's vectors, indices made 0-based
    (0, 8, h(
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    )),
    (5, 8, h(
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    )),
    (2, 3, h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (1, 5, h(
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    )),
]  # fmt: skip
CONSISTENCY = [  # (old size, new size, proof)
    (1, 8, h(
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    )),
    (6, 8, h(
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    )),
    (2, 5, h(
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    )),
    (6, 7, h(
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    )),
]  # fmt: skip


# A reference straight from RFC 9162 §2.1: recursive, slow, obviously right.
def ref_k(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def ref_mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = ref_k(len(leaves))
    return hashlib.sha256(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:])).digest()


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = ref_k(len(leaves))
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_mth(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [ref_mth(leaves)]
    k = ref_k(n)
    if m <= k:
        return [*ref_subproof(m, leaves[:k], complete), ref_mth(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), ref_mth(leaves[:k])]


leaf_lists = st.lists(st.binary(max_size=8).map(leaf_hash), min_size=1, max_size=40)


def test_the_domain_separation_prefixes_are_rfc_9162s() -> None:
    assert (LEAF_PREFIX, NODE_PREFIX) == (b"\x00", b"\x01")
    assert leaf_hash(b"") == ROOTS[1] == hashlib.sha256(b"\x00").digest()
    assert node_hash(LEAVES[0], LEAVES[1]) == ROOTS[2]


def test_the_empty_tree_hashes_to_sha256_of_nothing() -> None:
    assert root([]) == EMPTY_ROOT == ROOTS[0]
    assert MerkleTree([]).root() == ROOTS[0]


@pytest.mark.parametrize("size", range(9))
def test_the_root_of_every_size_is_the_published_tree_head(size: int) -> None:
    assert root(LEAVES[:size]) == ROOTS[size]
    assert MerkleTree(LEAVES[:size]).root() == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_proofs_are_the_published_ones_and_verify(index: int, size: int, proof: list[bytes]) -> None:
    assert MerkleTree(LEAVES[:size]).inclusion_proof(index) == proof
    verify_inclusion(index, size, LEAVES[index], proof, ROOTS[size])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_proofs_are_the_published_ones_and_verify(old: int, new: int, proof: list[bytes]) -> None:
    assert consistency_proof(old, LEAVES[:new]) == proof
    verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_a_corrupted_inclusion_proof_is_refused(index: int, size: int, proof: list[bytes]) -> None:
    """verify_test.go's corruptions: wrong index, size, leaf or root; garbage; a flipped bit; a cut."""
    flipped = [bytes([proof[0][0] ^ 8]) + proof[0][1:], *proof[1:]]
    probes = [
        (index + 1, size, LEAVES[index], proof, ROOTS[size]),
        (index ^ 2, size, LEAVES[index], proof, ROOTS[size]),
        (index, size * 2, LEAVES[index], proof, ROOTS[size]),
        (index, size, b"WrongLeaf", proof, ROOTS[size]),
        (index, size, LEAVES[index], proof, ROOTS[0]),
        (index, size, LEAVES[index], [*proof, ROOTS[size]], ROOTS[size]),
        (index, size, LEAVES[index], [ROOTS[size], *proof], ROOTS[size]),
        (index, size, LEAVES[index], flipped, ROOTS[size]),
        (index, size, LEAVES[index], proof[:-1], ROOTS[size]),
    ]
    for probe in probes:
        with pytest.raises(ProofError):
            verify_inclusion(*probe)


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_a_corrupted_consistency_proof_is_refused(old: int, new: int, proof: list[bytes]) -> None:
    flipped = [bytes([proof[-1][0] ^ 16]) + proof[-1][1:]]
    probes = [
        (old + 1, new, ROOTS[old], ROOTS[new], proof),
        (old, new * 2, ROOTS[old], ROOTS[new], proof),
        (old, new, ROOTS[new], ROOTS[old], proof),
        (old, new, b"WrongRoot", ROOTS[new], proof),
        (old, new, ROOTS[old], ROOTS[new], []),
        (old, new, ROOTS[old], ROOTS[new], [*proof, ROOTS[old]]),
        (old, new, ROOTS[old], ROOTS[new], [proof[0], *proof]),
        (old, new, ROOTS[old], ROOTS[new], proof[:-1]),
        (old, new, ROOTS[old], ROOTS[new], proof[:-1] + flipped),
    ]
    for probe in probes:
        with pytest.raises(ProofError):
            verify_consistency(*probe)


def test_an_index_outside_the_tree_has_no_proof() -> None:
    with pytest.raises(ProofError, match="leaf 8 is not in a tree of size 8"):
        MerkleTree(LEAVES).inclusion_proof(8)
    with pytest.raises(ProofError, match="leaf 3 is not in a tree of size 3"):
        verify_inclusion(3, 3, LEAVES[0], [], ROOTS[3])


def test_trees_of_one_size_are_consistent_only_with_one_root_and_no_proof() -> None:
    verify_consistency(5, 5, ROOTS[5], ROOTS[5], [])
    assert consistency_proof(8, LEAVES) == []
    with pytest.raises(ProofError, match="one root"):
        verify_consistency(5, 5, ROOTS[5], ROOTS[6], [])
    with pytest.raises(ProofError, match="one root"):
        verify_consistency(5, 5, ROOTS[5], ROOTS[5], [ROOTS[0]])


def test_a_tree_cannot_be_proved_to_extend_a_larger_one() -> None:
    with pytest.raises(ProofError, match="cannot prove 3 → 2"):
        verify_consistency(3, 2, ROOTS[3], ROOTS[2], [])
    with pytest.raises(ProofError, match="no consistency proof from size 9 to 8"):
        consistency_proof(9, LEAVES)


@given(leaf_lists)
def test_the_root_is_mth_by_definition(leaves: list[bytes]) -> None:
    assert root(leaves) == ref_mth(leaves) == MerkleTree(leaves).root()


@given(leaf_lists, st.data())
def test_every_inclusion_proof_is_path_by_definition_and_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = MerkleTree(leaves).inclusion_proof(index)
    assert proof == ref_path(index, leaves)
    verify_inclusion(index, len(leaves), leaves[index], proof, ref_mth(leaves))
    other = data.draw(st.integers(0, len(leaves) - 1))
    if leaves[other] != leaves[index]:
        with pytest.raises(ProofError):
            verify_inclusion(index, len(leaves), leaves[other], proof, ref_mth(leaves))


@given(leaf_lists, st.data())
def test_every_consistency_proof_is_proof_by_definition_and_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    old = data.draw(st.integers(1, len(leaves)))
    proof = consistency_proof(old, leaves)
    assert proof == ref_subproof(old, leaves, True)
    verify_consistency(old, len(leaves), ref_mth(leaves[:old]), ref_mth(leaves), proof)


@given(leaf_lists, st.data())
def test_a_rewritten_prefix_is_never_consistent(leaves: list[bytes], data: st.DataObject) -> None:
    """Append-only: change any leaf of the old tree and no proof of the new one links them."""
    if len(leaves) < 2:
        return
    old = data.draw(st.integers(1, len(leaves) - 1))
    changed = data.draw(st.integers(0, old - 1))
    rewritten = [*leaves[:changed], leaf_hash(b"forged" + leaves[changed]), *leaves[changed + 1 :]]
    with pytest.raises(ProofError):
        verify_consistency(old, len(leaves), root(leaves[:old]), root(rewritten), consistency_proof(old, rewritten))
