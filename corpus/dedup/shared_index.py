"""A near-duplicate index that many jobs query and extend at once: datasketch's MinHashLSH on its
Redis storage backend (`xiulian clean ... --shared-index redis://host:6379/corpus`).

The file index (index.py) belongs to one output and is written once, when its run ends; a
shared index is the right tool when many small jobs (a daily scrape split over workers) must
each see what the others kept as soon as they kept it. It is fed our own signatures as
datasketch LeanMinHash objects (scheme "affine32": 32-bit values) with our bands x rows.
Like the file index it keeps the low 16 bits of each value (index.stored), here both in the
LSH tables and in the signatures kept beside them (a Redis hash) against which candidates are
verified with the step's threshold; 5 rows of 16 bits still make an 80-bit bucket key.

Concurrency: Redis applies each insertion session's commands atomically per pipeline, but two
jobs that run at the same moment do not see each other's documents until each has finished
and inserted, so two simultaneous copies can both survive. The file index has no such window
(batches are cleaned one after the other) and is much faster (docs/BENCHMARKS.md).
Only near-duplicate lookups are shared (an exact copy has Jaccard similarity 1, so it is found
too); repeated-line counts stay with the file index.
"""
from __future__ import annotations

import json
from urllib.parse import urlsplit

import numpy as np

from ..errors import UserError
from .index import MATCHING, fingerprint, stored

SCHEME = "affine32"
PIPELINE_DOCS = 2_000  # documents per Redis round trip


def is_shared(path: str) -> bool:
    return path.startswith("redis://")


class SharedIndex:
    """MinHashLSH in Redis plus each document's signature, for one set of MinHash settings."""

    def __init__(self, url: str, settings: dict, threshold: float):
        try:
            import redis
            from datasketch import MinHashLSH
        except ImportError:
            raise UserError("--shared-index needs datasketch and redis: pip install 'datasketch[redis]'") from None
        parts = urlsplit(url)
        name = parts.path.strip("/")
        if parts.scheme != "redis" or not parts.hostname or not name:
            raise UserError(f"--shared-index {url}: expected redis://HOST:PORT/NAME")
        self.url, self.settings = url, settings
        config = {"host": parts.hostname, "port": parts.port or 6379}
        self.redis = redis.Redis(**config)
        try:
            self.redis.ping()
        except redis.exceptions.ConnectionError as exc:
            raise UserError(f"--shared-index {url}: cannot reach Redis ({exc})") from None
        self.lsh = MinHashLSH(threshold=threshold, num_perm=settings["num_perm"],
                              params=(settings["bands"], settings["rows"]), prepickle=False,
                              storage_config={"type": "redis", "basename": name.encode(),
                                              "redis": config})
        self.signature_key = f"{name}_signatures".encode()
        self._check_settings(name)

    def _check_settings(self, name: str) -> None:
        """The first job to use a name records its settings; later jobs must match them."""
        mine = {**{k: self.settings[k] for k in MATCHING["minhash"]},
                "fingerprint": fingerprint("minhash", self.settings)}
        key = f"{name}_settings".encode()
        self.redis.set(key, json.dumps(mine, sort_keys=True), nx=True)
        theirs = json.loads(self.redis.get(key))
        for k in (*MATCHING["minhash"], "fingerprint"):
            if theirs.get(k) != mine[k]:
                raise UserError(f"--shared-index {self.url}: made with minhash_dedup {k} = "
                                f"{theirs.get(k)}, this run has {k} = {mine[k]}; the settings must match")

    def _lean(self, signature: np.ndarray):
        from datasketch import LeanMinHash
        return LeanMinHash(seed=self.settings["seed"], hashvalues=stored(signature).astype(np.uint32),
                           scheme=SCHEME)

    def insert(self, keys: list[str], signatures: np.ndarray) -> None:
        """Add documents (keys name them: `<output>#<id>`), a pipeline per few thousand."""
        for i in range(0, len(keys), PIPELINE_DOCS):
            chunk = keys[i:i + PIPELINE_DOCS]
            with self.lsh.insertion_session(buffer_size=PIPELINE_DOCS * (self.settings["bands"] + 1)) as session:
                for key, sig in zip(chunk, signatures[i:i + PIPELINE_DOCS]):
                    session.insert(key.encode(), self._lean(sig), check_duplication=False)
            self.redis.hset(self.signature_key, mapping={
                k.encode(): stored(s).tobytes()
                for k, s in zip(chunk, signatures[i:i + PIPELINE_DOCS])})

    def candidates(self, signatures: np.ndarray) -> list[set[bytes]]:
        """Keys sharing at least one LSH bucket with each signature: one pipelined read per
        band for a few thousand documents (datasketch's `query` makes one per band and
        document)."""
        found: list[set[bytes]] = [set() for _ in range(len(signatures))]
        for i in range(0, len(signatures), PIPELINE_DOCS):
            lean = [self._lean(s) for s in signatures[i:i + PIPELINE_DOCS]]
            for (start, end), table in zip(self.lsh.hashranges, self.lsh.hashtables):
                # lsh._H is how MinHashLSH itself turns a band into its bucket key
                members = table.getmany(*(self.lsh._H(m.hashvalues[start:end]) for m in lean))
                for j, keys in enumerate(members):
                    found[i + j].update(keys)
        return found

    def signatures(self, keys: list[bytes]) -> np.ndarray:
        values = self.redis.hmget(self.signature_key, keys) if keys else []
        return np.array([np.frombuffer(v, np.uint16) for v in values], np.uint16).reshape(
            len(keys), self.settings["num_perm"])

    def near_duplicates(self, signatures: np.ndarray, threshold: float) -> list[tuple[int, str, int]]:
        """(row, key of the most similar indexed document, agreeing bins) of each signature
        whose best verified match reaches the threshold."""
        found = []
        for row, keys in enumerate(self.candidates(signatures)):
            if not keys:
                continue
            keys = sorted(keys)
            theirs = self.signatures(keys)
            agree = (theirs == stored(signatures[row])).sum(axis=1)
            best = int(np.argmax(agree))  # ties: the smallest key
            if agree[best] >= threshold * signatures.shape[1]:
                found.append((row, keys[best].decode(), int(agree[best])))
        return found
