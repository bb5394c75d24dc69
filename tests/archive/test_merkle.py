"""RFC 6962 Merkle trees: the frontier agrees with the recursive definition; proofs verify."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from archive import merkle


def leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(hashlib.sha256(str(i).encode()).digest()) for i in range(n)]


def test_known_values_from_the_definition() -> None:
    a, b, c = leaves(3)
    assert merkle.root([]) == hashlib.sha256(b"").digest()
    assert merkle.root([a]) == a
    assert merkle.root([a, b, c]) == merkle.node_hash(merkle.node_hash(a, b), c)


@given(st.integers(min_value=0, max_value=140))
@settings(max_examples=60, deadline=None)
def test_frontier_root_equals_recursive_root(n: int) -> None:
    frontier = merkle.Frontier()
    for leaf in leaves(n):
        frontier.append(leaf)
    assert frontier.root() == merkle.root(leaves(n))
    again = merkle.Frontier.from_json(frontier.to_json())
    assert again.root() == frontier.root() and again.size == n


@given(st.integers(min_value=1, max_value=70), st.data())
@settings(max_examples=60, deadline=None)
def test_every_inclusion_proof_verifies_and_a_wrong_leaf_does_not(n: int, data: st.DataObject) -> None:
    tree = leaves(n)
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    proof = merkle.inclusion_proof(index, tree)
    top = merkle.root(tree)
    assert merkle.verify_inclusion(tree[index], index, n, proof, top)
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"forged"), index, n, proof, top)
    if n > 1:
        assert not merkle.verify_inclusion(tree[index], (index + 1) % n, n, proof, top)
