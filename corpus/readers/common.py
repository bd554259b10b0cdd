"""What every reader shares: options, stable ids, opening compressed files."""
from __future__ import annotations

import gzip
import io
from dataclasses import dataclass

import xxhash
import zstandard

from ..inputs import InputFile, split_name


@dataclass(frozen=True)
class ReadOptions:
    text_field: str = "text"
    id_field: str = "id"
    url_field: str = "url"
    max_bytes: int = 10_000_000   # larger records are skipped as `read:too_large`


def stable_id(f: InputFile, position: int) -> str:
    """An id that depends only on the source label, relative path and record position."""
    return xxhash.xxh3_128_hexdigest(f"{f.source}/{f.rel}#{position}".encode())


def open_binary(f: InputFile) -> io.BufferedIOBase:
    """Open a file for reading, decompressing .gz and .zst on the fly."""
    compression = split_name(f.path)[2]
    if compression == ".gz":
        return gzip.open(f.path, "rb")
    if compression == ".zst":
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(open(f.path, "rb"), closefd=True))
    return open(f.path, "rb")


# Errors that mean "this file's bytes end or break here", from gzip, zstd, zlib and the OS.
READ_ERRORS = (OSError, EOFError, zstandard.ZstdError, ValueError)


def read_error_reason(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "truncated_file"
    if isinstance(exc, gzip.BadGzipFile):
        return "bad_gzip"
    if isinstance(exc, zstandard.ZstdError):
        return "bad_zstd"
    return "unreadable_file"
