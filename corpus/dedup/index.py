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
import pyarrow.parquet as pq

from .. import fs
from ..errors import UserError
from ..output_layout import INDEX_DIR, MANIFEST_FILE
from .hashing import line_key, text_key
from .lsh import band_keys
from .minhash import document_signatures
from .repeated import line_grams
from .signatures import has_signature
from .stages import (load_array, load_json, partition_of, partitions_for, save_array, save_json,
                     save_table)
from .text import lines, normalize

INDEX_FILE = "index.json"
FORMAT = 1
DOCS_PER_ROW_GROUP = 65_536
ENTRIES_PER_PARTITION = 4_000_000     # 12-16 byte entries: ~64 MB per partition file
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


# Writing -----------------------------------------------------------------------------------
#
# Builders hand in, per task, the ids of the documents to index with their exact keys,
# signatures and line hashes (`save_task`); `assemble` then numbers the documents in task
# order and writes the tables partition by partition, each partition sorted in one process.

def _piece(work: str, kind: str, task: int) -> str:
    return fs.join(work, "build", kind, f"{task:05d}.npy")


def save_task(work: str, task: int, ids: list[str], exact: np.ndarray | None,
              signatures: np.ndarray | None, line_hashes: np.ndarray | None) -> int:
    """One task's share of the index, in its build folder; returns its document count."""
    save_table(fs.join(work, "build", "docs", f"{task:05d}.parquet"),
               pa.table({"id": pa.array(ids, pa.string())}))
    for kind, array in (("exact", exact), ("sig", signatures), ("lines", line_hashes)):
        if array is not None:
            save_array(_piece(work, kind, task), array)
    return len(ids)


def assemble(work: str, counts: list[int], settings: dict[str, dict], executor,
             grams: np.ndarray | None = None) -> dict:
    """Number the documents, write every table and index.json; returns index.json's content.
    `grams`: the 5-gram hashes of the batch's repeated lines (part "lines")."""
    offsets = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    total = int(offsets[-1])
    _concat_docs(work, len(counts))
    tables = {}
    if "exact" in settings:
        tables["exact"] = partitions_for(total, ENTRIES_PER_PARTITION)
    if "minhash" in settings:
        _concat_signatures(work, len(counts), settings["minhash"]["num_perm"])
        tables["bands"] = partitions_for(total * settings["minhash"]["bands"], ENTRIES_PER_PARTITION)
    if "lines" in settings:
        entries = sum(len(load_array(_piece(work, "lines", t), mmap=True)) for t in range(len(counts)))
        tables["lines"] = partitions_for(entries, ENTRIES_PER_PARTITION)
    executor.map(_scatter_task, [(work, t, int(offsets[t]), tables, settings) for t in range(len(counts))])
    executor.map(_gather_task, [(work, table, q, len(counts)) for table, n in tables.items()
                                for q in range(n)])
    if "lines" in settings:
        save_array(fs.join(work, "grams.npy"), grams if grams is not None else np.zeros(0, np.uint64))
    fs.delete_dir(fs.join(work, "build"))
    meta = {"format": FORMAT, "documents": total, "tables": tables, "signature_bits": STORED_BITS,
            "parts": {part: {"settings": {k: s[k] for k in MATCHING[part]},
                             "fingerprint": fingerprint(part, s)}
                      for part, s in settings.items()}}
    save_json(fs.join(work, INDEX_FILE), meta)
    return meta


def _concat_docs(work: str, n_tasks: int) -> None:
    with fs.AtomicFile(fs.join(work, "docs.parquet")) as f:
        writer = pq.ParquetWriter(f, pa.schema([("id", pa.string())]), compression="zstd")
        pending: list[pa.Table] = []
        rows = 0
        for t in range(n_tasks):
            pending.append(fs.read_parquet(fs.join(work, "build", "docs", f"{t:05d}.parquet")))
            rows += pending[-1].num_rows
            if rows >= DOCS_PER_ROW_GROUP or t == n_tasks - 1:
                writer.write_table(pa.concat_tables(pending), row_group_size=DOCS_PER_ROW_GROUP)
                pending, rows = [], 0
        writer.close()


def _concat_signatures(work: str, n_tasks: int, num_perm: int) -> None:
    """One (documents, num_perm) file, streamed task by task (never all in memory)."""
    parts = [load_array(_piece(work, "sig", t), mmap=True) for t in range(n_tasks)]
    rows = sum(len(p) for p in parts)
    with fs.AtomicFile(fs.join(work, "signatures.npy")) as f:
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint16)),
                  "fortran_order": False, "shape": (rows, num_perm)}
        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(buffer, header)
        f.write(buffer.getvalue())
        for p in parts:
            for i in range(0, len(p), 65_536):
                f.write(stored(p[i:i + 65_536]).tobytes())


def _entries(work: str, task: int, offset: int, table: str, settings: dict) -> tuple[np.ndarray, dict]:
    """(keys, payload columns) of one task's entries in a table."""
    if table == "exact":
        keys = load_array(_piece(work, "exact", task))
        docs = np.arange(offset, offset + len(keys), dtype=np.uint32)
        return keys[:, 0], {"lo": keys[:, 1], "doc": docs}
    if table == "bands":
        sig = load_array(_piece(work, "sig", task))
        docs = np.nonzero(has_signature(sig))[0]
        s = settings["minhash"]
        keys = band_keys(sig[docs], s["bands"], s["rows"], s["seed"])
        return keys.ravel(), {"doc": np.repeat((docs + offset).astype(np.uint32), s["bands"])}
    hashes = load_array(_piece(work, "lines", task))
    return hashes, {}


def _scatter_task(args) -> None:
    work, task, offset, tables, settings = args
    for table, n_parts in tables.items():
        keys, payload = _entries(work, task, offset, table, settings)
        part = partition_of(keys, n_parts)
        for q in range(n_parts):
            mine = part == q
            save_array(fs.join(work, "build", table, f"{task:05d}-{q:04d}.key.npy"), keys[mine])
            for column, values in payload.items():
                save_array(fs.join(work, "build", table, f"{task:05d}-{q:04d}.{column}.npy"), values[mine])


def _gather_task(args) -> None:
    """One partition of one table: its entries from every task, sorted (and counted, for lines)."""
    work, table, q, n_tasks = args
    columns = {"exact": ("lo", "doc"), "bands": ("doc",), "lines": ()}[table]

    def load(column):
        parts = [load_array(fs.join(work, "build", table, f"{t:05d}-{q:04d}.{column}.npy"))
                 for t in range(n_tasks)]
        return np.concatenate(parts) if parts else np.zeros(0, np.uint64)

    keys = load("key")
    payload = {c: load(c) for c in columns}
    if table == "lines":
        keys, counts = np.unique(keys, return_counts=True)
        payload = {"count": counts.astype(np.uint32)}
    else:
        order = np.lexsort((payload["doc"], *(payload[c] for c in columns if c != "doc"), keys))
        keys = keys[order]
        payload = {c: v[order] for c, v in payload.items()}
        if table == "exact":  # one document per text: the first (an index built from shards
            new = np.ones(len(keys), bool)  # that were never exact-deduplicated may repeat)
            new[1:] = (keys[1:] != keys[:-1]) | (payload["lo"][1:] != payload["lo"][:-1])
            keys, payload = keys[new], {c: v[new] for c, v in payload.items()}
    save_array(fs.join(work, table, f"{q:04d}.key.npy"), keys)
    for column, values in payload.items():
        save_array(fs.join(work, table, f"{q:04d}.{column}.npy"), values)
