"""Near-duplicate groups from verified pairs, without chaining.

Single-linkage (union-find over every verified pair) merges A and C when A~B and B~C even if
A and C are different documents. Instead, each connected component is split into stars:
the member with the most verified neighbours (ties: first in input order) survives and its
unassigned neighbours are its duplicates; the rest repeat the same. Every removed document
is then itself verified-similar to the document that replaces it.

Memory: this runs in the driver over every verified pair of the run, so it keeps to numpy
arrays of 4-byte node numbers (≈ 40 bytes a pair at the peak, beside the caller's 16) and
walks the nodes a block at a time: a Python int per node for the whole run (the visit order
as one list) cost ≈ 190 MiB per million pairs at 10 M documents, and glibc kept much of it.
"""
from __future__ import annotations

import numpy as np

VISIT_BLOCK = 1 << 16  # nodes turned into Python ints at a time


def stars(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges a[i]-b[i] (global document numbers, deduplicated) -> (duplicates, survivors)."""
    if len(a) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    nodes = np.unique(np.concatenate([a, b]))              # sorted: node i is the i-th document
    kind = np.int32 if len(nodes) < 1 << 31 else np.int64
    ua = np.searchsorted(nodes, a).astype(kind)
    ub = np.searchsorted(nodes, b).astype(kind)
    src = np.concatenate([ua, ub])
    dst = np.concatenate([ub, ua])
    del ua, ub
    # each node's neighbours, together (their order within a node does not change the result)
    dst = dst[np.argsort(src, kind="stable")].astype(np.intp)  # an index: no conversion per lookup
    degree = np.bincount(src, minlength=len(nodes))
    del src
    starts = np.zeros(len(nodes) + 1, np.int64)
    np.cumsum(degree, out=starts[1:])
    # centres first: most neighbours, then input order (nodes are sorted by document number)
    visit = np.argsort(-degree, kind="stable").astype(kind)
    del degree
    survivor_of = np.full(len(nodes), -1, dtype=kind)
    for block in range(0, len(visit), VISIT_BLOCK):
        for node in visit[block:block + VISIT_BLOCK].tolist():
            if survivor_of[node] != -1:
                continue
            survivor_of[node] = node
            neighbours = dst[starts[node]:starts[node + 1]]
            free = neighbours[survivor_of[neighbours] == -1]
            survivor_of[free] = node
    dup = np.flatnonzero(survivor_of != np.arange(len(nodes), dtype=kind))
    return nodes[dup], nodes[survivor_of[dup]]
