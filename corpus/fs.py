"""File operations for local paths and URIs alike: one call, whichever filesystem.

Plain paths go straight to os/open, exactly as fast as before URIs existed; URIs (see uris.py)
go through pyarrow.fs, so workers on other machines read and write the same output.
Credentials come from where pyarrow's clients look for them (AWS_* variables and ~/.aws for
S3, Application Default Credentials for GCS; docs/SCALING.md). The path helpers of uris.py
are re-exported, so callers need only `from corpus import fs`.
"""
from __future__ import annotations

import fnmatch
import glob as local_glob
import io
import os
import posixpath
import random
import shutil
import time

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .errors import UserError
from .uris import (common_parent, is_uri, join, local_path, name, parent,  # noqa: F401
                   relative, renames, resolve, split_uri, with_suffix)

READ_BUFFER = 1 << 20  # one ranged GET per MiB on an object store


# Questions --------------------------------------------------------------------------------

def _info(path: str) -> pafs.FileInfo:
    fs, inner = resolve(path)
    return fs.get_file_info(inner)


def exists(path: str) -> bool:
    if not is_uri(path):
        return os.path.exists(path)
    return _info(path).type != pafs.FileType.NotFound


def is_dir(path: str) -> bool:
    if not is_uri(path):
        return os.path.isdir(path)
    return _info(path).type == pafs.FileType.Directory


def is_file(path: str) -> bool:
    if not is_uri(path):
        return os.path.isfile(path)
    return _info(path).type == pafs.FileType.File


def size(path: str) -> int:
    if not is_uri(path):
        return os.path.getsize(path)
    return _info(path).size


def list_names(folder: str) -> list[str]:
    """Names of the entries in a folder, sorted; [] when it does not exist."""
    if not is_uri(folder):
        return sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    fs, inner = resolve(folder)
    found = fs.get_file_info(pafs.FileSelector(inner, allow_not_found=True))
    return sorted(posixpath.basename(i.path.rstrip("/")) for i in found)


def _discovery_order(rel: str) -> list[tuple[int, str]]:
    """Sort key giving os.walk's order with sorted names: a folder's files, then its subfolders."""
    *folders, file = rel.split("/")
    return [(1, d) for d in folders] + [(0, file)]


def walk(folder: str) -> list[tuple[str, int]]:
    """(path, size) of every file under a folder URI, skipping hidden files and folders, in
    the order inputs.py walks a local folder."""
    fs, inner = resolve(folder)
    found = []
    for entry in fs.get_file_info(pafs.FileSelector(inner, recursive=True)):
        rel = posixpath.relpath(entry.path, inner)
        if entry.type == pafs.FileType.File and not any(p.startswith(".") for p in rel.split("/")):
            found.append((rel, entry.size))
    found.sort(key=lambda item: _discovery_order(item[0]))
    return [(join(folder, *rel.split("/")), n) for rel, n in found]


def has_magic(path: str) -> bool:
    return local_glob.has_magic(path.partition("?")[0] if is_uri(path) else path)


def glob(pattern: str) -> list[tuple[str, int]]:
    """(path, size) of the files a glob URI matches, sorted, with glob.glob's rules: `**`
    spans folders, wildcards do not match hidden names."""
    root, inner, query = split_uri(pattern)
    parts = inner.strip("/").split("/")
    fixed = next((i for i, p in enumerate(parts) if local_glob.has_magic(p)), None)
    if fixed is None:
        raise UserError(f"{pattern}: wildcards only work in the path, not in a bucket or host name")
    base = root + "/" + "/".join(parts[:fixed]) + query
    wanted = parts[fixed:]
    try:
        candidates = walk(base) if is_dir(base) else []
    except FileNotFoundError:
        candidates = []
    matches = [(p, n) for p, n in candidates
               if _match(relative(p, base).split("/"), wanted)]
    return sorted(matches)


def _match(names: list[str], pattern: list[str]) -> bool:
    if not pattern:
        return not names
    if pattern[0] == "**":
        return any(_match(names[i:], pattern[1:]) for i in range(len(names) + 1))
    return bool(names) and fnmatch.fnmatchcase(names[0], pattern[0]) and _match(names[1:], pattern[1:])


# Reading ----------------------------------------------------------------------------------

# The AWS SDK retries every request itself (uris.S3_MAX_ATTEMPTS), except one case: a ranged
# GET whose error answer (a 503 SlowDown's XML, a few hundred bytes) is longer than the bytes
# asked for overflows the caller's buffer and fails as INTERNAL_FAILURE "Failed to flush
# response stream", never retried. Small objects (counts.json, done.json) and the last bytes of
# any file hit it. So reads from a URI are retried here as well, reopening the object.
READ_ATTEMPTS = 5
READ_BACKOFF = 0.5  # seconds before the first retry, doubling, with jitter
TRANSIENT = ("Failed to flush response stream", "NETWORK_CONNECTION", "SLOW_DOWN",
             "SERVICE_UNAVAILABLE", "INTERNAL_FAILURE", "REQUEST_TIMEOUT", "THROTTLING",
             "HTTP status 5")


def _transient(exc: OSError) -> bool:
    return not isinstance(exc, FileNotFoundError) and any(t in str(exc) for t in TRANSIENT)


def _retrying(what: str, read, *args, **kwargs):
    """`read(*args, **kwargs)`, again after a transient object-store error, with backoff; the
    error that persists names `what` (the SDK's own message often names no object)."""
    for attempt in range(READ_ATTEMPTS):
        try:
            return read(*args, **kwargs)
        except OSError as exc:
            if not _transient(exc):
                raise
            if attempt == READ_ATTEMPTS - 1:
                raise OSError(f"reading {what}: {exc} ({READ_ATTEMPTS} attempts)") from exc
            time.sleep(READ_BACKOFF * 2 ** attempt * random.uniform(0.5, 1.0))


class _RemoteFile(io.RawIOBase):
    """An object as a seekable Python file whose reads survive transient errors (each read is
    one ranged GET, retried on a fresh handle); it knows its position (FastWARC asks)."""

    def __init__(self, filesystem: pafs.FileSystem, inner: str):
        self._fs, self._inner = filesystem, inner
        self._file = _retrying(inner, filesystem.open_input_file, inner)
        self._size = self._file.size()
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def _read_at(self, n: int, position: int) -> bytes:
        try:
            return self._file.read_at(n, position)
        except OSError:
            self._file = self._fs.open_input_file(self._inner)
            raise

    def read(self, n: int = -1) -> bytes:
        n = self._size - self._position if n is None or n < 0 else min(n, self._size - self._position)
        if n <= 0:
            return b""
        data = _retrying(self._inner, self._read_at, n, self._position)
        self._position += len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._file.close()
        super().close()


def open_input(path: str) -> io.BufferedIOBase:
    """A sequential binary reader (never decompressed here: readers do that)."""
    if not is_uri(path):
        return open(path, "rb")
    return io.BufferedReader(_RemoteFile(*resolve(path)), buffer_size=READ_BUFFER)


class _Window(io.RawIOBase):
    """Bytes [start, end) of a seekable file, as a raw file that ends at `end`."""

    def __init__(self, raw, start: int, end: int):
        raw.seek(start)
        self._raw, self._left = raw, end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: self._left]
        data = self._raw.read(len(view))
        view[: len(data)] = data
        self._left -= len(data)
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_range(path: str, start: int, end: int) -> io.BufferedIOBase:
    """A sequential reader of bytes [start, end) of a file: one task's piece of a big input
    (one ranged read per MiB on an object store)."""
    if not is_uri(path):
        raw = open(path, "rb", buffering=0)
    else:
        fs, inner = resolve(path)
        raw = fs.open_input_file(inner)
    return io.BufferedReader(_Window(raw, start, end), buffer_size=READ_BUFFER)


def parquet_file(path: str) -> pq.ParquetFile:
    if not is_uri(path):
        return pq.ParquetFile(path)
    return pq.ParquetFile(_RemoteFile(*resolve(path)))


def read_parquet(path: str, **options) -> pa.Table:
    if not is_uri(path):
        return pq.read_table(path, **options)
    fs, inner = resolve(path)
    return _retrying(inner, pq.read_table, inner, filesystem=fs, **options)


def read_bytes(path: str) -> bytes:
    if not is_uri(path):
        with open(path, "rb") as f:
            return f.read()
    with _RemoteFile(*resolve(path)) as f:
        return f.read()


# Writing ----------------------------------------------------------------------------------

def make_dirs(path: str) -> None:
    """Create a folder and its parents. Object stores have no folders (a key's prefix is its
    folder), so there this costs no request at all."""
    if not is_uri(path):
        os.makedirs(path, exist_ok=True)
    elif renames(path):
        fs, inner = resolve(path)
        fs.create_dir(inner, recursive=True)


def delete_dir(path: str) -> None:
    """Delete a folder and everything in it; nothing happens if it is not there."""
    if not is_uri(path):
        shutil.rmtree(path, ignore_errors=True)
        return
    fs, inner = resolve(path)
    if fs.get_file_info(inner).type == pafs.FileType.Directory:
        fs.delete_dir(inner)


def delete_file(path: str) -> None:
    """Delete a file; nothing happens if it is not there."""
    try:
        if not is_uri(path):
            os.remove(path)
        else:
            fs, inner = resolve(path)
            fs.delete_file(inner)
    except FileNotFoundError:
        pass


def move(source: str, target: str) -> None:
    """Rename a file or folder (only where `renames` says the filesystem can)."""
    if not is_uri(source):
        os.replace(source, target)
        return
    fs, inner = resolve(source)
    fs.move(inner, resolve(target)[1])


def open_output(path: str):
    """A binary writer that creates or replaces `path` (not atomic: see AtomicFile)."""
    if not is_uri(path):
        return pa.OSFile(path, "wb")
    fs, inner = resolve(path)
    return fs.open_output_stream(inner, compression=None)


def temp_name(path: str) -> str:
    """A hidden sibling name, per process: two writers of one file never share a temp file."""
    return join(parent(path), f".{name(path)}.tmp-{os.getpid()}")


class AtomicFile:
    """A binary file that appears under its name only once it is complete.

    Where the filesystem renames atomically (a local disk, file://, HDFS), it is written under
    a temporary name and moved into place. Object stores (S3, GCS) have no rename -- a "move"
    is a copy and a delete -- but an object becomes visible only when its upload completes
    (an S3 PUT or multipart upload is atomic per object), so there the file is written under
    its final name directly: a process killed mid-write leaves no object at all, and a write
    that fails with an error deletes what it closed. Use as a context manager, or call
    `commit` (or `discard`) yourself.
    """

    def __init__(self, path: str):
        self.path = path
        self._temp = temp_name(path) if renames(path) else None
        self.stream = open_output(self._temp or path)

    def commit(self) -> None:
        self.stream.close()
        if self._temp:
            move(self._temp, self.path)

    def discard(self) -> None:
        self.stream.close()
        delete_file(self._temp or self.path)

    def __enter__(self):
        return self.stream

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def write_bytes(path: str, data: bytes) -> None:
    """Write a whole file atomically (see AtomicFile)."""
    with AtomicFile(path) as f:
        f.write(data)


# Folders that must appear complete --------------------------------------------------------

def staging_folder(final: str, suffix: str, fresh: bool = False) -> str:
    """Where to write a folder that must appear whole: `final + suffix` where the filesystem
    renames (then `publish_folder` moves it into place; `fresh` empties it first), `final`
    itself on an object store, where the caller's marker file, written last, is what says
    the folder is complete."""
    if not renames(final):
        make_dirs(final)
        return final
    folder = with_suffix(final, suffix)
    if fresh:
        delete_dir(folder)
    make_dirs(folder)
    return folder


def publish_folder(staging: str, final: str) -> None:
    if staging != final:
        delete_dir(final)
        move(staging, final)
