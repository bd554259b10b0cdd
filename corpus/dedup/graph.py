"""Near-duplicate groups from verified pairs, without chaining.

Single-linkage (union-find over every verified pair) merges A and C when A~B and B~C even if
A and C are different documents. Instead, each connected component is split into stars:
the member with the most verified neighbours (ties: first in input order) survives and its
unassigned neighbours are its duplicates; the rest repeat the same. Every removed document
is then itself verified-similar to the document that replaces it.
"""
from __future__ import annotations

import numpy as np


def stars(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges a[i]-b[i] (global document numbers, deduplicated) -> (duplicates, survivors)."""
    if len(a) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    nodes, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    ua, ub = inverse[:len(a)], inverse[len(a):]
    src = np.concatenate([ua, ub])
    dst = np.concatenate([ub, ua])
    order = np.lexsort((dst, src))
    src, dst = src[order], dst[order]
    starts = np.searchsorted(src, np.arange(len(nodes) + 1))
    degree = np.diff(starts)
    # centres first: most neighbours, then input order (nodes are sorted by document number)
    visit = np.lexsort((np.arange(len(nodes)), -degree))
    survivor_of = np.full(len(nodes), -1, dtype=np.int64)
    for node in visit.tolist():
        if survivor_of[node] != -1:
            continue
        survivor_of[node] = node
        neighbours = dst[starts[node]:starts[node + 1]]
        free = neighbours[survivor_of[neighbours] == -1]
        survivor_of[free] = node
    dup = np.nonzero(survivor_of != np.arange(len(nodes)))[0]
    return nodes[dup], nodes[survivor_of[dup]]
