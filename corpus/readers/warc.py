"""WARC, WARC.gz and WET files, read with FastWARC.

Response records become HTML documents (other content types and non-2xx statuses go to the
ledger); WET conversion records become plain-text documents. Request, metadata and warcinfo
records are not documents and are not counted.

Gzip is decompressed here rather than inside FastWARC because FastWARC ends silently at a
truncated member; Python's gzip raises, so a cut-off crawl file leaves a ledger row instead of
a half-page document.
"""
from __future__ import annotations

import io
from collections.abc import Iterator

from fastwarc.warc import ArchiveIterator, WarcRecordType

from .. import fs
from ..charset import Undecodable, decode
from ..document import HTML, PLAIN, Document, Unreadable
from ..inputs import InputFile, split_name
from .common import BAD_DEFLATE, ReadOptions, gzip_reader, stable_id
from .spans import Span

HTML_TYPES = ("text/html", "application/xhtml+xml")
# HTTP headers that carry consent and licence signals (W3C TDMRep, robots, Link rel=license);
# kept in metadata["http"] for the consent step.
KEPT_HTTP_HEADERS = ("tdm-reservation", "tdm-policy", "x-robots-tag", "link")


class _GzipUntilBroken(io.RawIOBase):
    """A gzip stream that ends (instead of raising) where the file is cut, and remembers it."""

    def __init__(self, raw: io.BufferedIOBase):
        self._gzip = gzip_reader(raw)
        self._position = 0  # ISA-L's reader cannot tell where it is: counted here
        self.broken: str | None = None

    def readable(self) -> bool:
        return True

    # FastWARC asks where it is in the stream (record offsets) and may skip forward.
    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = offset + (self._position if whence == io.SEEK_CUR else 0)
        if whence not in (io.SEEK_SET, io.SEEK_CUR) or target < self._position:
            raise io.UnsupportedOperation("a gzip stream only seeks forward")
        scratch = bytearray(min(1 << 18, max(1, target - self._position)))
        while self._position < target:
            with memoryview(scratch) as view:
                if not self.readinto(view[:target - self._position]):
                    break
        return self._position

    def readinto(self, buffer) -> int:
        if self.broken:
            return 0
        try:
            n = self._gzip.readinto(buffer)
            self._position += n
            return n
        except EOFError:
            self.broken = "truncated_file"
        except (OSError, ValueError, *BAD_DEFLATE):
            self.broken = "bad_gzip"
        return 0

    def close(self) -> None:
        self._gzip.close()
        super().close()


def _record_to_document(record, f: InputFile, options: ReadOptions, start: int
                        ) -> Document | Unreadable:
    headers = record.headers
    record_id = (record.record_id or "").strip("<>") or stable_id(f, _position(start, record.stream_pos))
    url = (headers.get("WARC-Target-URI") or "").strip("<>") or None  # WARC/1.0 writers bracket it
    date = headers.get("WARC-Date")
    body = record.reader.read(options.max_bytes + 1)
    if len(body) > options.max_bytes:
        return Unreadable(record_id, "too_large", url=url, source=f.source)
    metadata = {"file": f.rel, "warc_record_id": record_id}
    if record.record_type == WarcRecordType.conversion:
        return Document(record_id, body.decode("utf-8", "replace"), url=url, source=f.source,
                        date=date, media_type=PLAIN, metadata=metadata)
    status = record.http_headers.status_code if record.http_headers else None
    if status is not None and not 200 <= status < 300:
        return Unreadable(record_id, f"http_status:{status}", url=url, source=f.source)
    content_type = (record.http_content_type or "").split(";")[0].strip().lower()
    if content_type not in HTML_TYPES:
        return Unreadable(record_id, f"non_html:{content_type or 'unknown'}", url=url, source=f.source)
    if not body or body.isspace():  # body.strip() would copy the page
        return Unreadable(record_id, "empty_record", url=url, source=f.source)
    try:
        text, codec = decode(body, declared=record.http_charset)
    except Undecodable as exc:
        return Unreadable(record_id, str(exc), url=url, source=f.source)
    metadata["charset"] = codec
    http = {k: v for k, v in ((h, record.http_headers.get(h)) for h in KEPT_HTTP_HEADERS) if v}
    if http:
        metadata["http"] = http
    return Document(record_id, text, url=url, source=f.source, date=date, media_type=HTML,
                    metadata=metadata)


def _position(start: int, position: int) -> int | str:
    """A record's position for ids made from it: a span's records count from the span's first
    member (the uncompressed offset before it is unknown); the whole file's, as always."""
    return position if start == 0 else f"{start}+{position}"


def read_warc(f: InputFile, options: ReadOptions, span: Span | None = None
              ) -> Iterator[Document | Unreadable]:
    """Every response and conversion record, or those of a span of gzip members (spans.py)."""
    if f.size == 0:
        yield Unreadable(stable_id(f, 0), "empty_file", source=f.source, text=f.rel)
        return
    gzipped = split_name(fs.name(f.path))[2] == ".gz"
    start = span.start if span else 0
    # FastWARC takes any binary file that can tell() its position
    raw = fs.open_range(f.path, span.start, span.end) if span else fs.open_input(f.path)
    stream = _GzipUntilBroken(raw) if gzipped else raw
    records = 0
    pending: Document | Unreadable | None = None  # held back one step: the last may be cut off
    try:
        kinds = WarcRecordType.response | WarcRecordType.conversion
        for record in ArchiveIterator(stream, record_types=kinds, parse_http=True):
            records += 1
            if pending is not None:
                yield pending
            pending = _record_to_document(record, f, options, start)
    except (GeneratorExit, KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # OSError from FastWARC, or a Rust panic (a BaseException)
        # FastWARC found no valid header: at the start, this is no WARC at all; later, the
        # records read so far were whole and the rest of the file is junk.
        corrupt = "not_a_warc" if records == 0 else "corrupt_record"
    else:
        corrupt = None
    finally:
        stream.close()
    broken = stream.broken if gzipped else None
    if pending is not None:
        if broken:
            pending = Unreadable(pending.id, broken, url=pending.url, source=f.source,
                                 text=f"{f.rel}: cut off inside this record")
        yield pending
    if corrupt or (broken and pending is None):
        yield Unreadable(stable_id(f, _position(start, records)), corrupt or broken,
                         source=f.source, text=f"{f.rel}: unreadable after {records} records")
