"""RFC 9162 Merkle trees: leaf and node hashes, roots, inclusion and consistency proofs.

Pure functions, no I/O. Domain separation as in RFC 9162 §2.1.1: leaves are hashed with a 0x00
prefix and interior nodes with 0x01, so a leaf can never pass for a node.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from gateway.errors import ProofError

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf *hashes* (RFC 9162 §2.1.1), in O(n) with a stack of complete subtrees."""
    if not leaves:
        return EMPTY_ROOT
    stack: list[tuple[int, bytes]] = []  # (subtree size, hash), sizes strictly decreasing powers of two
    for leaf in leaves:
        size, current = 1, leaf
        while stack and stack[-1][0] == size:
            left_size, left = stack.pop()
            current, size = node_hash(left, current), left_size + size
        stack.append((size, current))
    _, current = stack.pop()
    while stack:
        _, left = stack.pop()
        current = node_hash(left, current)
    return current


def _split(n: int) -> int:
    """The largest power of two smaller than n (RFC 9162 §2.1.1's k)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes) -> None:
    """RFC 9162 §2.1.3.2; raises ProofError."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    fn, sn, current = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            current = node_hash(sibling, current)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            current = node_hash(current, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0 or current != expected_root:
        raise ProofError("inclusion proof does not lead to the root")


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) (RFC 9162 §2.1.4.1)."""
    n = len(leaves)
    if not 0 < old_size <= n:
        raise ProofError(f"no consistency proof from size {old_size} to {n}")
    return _subproof(old_size, leaves, True)


def _subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), root(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), root(leaves[:k])]


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """RFC 9162 §2.1.4.2; raises ProofError."""
    if old_size == new_size:
        if proof or old_root != new_root:
            raise ProofError("trees of one size must have one root")
        return
    if not 0 < old_size < new_size:
        raise ProofError(f"cannot prove {old_size} → {new_size}")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is itself a node of the new tree
        path.insert(0, old_root)
    if not path:
        raise ProofError("empty consistency proof")
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0 or fr != old_root or sr != new_root:
        raise ProofError("the new tree is not an append-only extension of the old one")


class MerkleTree:
    """A fixed tree over leaf hashes, with subtree hashes memoised: all proofs in O(n log n)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self._leaves = leaves
        self._memo: dict[tuple[int, int], bytes] = {}

    @property
    def size(self) -> int:
        return len(self._leaves)

    def root(self) -> bytes:
        return self._hash(0, len(self._leaves)) if self._leaves else EMPTY_ROOT

    def _hash(self, start: int, end: int) -> bytes:
        if end - start == 1:
            return self._leaves[start]
        cached = self._memo.get((start, end))
        if cached is None:
            k = _split(end - start)
            cached = node_hash(self._hash(start, start + k), self._hash(start + k, end))
            self._memo[(start, end)] = cached
        return cached

    def inclusion_proof(self, index: int) -> list[bytes]:
        if not 0 <= index < len(self._leaves):
            raise ProofError(f"leaf {index} is not in a tree of size {len(self._leaves)}")
        path: list[bytes] = []
        start, end = 0, len(self._leaves)
        while end - start > 1:
            k = _split(end - start)
            if index < start + k:
                path.append(self._hash(start + k, end))
                end = start + k
            else:
                path.append(self._hash(start, start + k))
                start += k
        return path[::-1]
