"""Corpus-wide dedup steps: exact, MinHash near-duplicates, repeated paragraphs (docs/dedup.md).

Importing the package registers the steps: `exact_dedup`, `minhash_dedup`, `repeated_paragraphs`.
"""
from . import exact, minhash, repeated  # noqa: F401
