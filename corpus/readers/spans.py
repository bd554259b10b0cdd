"""Spans: pieces of one big input file that tasks read on their own, so that one file keeps
every worker busy.

A `Span` is [start, end) in the units its format can seek to, with the number of lines or rows
before `start`, so record positions -- and the ids made from them -- are the ones a reader of
the whole file gives:

    .jsonl / .ndjson   byte offsets, cut where a line starts      before = lines before start
    .parquet           row-group numbers                           before = rows before them
    .warc.gz           byte offsets where a gzip member that holds a WARC record starts:
                       Common Crawl writes one member per record; a single-stream file has
                       no such place and stays one piece
    .jsonl.gz / .zst   cannot seek: the parent reads the stream once, in order, cuts it by the
                       .jsonl rule and hands each piece to a task as bytes (`data`)

Where a file is cut depends only on its bytes, its size and the size of the whole run's
input, never on the worker count, so the tasks, and the output, are the same for any number
of workers and on every resume. A file gets ~64 pieces, but a run no more than ~512 pieces in
all beyond the 1 MiB floor (up to the 64 MiB cap): each task costs the corpus steps files of
its own -- MinHash writes a band file per task and partition -- so 40 files of 141 MB make
520 tasks, not 2,560. Seekable formats are scanned
block by block (`scan_block`, one call per block, run on the workers), so planning a 50 GB file
reads it once, in parallel.
"""
from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from .. import fs
from ..inputs import InputFile, split_name
from .common import READ_ERRORS, open_binary, read_error_reason

MIN_PIECE = 1 << 20          # below this a task's fixed cost (writers, counts) starts to show
MAX_PIECE = 64 << 20
MAX_STREAM_PIECE = 8 << 20   # held in memory while a worker takes it
PIECES_PER_FILE = 64
PIECES_PER_RUN = 512
GZIP_MAGIC = b"\x1f\x8b\x08"
MIN_CHAIN = 128 << 10        # members that must follow a cut (see _records_follow)
READ = 1 << 20


@dataclass(frozen=True)
class Span:
    """Units [start, end) of one file; see the module docstring for each format's units."""

    start: int
    end: int
    before: int = 0                        # lines (jsonl) or rows (parquet) before `start`
    data: bytes | None = None              # the piece itself, cut from a stream by the parent
    error: tuple[str, str] | None = None   # (reason, detail): the stream broke after this piece


def piece_bytes(size: int, run_bytes: int, cap: int = MAX_PIECE) -> int:
    """Target bytes per piece: ~64 pieces per file, no more than ~512 for the whole run
    (`run_bytes`: every input's size), within [1 MiB, cap]."""
    return min(cap, max(MIN_PIECE, size // PIECES_PER_FILE, run_bytes // PIECES_PER_RUN))


def split_kind(f: InputFile) -> str | None:
    """How `f` is split: 'lines', 'members', 'row_groups', 'stream', or None (one task)."""
    compression = split_name(fs.name(f.path))[2]
    if f.format == "jsonl":
        if f.size <= MIN_PIECE:
            return None
        return "stream" if compression else "lines"
    if f.format == "warc" and compression == ".gz" and f.size > MIN_PIECE:
        return "members"
    if f.format == "parquet" and f.size > MIN_PIECE:
        return "row_groups"
    return None


def scan_items(f: InputFile, kind: str, run_bytes: int) -> list[tuple[InputFile, str, int, int]]:
    """The blocks of `f` to scan: (file, kind, block number, block bytes)."""
    if kind == "row_groups":
        return [(f, kind, 0, 0)]
    block = piece_bytes(f.size, run_bytes)
    first = 1 if kind == "members" else 0  # a member scan looks for a cut inside each block
    return [(f, kind, k, block) for k in range(first, -(-f.size // block))]


def scan_block(item: tuple[InputFile, str, int, int]):
    """What one block tells the planner (module-level, so an executor's worker can run it)."""
    f, kind, k, block = item
    if kind == "lines":
        return _scan_lines(f, k * block, min((k + 1) * block, f.size))
    if kind == "members":
        return _first_record_member(f, k * block, min((k + 1) * block, f.size))
    meta = fs.parquet_file(f.path).metadata
    groups = (meta.row_group(i) for i in range(meta.num_row_groups))
    return [(g.num_rows, sum(g.column(c).total_compressed_size for c in range(g.num_columns)))
            for g in groups]


def spans_from_scans(f: InputFile, kind: str, scans: list, run_bytes: int) -> list[Span]:
    """A file's spans from its blocks' scans (in block order); `run_bytes` as given to
    scan_items, so the blocks are cut the same way."""
    if kind == "lines":
        return _line_spans(f.size, piece_bytes(f.size, run_bytes), scans)
    if kind == "members":
        cuts = [0]
        for offset in scans:
            if offset > cuts[-1]:
                cuts.append(offset)
        return [Span(a, b) for a, b in zip(cuts, cuts[1:] + [f.size])]
    return _row_group_spans(scans[0], piece_bytes(f.size, run_bytes))


# Uncompressed JSONL: cut where a line starts -----------------------------------------------

def _scan_lines(f: InputFile, start: int, end: int) -> tuple[int, int, bool]:
    """(newlines in [start, end), offset of the first one or -1, block ends with a newline)."""
    count, first, last = 0, -1, b""
    with fs.open_range(f.path, start, end) as fh:
        offset = start
        while chunk := fh.read(READ):
            if first < 0 and (i := chunk.find(b"\n")) >= 0:
                first = offset + i
            count += chunk.count(b"\n")
            offset += len(chunk)
            last = chunk[-1:]
    return count, first, last == b"\n"


def _line_spans(size: int, block: int, scans: list[tuple[int, int, bool]]) -> list[Span]:
    """Cut k is the first line start at or after k * block; `before` counts the newlines
    ahead of it, so line numbers stay those of the whole file."""
    cuts, before, lines = [0], [0], 0
    for k in range(1, len(scans)):
        lines += scans[k - 1][0]
        if scans[k - 1][2]:  # block k-1 ends a line: block k starts one
            cut, n = k * block, lines
        else:  # the line runs on to the first newline at or after k * block
            first = next((s[1] for s in scans[k:] if s[1] >= 0), -1)
            if first < 0:
                break
            cut, n = first + 1, lines + 1
        if cut >= size:
            break
        if cut > cuts[-1]:
            cuts.append(cut)
            before.append(n)
    return [Span(a, b, n) for a, b, n in zip(cuts, cuts[1:] + [size], before)]


def stream_spans(f: InputFile, block: int) -> Iterator[Span]:
    """Read a compressed JSONL once, in order, and cut it where an uncompressed copy would be
    cut, each piece carrying its bytes; a stream that breaks ends with a piece that says so."""
    parts: list[bytes] = []
    start = offset = lines = before = 0
    boundary = block
    try:
        with open_binary(f) as fh:
            for line in fh:
                parts.append(line)
                offset += len(line)
                lines += 1
                if offset >= boundary:
                    yield Span(start, offset, before, b"".join(parts))
                    parts, start, before = [], offset, lines
                    boundary = (offset // block + 1) * block
    except READ_ERRORS as exc:
        yield Span(start, offset, before, b"".join(parts),
                   (read_error_reason(exc), f"{f.rel} after line {lines}: {exc}"))
        return
    if parts or offset == 0:  # an empty stream still gets its one (empty) piece
        yield Span(start, offset, before, b"".join(parts))


# WARC.gz: cut where a gzip member holding a record starts -----------------------------------

def _first_record_member(f: InputFile, start: int, end: int) -> int:
    """Offset of the first gzip member in [start, end) from which members holding WARC records
    follow one another up to `end` or the end of the file; -1 when there is none."""
    with fs.open_range(f.path, start, end) as fh:
        offset, tail = start, b""
        while chunk := fh.read(READ):
            data = tail + chunk
            base = offset - len(tail)
            at = data.find(GZIP_MAGIC)
            while at >= 0:
                if _records_follow(f, base + at, max(end, base + at + MIN_CHAIN)):
                    return base + at
                at = data.find(GZIP_MAGIC, at + 1)
            offset += len(chunk)
            tail = data[-2:]
    return -1


def _records_follow(f: InputFile, offset: int, until: int) -> bool:
    """Whether gzip members, each inflating to text that starts `WARC/`, run back to back from
    `offset` to `until` or the end of the file. Magic bytes inside compressed data fail at
    once; a .warc.gz stored inside a record's body (deflate stores incompressible bytes as they
    are) breaks within 64 KiB, where the next stored block's header interrupts it, so a chain
    of MIN_CHAIN bytes is real. The scan inflates the file about once, spread over the
    workers: about a hundredth of what extracting its pages costs."""
    data, step = b"", 1 << 10  # small first: a false start fails within a few bytes
    try:
        with fs.open_range(f.path, offset, f.size) as fh:
            while offset < until:
                inflate, head, fed = zlib.decompressobj(31), b"", 0
                while not inflate.eof:
                    if not data:
                        data, step = fh.read(step), 1 << 16
                        if not data:
                            return False  # cut off inside a member
                    fed += len(data)
                    out = inflate.decompress(data)
                    data = b""
                    if len(head) < 5:
                        head += out[: 5 - len(head)]
                        if not b"WARC/".startswith(head):
                            return False
                if head != b"WARC/":
                    return False
                data = inflate.unused_data
                offset += fed - len(data)
                if not data and not (data := fh.read(step)):
                    return True  # the file ends after a whole member
    except zlib.error:
        return False
    return True


# Parquet: row groups ----------------------------------------------------------------------

def _row_group_spans(groups: list[tuple[int, int]], block: int) -> list[Span]:
    """Consecutive row groups, about `block` bytes (compressed, as stored) per span."""
    spans, first, rows, size, before = [], 0, 0, 0, 0
    for i, (n, nbytes) in enumerate(groups):
        rows, size = rows + n, size + nbytes
        if size >= block or i == len(groups) - 1:
            spans.append(Span(first, i + 1, before))
            first, before, size = i + 1, before + rows, 0
            rows = 0
    return spans or [Span(0, 0)]
