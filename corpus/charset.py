"""Turn the bytes of a web page into text, trusting declarations only as far as they deserve.

Declarations lie: Chinese news sites declare gb2312 while serving UTF-8, and most GBK pages in
Common Crawl carry no charset header at all. So valid UTF-8 wins outright (a page in another
encoding is almost never valid UTF-8 by chance); otherwise the HTTP header, the <meta> tag and
byte-level detection are tried in that order, each only if it decodes the page cleanly.
Labels follow the WHATWG Encoding Standard, as browsers do: gb2312 and gbk decode as gb18030,
iso-8859-1 and ascii as windows-1252.
"""
from __future__ import annotations

import codecs
import re

from resiliparse.parse.encoding import detect_encoding

# WHATWG aliases (https://encoding.spec.whatwg.org/#names-and-labels) for labels whose
# Python codec is narrower than what browsers do with them.
_WHATWG = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030",
    "chinese": "gb18030", "csgb2312": "gb18030", "iso-ir-58": "gb18030",
    "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin1": "cp1252", "l1": "cp1252",
    "us-ascii": "cp1252", "ascii": "cp1252", "iso_8859-1": "cp1252", "cp819": "cp1252",
    "iso-8859-9": "cp1254", "latin5": "cp1254", "tis-620": "cp874", "iso-8859-11": "cp874",
    "big5": "big5hkscs", "shift_jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
    "ms_kanji": "cp932", "euc-kr": "cp949", "ks_c_5601-1987": "cp949",
}
_META = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_:.+-]+)""", re.I)
_CONTROL = bytes(set(range(32)) - {9, 10, 12, 13})
MAX_REPLACEMENT_FRACTION = 0.01


class Undecodable(ValueError):
    """The bytes are not text in any encoding we can trust; the reason names why."""


def _whatwg_c1(err: UnicodeDecodeError):
    # windows-1252 leaves five bytes undefined; browsers map them to C1 controls, never U+FFFD.
    return "".join(chr(b) for b in err.object[err.start:err.end]), err.end


codecs.register_error("whatwg_c1", _whatwg_c1)


def codec_for(label: str | None) -> str | None:
    """The Python codec a browser would use for a charset label, or None if unknown."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _WHATWG.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def meta_charset(raw: bytes) -> str | None:
    """The charset a page declares in a <meta> tag near its top."""
    m = _META.search(raw[:4096])
    return m.group(1).decode("ascii", "ignore") if m else None


def looks_binary(raw: bytes) -> bool:
    """NUL bytes or many control characters near the top: an image, an archive, junk."""
    head = raw[:8192]
    if b"\x00" in head:
        return True
    controls = len(head) - len(head.translate(None, _CONTROL))  # one pass, not one per byte value
    return controls > 0.01 * len(head)


def decode(raw: bytes, declared: str | None = None, html: bool = True) -> tuple[str, str]:
    """Decode page bytes; returns (text, codec used) or raises Undecodable."""
    for bom, codec in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                       (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom):
            return raw.decode(codec, "replace"), codec
    if looks_binary(raw):
        raise Undecodable("binary")
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    labels = [declared, meta_charset(raw) if html else None, detect_encoding(raw[:65536])]
    candidates = list(dict.fromkeys(c for c in map(codec_for, labels) if c))
    for codec in candidates:
        try:
            return raw.decode(codec), codec
        except UnicodeDecodeError:
            continue
    # Nothing decodes cleanly (a UTF-8 page with one cut-off character, say): take the most
    # trusted label leniently, as long as little is lost.
    codec = candidates[0] if candidates else "cp1252"
    text = raw.decode(codec, "whatwg_c1" if codec == "cp1252" else "replace")
    if text.count("\ufffd") > MAX_REPLACEMENT_FRACTION * max(1, len(text)):
        raise Undecodable("bad_encoding")
    return text, codec
