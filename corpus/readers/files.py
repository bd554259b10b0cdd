"""One document per file: .html/.htm pages and .txt files (optionally .gz/.zst)."""
from __future__ import annotations

from collections.abc import Iterator

from ..charset import Undecodable, decode
from ..document import HTML, PLAIN, Document, Unreadable
from ..inputs import InputFile
from .common import (READ_ERRORS, ReadOptions, open_binary, read_at_most, read_error_reason,
                     stable_id)


def read_single_document(f: InputFile, options: ReadOptions) -> Iterator[Document | Unreadable]:
    doc_id = stable_id(f, 0)
    is_html = f.format == "html"
    try:
        with open_binary(f) as fh:
            raw = read_at_most(fh, options.max_bytes + 1)
    except READ_ERRORS as exc:
        yield Unreadable(doc_id, read_error_reason(exc), source=f.source, text=f"{f.rel}: {exc}")
        return
    if not raw or raw.isspace():  # raw.strip() would copy the whole page to say so
        yield Unreadable(doc_id, "empty_file", source=f.source, text=f.rel)
        return
    if len(raw) > options.max_bytes:
        yield Unreadable(doc_id, "too_large", source=f.source,
                         text=f"{f.rel}: over {options.max_bytes} bytes")
        return
    try:
        text, codec = decode(raw, html=is_html)
    except Undecodable as exc:
        yield Unreadable(doc_id, str(exc), source=f.source, text=f.rel)
        return
    yield Document(doc_id, text, source=f.source, media_type=HTML if is_html else PLAIN,
                   metadata={"file": f.rel, "charset": codec})
