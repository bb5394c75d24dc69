"""Inclusion proofs for many leaves of one tree, sharing subtree roots.

``archive.merkle.inclusion_proof`` recomputes subtree roots for every call (O(n) each); an export
asks for thousands of proofs over the same tree, so roots of the RFC 6962 subtrees are cached here.
The proofs are the same bytes (tests compare them with ``merkle.inclusion_proof``).
"""

from __future__ import annotations

from collections.abc import Sequence

from archive import merkle

__all__ = ["ProofBuilder"]


class ProofBuilder:
    """Audit paths for leaves of one fixed tree (RFC 6962 section 2.1.1)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = leaves
        self._roots: dict[tuple[int, int], bytes] = {}

    def root(self, lo: int = 0, hi: int | None = None) -> bytes:
        """MTH over leaves[lo:hi]; recursion depth is log2(n)."""
        hi = len(self.leaves) if hi is None else hi
        key = (lo, hi)
        cached = self._roots.get(key)
        if cached is not None:
            return cached
        if hi - lo == 0:
            value = merkle.EMPTY_ROOT
        elif hi - lo == 1:
            value = self.leaves[lo]
        else:
            k = _split(hi - lo)
            value = merkle.node_hash(self.root(lo, lo + k), self.root(lo + k, hi))
        self._roots[key] = value
        return value

    def proof(self, index: int) -> list[bytes]:
        """PATH(index, D[n]) for the whole tree."""
        if not 0 <= index < len(self.leaves):
            raise IndexError(f"leaf {index} is not in a tree of {len(self.leaves)}")
        path: list[bytes] = []
        lo, hi = 0, len(self.leaves)
        while hi - lo > 1:
            k = _split(hi - lo)
            if index < lo + k:
                path.append(self.root(lo + k, hi))
                hi = lo + k
            else:
                path.append(self.root(lo, lo + k))
                lo = lo + k
        path.reverse()  # the audit path lists siblings from the leaf upwards
        return path


def _split(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)
