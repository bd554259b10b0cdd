"""The dedup index a clean output keeps (OUT/index/), so that a later batch is deduplicated
against it without reading its text again (`xiulian clean NEW -o OUT2 --against OUT`).

    index.json          settings of each part, probe fingerprints, counts (written last)
    docs.parquet        the id of every indexed (kept) document; document number = row
    signatures.npy      (documents, num_perm) uint16: low bits of the signatures part "minhash"
    bands/PPPP.*.npy    LSH bucket key -> document, sorted by key             part "minhash"
    exact/PPPP.*.npy    xxh3_128 of the normalised text -> document, sorted   part "exact"
    lines/PPPP.*.npy    line hash -> documents holding it, sorted             part "lines"
    grams.npy           5-gram hashes of the batch's repeated lines           part "lines"

Tables are partitioned by the top bits of their (well-mixed) 64-bit key and stored one column
per file, so a lookup memory-maps only the partitions its keys fall in and the OS reads only
the pages a binary search touches; on an object store a partition (at most a few million
entries) is read whole, and signature rows with ranged reads. Nothing here holds text: the
index of a million documents is a few hundred MB (docs/BENCHMARKS.md).

A part exists when the run had the step that makes it, and holds what that step computed
(signatures of the text as minhash_dedup saw it, before repeated_paragraphs cut lines). Each
part records its settings and a fingerprint of the code (the hashes of fixed probe texts), so
an index made with other settings or by other hashing code is refused, not silently misread.
This module reads an index and checks it; index_build.py writes one.

Signatures are stored as their low 16 bits (b-bit minwise hashing, Li and Koenig 2010): two
signatures agree in a bin with probability J + (1 - J) / 65536, so an estimated similarity
rises by at most 1/65536 of the disagreeing bins (0.00001 at the 0.6 threshold) while the
largest part of the index halves. Bucket keys are made from the full 32-bit values.
"""
from __future__ import annotations

import hashlib
import io
import os

import numpy as np
import pyarrow as pa

from .. import fs
from ..errors import UserError
from ..output_layout import INDEX_DIR, MANIFEST_FILE
from .hashing import line_key, text_key
from .lsh import band_keys
from .minhash import document_signatures
from .repeated import line_grams
from .scratch_files import load_array, load_json, partition_of
from .text import lines, normalize

INDEX_FILE = "index.json"
FORMAT = 1
MAX_BUCKET = 256                      # earlier documents taken from one LSH bucket per query
NO_SIGNATURE = np.uint32(0xFFFFFFFF)  # the row of a document without a single token
STORED_BITS = 16
PROBE_TEXTS = ["An index probe: the quick brown fox jumps over the lazy dog.\nSecond line here.",
               "修炼：数据清洗与去重的探针文本。\n第二行", "x"]
# Which step makes each part, and the settings that must match for a lookup to be valid.
PART_STEPS = {"exact": "exact_dedup", "minhash": "minhash_dedup", "lines": "repeated_paragraphs"}
MATCHING = {"exact": (), "minhash": ("ngram", "num_perm", "seed", "bands", "rows"),
            "lines": ("min_line_chars",)}


def index_folder(out: str) -> str:
    return fs.join(out, INDEX_DIR)


def stored(signatures: np.ndarray) -> np.ndarray:
    """The bits of each signature value the index keeps (see the module doc)."""
    return (np.asarray(signatures) & np.uint32((1 << STORED_BITS) - 1)).astype(np.uint16)


def has_stored_signature(rows: np.ndarray) -> np.ndarray:
    return (rows != stored(NO_SIGNATURE)).any(axis=1)


# Settings and fingerprints -----------------------------------------------------------------

def part_settings(corpus_steps) -> dict[str, dict]:
    """{part: settings} for the dedup steps of a pipeline (a part per step present)."""
    by_name = {s.name: s for s in corpus_steps}
    found = {}
    for part, step in PART_STEPS.items():
        if step in by_name:
            params = by_name[step].params() if hasattr(by_name[step], "params") else {}
            found[part] = {k: params[k] for k in MATCHING[part]}
    return found


def fingerprint(part: str, settings: dict) -> str:
    """Hashes of the probe texts as today's code makes them for this part: equal fingerprints
    mean an index's keys can be compared with this run's."""
    if part == "exact":
        data = b"".join(text_key(t) for t in PROBE_TEXTS)
    elif part == "minhash":
        sig = document_signatures(PROBE_TEXTS, settings["ngram"], settings["num_perm"], settings["seed"])
        data = sig.tobytes() + band_keys(sig, settings["bands"], settings["rows"], settings["seed"]).tobytes()
    else:
        norms = [normalize(x) for t in PROBE_TEXTS for x in lines(t)]
        data = np.array([line_key(n) for n in norms], np.uint64).tobytes() + line_grams(norms[0]).tobytes()
    return hashlib.sha256(data).hexdigest()[:16]


# Reading -----------------------------------------------------------------------------------

class Index:
    """An earlier output's index, opened for lookups (cheap: reads index.json only)."""

    def __init__(self, out: str):
        self.folder = index_folder(out)
        self.meta = load_json(fs.join(self.folder, INDEX_FILE))
        self._docs_file = None

    def _column(self, table: str, part: int, column: str) -> np.ndarray:
        return load_array(fs.join(self.folder, table, f"{part:04d}.{column}.npy"), mmap=True)

    def _find(self, table: str, keys: np.ndarray, columns: tuple[str, ...], cap: int | None = None
              ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Every (query position, row payload) where the table's key equals keys[position];
        at most `cap` rows per query."""
        n_parts = self.meta["tables"][table]
        positions, found = [], [[] for _ in columns]
        part_of = partition_of(keys, n_parts)
        for part in np.unique(part_of).tolist():
            where = np.nonzero(part_of == part)[0]
            where = where[np.argsort(keys[where], kind="stable")]  # sorted queries: local reads
            table_keys = self._column(table, part, "key")
            lo = np.searchsorted(table_keys, keys[where], "left")
            n = np.searchsorted(table_keys, keys[where], "right") - lo
            if cap is not None:
                n = np.minimum(n, cap)
            if not n.any():
                continue
            rows = np.repeat(lo - np.cumsum(n) + n, n) + np.arange(int(n.sum()))
            positions.append(np.repeat(where, n))
            for i, column in enumerate(columns):
                found[i].append(np.asarray(self._column(table, part, column)[rows]))
        if not positions:
            return np.zeros(0, np.int64), [np.zeros(0, np.uint64) for _ in columns]
        return np.concatenate(positions), [np.concatenate(f) for f in found]

    def exact_matches(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query position, document) for each 16-byte key (rows hi, lo) found in the index."""
        at, (lo, doc) = self._find("exact", keys[:, 0], ("lo", "doc"))
        same = lo == keys[at, 1]
        return at[same], doc[same].astype(np.int64)

    def bucket_members(self, band_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query position, document) for each document sharing an LSH bucket key."""
        at, (doc,) = self._find("bands", band_keys, ("doc",), cap=MAX_BUCKET)
        return at, doc.astype(np.int64)

    def line_counts(self, hashes: np.ndarray) -> np.ndarray:
        """How many of the indexed documents held each line hash (0 for unseen lines)."""
        counts = np.zeros(len(hashes), np.uint64)
        at, (count,) = self._find("lines", hashes, ("count",))
        counts[at] = count
        return counts

    def grams(self) -> np.ndarray:
        return load_array(fs.join(self.folder, "grams.npy"))

    def signatures(self, docs: np.ndarray) -> np.ndarray:
        """Stored (16-bit) signature rows of documents by number."""
        return read_rows(fs.join(self.folder, "signatures.npy"), docs)

    def agreement(self, signatures: np.ndarray, docs: np.ndarray) -> np.ndarray:
        """Bins where each (full) signature agrees with the stored one of docs[i]."""
        return (stored(signatures) == self.signatures(docs)).sum(axis=1)

    def ids(self, docs: np.ndarray) -> list[str]:
        """Ids of documents by number, reading only the row groups that hold them."""
        if self._docs_file is None:
            self._docs_file = fs.parquet_file(fs.join(self.folder, "docs.parquet"))
        meta = self._docs_file.metadata
        starts = np.cumsum([0] + [meta.row_group(g).num_rows for g in range(meta.num_row_groups)])
        group = np.searchsorted(starts, docs, side="right") - 1
        out = [""] * len(docs)
        for g in np.unique(group).tolist():
            where = np.nonzero(group == g)[0]
            ids = self._docs_file.read_row_group(g, columns=["id"])["id"]
            for i, doc_id in zip(where, ids.take(pa.array(docs[where] - starts[g])).to_pylist()):
                out[i] = doc_id
        return out


def read_rows(path: str, rows: np.ndarray) -> np.ndarray:
    """Rows of a 2-D .npy file: memory-mapped here, ranged reads (nearby rows coalesced) from
    an object store, so a few thousand rows never cost the whole file."""
    if fs.local_path(path) is not None:
        return np.asarray(load_array(path, mmap=True)[rows])
    fs_, inner = fs.resolve(path)
    with fs_.open_input_file(inner) as f:
        reader = io.BytesIO(f.read_at(4096, 0))
        version = np.lib.format.read_magic(reader)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read_header(reader)
        start, width = reader.tell(), shape[1] * dtype.itemsize
        order = np.argsort(rows, kind="stable")
        out = np.empty((len(rows), shape[1]), dtype)
        i = 0
        while i < len(order):
            j = i + 1
            while j < len(order) and rows[order[j]] - rows[order[j - 1]] <= 16:
                j += 1
            first, last = int(rows[order[i]]), int(rows[order[j - 1]])
            block = np.frombuffer(f.read_at((last - first + 1) * width, start + first * width),
                                  dtype).reshape(-1, shape[1])
            out[order[i:j]] = block[rows[order[i:j]] - first]
            i = j
    return out


def open_earlier(path: str, out: str, settings: dict[str, dict]) -> tuple[str, dict]:
    """Check that `path` is a clean output whose index this run can use -> (label, identity).

    The label names it in the ledger; the identity (its index.json digest) goes into the run's
    fingerprint, so a resume never mixes lookups in two different earlier indexes."""
    label = path if fs.is_uri(path) else os.path.abspath(path)
    if label.rstrip("/") == (out if fs.is_uri(out) else os.path.abspath(out)).rstrip("/"):
        raise UserError(f"--against {path}: that is this run's own output")
    if not fs.is_dir(path) or not fs.exists(fs.join(path, MANIFEST_FILE)):
        raise UserError(f"--against {path}: not a clean output (no {MANIFEST_FILE}); "
                        "name the -o folder of an earlier `xiulian clean`")
    index_file = fs.join(index_folder(path), INDEX_FILE)
    if not fs.exists(index_file):
        raise UserError(f"--against {path}: it has no dedup index (cleaned before xiulian kept "
                        f"one, or without dedup steps); build it with `xiulian index {path}`")
    meta = load_json(index_file)
    if meta.get("format") != FORMAT:
        raise UserError(f"--against {path}: index format {meta.get('format')} (this xiulian "
                        f"reads {FORMAT}); rebuild it with `xiulian index {path}`")
    for part, wanted in settings.items():
        theirs = meta["parts"].get(part)
        if theirs is None:
            raise UserError(f"--against {path}: its index has no {part} part (its run had no "
                            f"{PART_STEPS[part]} step); rebuild it with `xiulian index {path}`")
        for key in MATCHING[part]:
            if theirs["settings"].get(key) != wanted[key]:
                raise UserError(
                    f"--against {path}: cleaned with {PART_STEPS[part]} {key} = "
                    f"{theirs['settings'].get(key)}, this run has {key} = {wanted[key]}; the "
                    f"settings must match (or rebuild its index: xiulian index {path} --config FILE)")
        if theirs["fingerprint"] != fingerprint(part, wanted):
            raise UserError(f"--against {path}: its {part} hashes were made by another xiulian "
                            f"version; rebuild its index with `xiulian index {path}`")
    digest = hashlib.sha256(fs.read_bytes(index_file)).hexdigest()[:16]
    return label, {"output": label, "index": digest}
