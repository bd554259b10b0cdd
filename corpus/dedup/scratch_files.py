"""The files of resumable phases inside a corpus step's scratch folder: arrays, tables, partitions.

A corpus step is marked done only when it returns, so a long dedup splits its work into
phases whose outputs are files written atomically (temp name, then rename). A file that
exists is complete; a re-run after a crash redoes only what is missing, and because every
phase is a pure function of its inputs, it rewrites the same bytes.
"""
from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import fs
from ..corpus_steps import iter_kept

BATCH_DOCS = 512  # documents per vectorised batch: big enough for numpy, small for memory


def _atomic_file(path: str) -> fs.AtomicFile:
    fs.make_dirs(fs.parent(path))
    return fs.AtomicFile(path)


def save_array(path: str, array: np.ndarray) -> None:
    with _atomic_file(path) as f:
        np.save(f, array, allow_pickle=False)


def load_array(path: str, mmap: bool = False) -> np.ndarray:
    """An array saved by `save_array`. `mmap` maps a file on this machine's disk; one in an
    object store is read into memory whole."""
    local = fs.local_path(path)
    if local is not None:
        return np.load(local, mmap_mode="r" if mmap else None, allow_pickle=False)
    return np.load(io.BytesIO(fs.read_bytes(path)), allow_pickle=False)


def load_rows(path: str, rows: np.ndarray) -> np.ndarray:
    """Rows of a 2-D array saved by `save_array`, by row number, holding nothing else: read one
    by one (pread) from this machine's disk; a file in an object store is read whole, indexed
    and let go. (Rows taken from a memory map instead stay mapped, and the kernel maps the
    pages around each one too: random rows soon map -- and count in RSS -- the whole file.)"""
    local = fs.local_path(path)
    if local is None:
        return load_array(path)[rows]
    with open(local, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read_header(f)
        if len(shape) != 2 or fortran:
            raise ValueError(f"{path}: not a C-ordered 2-D array")
        width, start = shape[1] * dtype.itemsize, f.tell()
        data = b"".join([os.pread(f.fileno(), width, start + r * width) for r in rows.tolist()])
    if len(data) != len(rows) * width:
        raise ValueError(f"{path}: rows beyond its {shape[0]}")
    return np.frombuffer(data, dtype).reshape(len(rows), shape[1])


def array_files(folder: str, suffix: str = ".npy") -> list[str]:
    """The arrays (or other files ending in `suffix`) a phase saved in `folder`, in name
    order."""
    return [fs.join(folder, n) for n in fs.list_names(folder)
            if n.endswith(suffix) and not n.startswith(".")]


def save_table(path: str, table: pa.Table) -> None:
    with _atomic_file(path) as f:
        pq.write_table(table, f, compression="zstd")


@contextmanager
def parquet_writer(path: str, schema: pa.Schema) -> Iterator[pq.ParquetWriter]:
    """A Parquet file written a table at a time, that appears whole or not at all."""
    with _atomic_file(path) as f, pq.ParquetWriter(f, schema, compression="zstd") as writer:
        yield writer


@contextmanager
def save_arrow(path: str, schema: pa.Schema) -> Iterator[pa.ipc.RecordBatchFileWriter]:
    """An uncompressed Arrow file, written a batch at a time, that appears whole or not at all:
    `arrow_reader` maps it, and a lookup reads only the rows it takes."""
    with _atomic_file(path) as f, pa.ipc.new_file(f, schema) as writer:
        yield writer


def arrow_reader(path: str) -> pa.ipc.RecordBatchFileReader:
    """A file saved by `save_arrow`: memory-mapped from this machine's disk, or read by ranges
    from an object store (a batch at a time)."""
    local = fs.local_path(path)
    if local is not None:
        return pa.ipc.open_file(pa.memory_map(local))
    filesystem, inner = fs.resolve(path)
    return pa.ipc.open_file(filesystem.open_input_file(inner))


def save_json(path: str, data) -> None:
    with _atomic_file(path) as f:
        f.write(json.dumps(data, sort_keys=True).encode("utf-8"))


def load_json(path: str):
    return json.loads(fs.read_bytes(path))


def batches(out: str, task: int, step_dirs: list[str], columns: list[str], size: int = BATCH_DOCS
            ) -> Iterator[tuple[list[int], list[dict]]]:
    """A task's kept rows as (row numbers, records) in batches of `size`."""
    rows, records = [], []
    for row, record in iter_kept(out, task, step_dirs, columns):
        rows.append(row)
        records.append(record)
        if len(rows) == size:
            yield rows, records
            rows, records = [], []
    if rows:
        yield rows, records


def partitions_for(entries: int, per_partition: int) -> int:
    """A power of two number of partitions so one holds at most ~`per_partition` entries."""
    n = 1
    while entries > n * per_partition:
        n *= 2
    return n


def partition_of(keys: np.ndarray, n_partitions: int) -> np.ndarray:
    """Partition by the top bits of a well-mixed 64-bit key."""
    if n_partitions == 1:
        return np.zeros(len(keys), dtype=np.int64)
    bits = n_partitions.bit_length() - 1
    return (keys >> np.uint64(64 - bits)).astype(np.int64)


def task_offsets(counts: list[int]) -> np.ndarray:
    """Global document numbers: task t's documents are offsets[t] .. offsets[t+1]-1."""
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets

