"""What every reader shares: options, stable ids, opening compressed files."""
from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass

import xxhash
import zstandard
from isal import igzip
from isal.isal_zlib import error as IsalError

from .. import fs
from ..inputs import InputFile, split_name


@dataclass(frozen=True)
class ReadOptions:
    text_field: str = "text"
    id_field: str = "id"
    url_field: str = "url"
    max_bytes: int = 10_000_000   # larger records are skipped as `read:too_large`


def stable_id(f: InputFile, position: int | str) -> str:
    """An id that depends only on the source label, relative path and record position."""
    return xxhash.xxh3_128_hexdigest(f"{f.source}/{f.rel}#{position}".encode())


def open_binary(f: InputFile) -> io.BufferedIOBase:
    """Open a file (a local path or a URI) for reading, decompressing .gz and .zst on the fly."""
    compression = split_name(fs.name(f.path))[2]
    if compression == ".gz":
        return gzip_reader(fs.open_input(f.path))
    if compression == ".zst":
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(fs.open_input(f.path), closefd=True))
    return fs.open_input(f.path)


def gzip_reader(raw: io.BufferedIOBase) -> gzip.GzipFile:
    """A GzipFile over an open file that closes that file when it is closed. ISA-L's (python-
    isal), a GzipFile that inflates 2-2.5x faster than zlib: on web pages read from .gz
    files or WARC.gz, inflating is most of the reading time."""
    reader = igzip.IGzipFile(fileobj=raw, mode="rb")
    reader.myfileobj = raw  # as gzip.open(path) does with the file it opens itself
    return reader


def read_at_most(fh: io.BufferedIOBase, limit: int, chunk: int = 1 << 18) -> bytes:
    """Up to `limit` bytes of `fh`. A decompressing reader asked for `limit` bytes at once
    allocates and clears all of them first: 10 MB per page, for 50 KB pages."""
    parts, total = [], 0
    while total < limit and (part := fh.read(min(chunk, limit - total))):
        parts.append(part)
        total += len(part)
    return b"".join(parts)


# Errors that mean "this file's bytes end or break here", from gzip, zstd, zlib and the OS.
# A deflate stream broken inside (not at its end) raises zlib's or ISA-L's own error.
BAD_DEFLATE = (zlib.error, IsalError)
READ_ERRORS = (OSError, EOFError, zstandard.ZstdError, ValueError, *BAD_DEFLATE)


def read_error_reason(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "truncated_file"
    if isinstance(exc, (gzip.BadGzipFile, *BAD_DEFLATE)):
        return "bad_gzip"
    if isinstance(exc, zstandard.ZstdError):
        return "bad_zstd"
    return "unreadable_file"
