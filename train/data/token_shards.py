"""Shards -> token shards -> packed training sequences, in a deterministic, resumable order.

`prepare` tokenises each input file once into `DIR/NNNNN.tokens.npy` (uint16, or uint32 for
vocabularies over 65,536) with a per-document table `DIR/NNNNN.docs.npz`; each pair is written
under a temporary name and renamed, so a killed run redoes only the file it was on. The Rust
tokenizer encodes a batch on every core, so files are tokenised one after another.

A validation split is held apart by the hash of each document's id, and then made leak-proof
with the decontamination index: a training document that shares a 13-gram (15 characters for
Chinese) with a validation document is dropped, so near-duplicates that dedup let through cannot
inflate validation scores.

`TokenStream` packs training documents into sequences of `seq_len + 1` tokens with an
end-of-text token after each document. Each epoch visits every document `weight` times on
average (a weight of 2.5 means twice, plus once more with probability 0.5) in an order drawn from
`seed + epoch`; its position (epoch, document, token) is all a checkpoint needs to resume.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from train.model.tokenizer import Tokenizer

from .shards import Doc, find_files, read_docs, unit_hash

FORMAT_VERSION = 1


@dataclass
class DataConfig:
    """`[data]` in a training config."""
    val_fraction: float = 0.01          # share of documents held out for validation
    max_val_docs: int = 2000            # ... at most this many
    source_weights: dict[str, float] = field(default_factory=dict)  # source -> weight
    tier_weights: dict[str, float] = field(default_factory=dict)    # tier -> weight (overrides the shard's)
    split_seed: int = 0                 # which documents are validation: change to re-draw

    def weight_of(self, doc: Doc) -> float:
        tier = self.tier_weights.get(doc.tier, doc.tier_weight) if doc.tier else doc.tier_weight
        return max(0.0, float(tier) * float(self.source_weights.get(doc.source, 1.0)))


# ------------------------------------------------------------------------------ preparation

@dataclass
class Prepared:
    """Token shards on disk and the document tables that index them."""
    directory: Path
    shards: list[np.ndarray]        # memory-mapped token arrays
    doc_shard: np.ndarray           # per document: shard number
    doc_start: np.ndarray           # ... offset in its shard
    doc_length: np.ndarray          # ... tokens
    doc_weight: np.ndarray          # ... sampling weight
    doc_split: np.ndarray           # ... 0 train, 1 validation, 2 dropped as overlapping validation
    report: dict

    def tokens_of(self, doc: int) -> np.ndarray:
        start = self.doc_start[doc]
        return self.shards[self.doc_shard[doc]][start:start + self.doc_length[doc]]

    def split(self, which: int) -> np.ndarray:
        return np.flatnonzero(self.doc_split == which)


TRAIN, VALIDATION, LEAKED = 0, 1, 2


def prepare(paths: list[str], tokenizer: Tokenizer, directory: str | os.PathLike,
            config: DataConfig, progress: bool = True) -> Prepared:
    """Tokenise `paths` into `directory` (resuming), hold out validation, return the tables."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = find_files(paths)
    key = _fingerprint(files, tokenizer, config)
    manifest_path = directory / "data.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("fingerprint") == key:
            return _load(directory, manifest)
    for stale in directory.glob("*.np[yz]"):
        stale.unlink()  # different inputs, tokenizer or split: nothing here can be reused
    validation_ids = _choose_validation(files, config)
    index = _validation_index(files, validation_ids, directory)
    dtype = np.uint16 if tokenizer.vocab_size <= 65536 else np.uint32
    report = {"files": len(files), "documents": 0, "tokens": 0, "validation_documents": 0,
              "dropped_overlapping_validation": 0, "dropped_empty": 0}
    bar = _bar(len(files), progress)
    for number, path in enumerate(files):
        counts = _tokenize_file(path, directory / f"{number:05d}", tokenizer, dtype, config,
                                validation_ids, index)
        for name, value in counts.items():
            report[name] += value
        bar.update(1)
    bar.close()
    manifest = {"version": FORMAT_VERSION, "fingerprint": key, "files": files,
                "dtype": np.dtype(dtype).name, "report": report}
    _atomic_write(manifest_path, json.dumps(manifest, indent=2) + "\n")
    return _load(directory, manifest)


def _fingerprint(files: list[str], tokenizer: Tokenizer, config: DataConfig) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([FORMAT_VERSION, config.__dict__], sort_keys=True).encode())
    h.update(tokenizer.file.read_bytes())
    for f in files:
        stat = os.stat(f)
        h.update(f"{os.path.abspath(f)}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return h.hexdigest()


def _choose_validation(files: list[str], config: DataConfig) -> set[str]:
    """Ids of the documents with the lowest id-hashes below `val_fraction`, at most `max_val_docs`."""
    if config.val_fraction <= 0:
        return set()
    chosen: list[tuple[float, str]] = []
    for path in files:
        for batch in read_docs(path):
            for doc in batch:
                h = unit_hash(doc.id, config.split_seed)
                if h < config.val_fraction and doc.text.strip():
                    chosen.append((h, doc.id))
    chosen.sort()
    return {doc_id for _, doc_id in chosen[:config.max_val_docs]}


def _validation_index(files: list[str], validation_ids: set[str], directory: Path):
    """The decontamination n-gram index of the validation texts (None without a validation split)."""
    if not validation_ids:
        return None
    from corpus.decontam.index import NgramIndex
    path = directory / "validation.jsonl"
    with open(path, "w", encoding="utf-8") as out:
        for file in files:
            for batch in read_docs(file):
                for doc in batch:
                    if doc.id in validation_ids:
                        out.write(json.dumps({"id": doc.id, "text": doc.text}, ensure_ascii=False) + "\n")
    index = NgramIndex()
    index.add_file(str(path), fields=["text"], label="validation")
    index.freeze()
    return index


def _tokenize_file(path: str, stem: Path, tokenizer: Tokenizer, dtype, config: DataConfig,
                   validation_ids: set[str], index) -> dict:
    tokens_path, docs_path = Path(f"{stem}.tokens.npy"), Path(f"{stem}.docs.npz")
    if tokens_path.is_file() and docs_path.is_file():
        with np.load(docs_path) as table:
            return {k: int(v) for k, v in json.loads(str(table["counts"])).items()}
    from corpus.decontam.normalize import tokenize as decontam_tokens
    pieces, lengths, weights, splits = [], [], [], []
    counts = {"documents": 0, "tokens": 0, "validation_documents": 0,
              "dropped_overlapping_validation": 0, "dropped_empty": 0}
    for batch in read_docs(path):
        kept = [d for d in batch if d.text.strip()]
        counts["dropped_empty"] += len(batch) - len(kept)
        for doc, ids in zip(kept, tokenizer.encode_batch([d.text for d in kept])):
            split = VALIDATION if doc.id in validation_ids else TRAIN
            if split == TRAIN and index is not None and index.scan(decontam_tokens(doc.text)):
                split = LEAKED
            counts["documents"] += 1
            counts["validation_documents"] += split == VALIDATION
            counts["dropped_overlapping_validation"] += split == LEAKED
            if split != LEAKED:
                counts["tokens"] += len(ids)
            pieces.append(np.asarray(ids, dtype=dtype))
            lengths.append(len(ids))
            weights.append(config.weight_of(doc))
            splits.append(split)
    tokens = np.concatenate(pieces) if pieces else np.empty(0, dtype)
    lengths_array = np.asarray(lengths, np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths_array)[:-1]]) if lengths else np.empty(0, np.int64)
    _atomic_save(tokens_path, lambda f: np.save(f, tokens))
    _atomic_save(docs_path, lambda f: np.savez(
        f, start=starts.astype(np.int64), length=lengths_array,
        weight=np.asarray(weights, np.float64), split=np.asarray(splits, np.int8),
        counts=np.array(json.dumps(counts))))
    return counts


def _load(directory: Path, manifest: dict) -> Prepared:
    shards, doc_shard, starts, lengths, weights, splits = [], [], [], [], [], []
    for number in range(len(manifest["files"])):
        shards.append(np.load(directory / f"{number:05d}.tokens.npy", mmap_mode="r"))
        with np.load(directory / f"{number:05d}.docs.npz") as table:
            n = len(table["length"])
            doc_shard.append(np.full(n, number, np.int32))
            starts.append(table["start"])
            lengths.append(table["length"])
            weights.append(table["weight"])
            splits.append(table["split"])
    cat = (lambda parts, dtype: np.concatenate(parts) if parts else np.empty(0, dtype))
    return Prepared(directory, shards, cat(doc_shard, np.int32), cat(starts, np.int64),
                    cat(lengths, np.int64), cat(weights, np.float64), cat(splits, np.int8),
                    manifest["report"])


def _atomic_save(path: Path, write) -> None:
    temp = path.with_name(path.name + ".tmp")
    with open(temp, "wb") as f:
        write(f)
    os.replace(temp, path)


def _atomic_write(path: Path, text: str) -> None:
    _atomic_save(path, lambda f: f.write(text.encode()))


def _bar(total: int, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=total, desc="tokenize", unit="file", disable=not enabled or total < 2)


# ------------------------------------------------------------------------------ packing

class TokenStream:
    """Endless packed training sequences over the weighted, shuffled training documents."""

    def __init__(self, data: Prepared, seq_len: int, eos_id: int, seed: int):
        self.data, self.seq_len, self.eos_id, self.seed = data, seq_len, eos_id, seed
        self.train_docs = data.split(TRAIN)
        self.train_docs = self.train_docs[data.doc_weight[self.train_docs] > 0]
        if not len(self.train_docs) or not data.doc_length[self.train_docs].sum():
            from corpus.errors import UserError
            raise UserError("no training documents left (all empty, zero-weight or validation)")
        self.epoch, self.cursor, self.offset = 0, 0, 0
        self._order = self._epoch_order(0)

    def _epoch_order(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, epoch])
        weights = self.data.doc_weight[self.train_docs]
        whole = np.floor(weights).astype(np.int64)
        repeats = whole + (rng.random(len(weights)) < weights - whole)
        order = np.repeat(self.train_docs, repeats)
        return order[rng.permutation(len(order))]

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "cursor": self.cursor, "offset": self.offset}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.cursor, self.offset = state["epoch"], state["cursor"], state["offset"]
        self._order = self._epoch_order(self.epoch)

    def next_sequences(self, n: int) -> np.ndarray:
        """(n, seq_len + 1) int64 tokens: inputs are [:, :-1], targets [:, 1:]."""
        need = n * self.seq_len + 1
        out = np.empty(need, np.int64)
        filled = 0
        while filled < need:
            if self.cursor >= len(self._order):
                self.epoch, self.cursor, self.offset = self.epoch + 1, 0, 0
                self._order = self._epoch_order(self.epoch)
                continue
            doc = self._order[self.cursor]
            tokens = self.data.tokens_of(doc)
            if self.offset < len(tokens):
                take = min(len(tokens) - self.offset, need - filled)
                out[filled:filled + take] = tokens[self.offset:self.offset + take]
                filled += take
                self.offset += take
            else:  # the document is spent: its end-of-text token, then the next document
                out[filled] = self.eos_id
                filled += 1
                self.cursor, self.offset = self.cursor + 1, 0
        # Sequences overlap by one token (the last target is the next input), as in nanoGPT;
        # step back one so the next call starts where this one's last target was.
        self._step_back()
        windows = np.lib.stride_tricks.sliding_window_view(out, self.seq_len + 1)[::self.seq_len]
        return np.ascontiguousarray(windows[:n])

    def _step_back(self) -> None:
        if self.offset > 0:
            self.offset -= 1
        else:  # the last token taken was an end-of-text: take it again next time
            self.cursor -= 1
            self.offset = len(self.data.tokens_of(self._order[self.cursor]))


def validation_sequences(data: Prepared, seq_len: int, eos_id: int, max_sequences: int) -> np.ndarray:
    """Fixed (m, seq_len + 1) windows over the validation documents, in file order."""
    docs = data.split(VALIDATION)
    if not len(docs):
        return np.empty((0, seq_len + 1), np.int64)
    parts = []
    total = 0
    for doc in docs:
        parts.extend([data.tokens_of(doc), np.array([eos_id])])
        total += data.doc_length[doc] + 1
        if total > max_sequences * seq_len + 1:
            break
    flat = np.concatenate(parts).astype(np.int64)
    count = min(max_sequences, (len(flat) - 1) // seq_len)
    if count == 0:
        return np.empty((0, seq_len + 1), np.int64)
    return np.stack([flat[i * seq_len:i * seq_len + seq_len + 1] for i in range(count)])
