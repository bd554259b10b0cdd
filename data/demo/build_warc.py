"""Pack the hand-written demo pages into data/demo/demo.warc.gz.

Why this exists: xiulian's pipeline reads WARC files, and the tests and
`make demo` need a tiny crawl whose contents we know exactly. Every page in
pages/ was written by hand to exercise one part of the pipeline (boilerplate
removal, ad-paragraph removal, quality and gambling filters, the TDM opt-out,
licence detection, near-duplicate detection, charset detection), so a test can
assert "this page must come out, that one must not".

The output is deterministic, so the committed demo.warc.gz only changes when a
page or this script changes:
  * WARC-Date is fixed per record (BASE_DATE + i minutes);
  * WARC-Record-ID is a uuid5 of the URL (and record type), not a random uuid4;
  * warcio compresses each record with zlib.compressobj(..., MAX_WBITS + 16),
    whose gzip header always carries mtime 0 and no file name, so no
    post-processing is needed (see warcio/warcwriter.py, GzippingWrapper);
  * nothing host- or time-dependent (hostname, "now", library versions) is
    written anywhere. The one input besides the pages is the output file's
    name, which goes into the warcinfo record (WARC-Filename), so compare
    builds written under the same name. A different zlib could in principle
    compress differently; the sha256 in README.md was taken with zlib 1.2.13
    (CPython 3.11, Linux) and warcio 1.8.1.

Usage (needs warcio, which is in the "dev" extra):
    python data/demo/build_warc.py            # writes data/demo/demo.warc.gz
    python data/demo/build_warc.py -o x.warc.gz
"""

from __future__ import annotations

import argparse
import struct
import uuid
import zlib
from datetime import datetime, timedelta, timezone
from io import BytesIO
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

HERE = Path(__file__).resolve().parent
PAGES = HERE / "pages"
DEFAULT_OUT = HERE / "demo.warc.gz"

BASE_DATE = datetime(2026, 1, 15, 10, 0, 0, tzinfo=timezone.utc)

HTML_UTF8 = "text/html; charset=utf-8"
HTML_NO_CHARSET = "text/html"  # the server did not say; the pipeline has to sniff


class Page(NamedTuple):
    file: str  # name in pages/, or "" for a generated payload
    url: str
    content_type: str  # HTTP Content-Type as "served"
    lang: str
    kinds: tuple[str, ...]  # what the page demonstrates; see README.md


# Kinds:
#   good            real article; its main text should survive cleaning
#   advert          contains the "Harbourlight Kayak Co." promo paragraph in the body
#   low_quality     keyword stuffing, short lines, symbol junk -> quality filter drops it
#   gambling        casino / 博彩 spam -> gambling filter drops it
#   tdm_reserved    <meta name="tdm-reservation" content="1"> -> must be excluded
#   cc_licensed     <link rel="license" href=".../by/4.0/"> -> licence recorded as CC-BY-4.0
#   near_duplicate  same article as another page with a few words changed -> dedup drops one
#   gbk             GBK bytes, <meta charset="gb2312">, no charset in HTTP header
#   lying_meta      UTF-8 bytes, but <meta> claims gb2312 and HTTP gives no charset
#   image           non-HTML response -> skipped
PAGES_LIST: list[Page] = [
    Page("en_tea_history.html", "https://tea.example.com/history/a-short-history-of-tea",
         HTML_UTF8, "en", ("good", "advert")),
    Page("zh_tea_history.html", "https://www.tea.example.cn/wenhua/history.html",
         HTML_UTF8, "zh", ("good",)),
    Page("en_bicycle_balance.html", "https://bikes.example.org/explainers/how-bicycles-balance",
         HTML_UTF8, "en", ("good", "advert")),
    Page("zh_great_wall_gbk.html", "http://www.renwen.example.cn/lishi/2025/1228.html",
         HTML_NO_CHARSET, "zh", ("good", "gbk")),
    Page("en_bread_recipe.html", "https://recipes.example.com/bread/simple-overnight-country-loaf/",
         HTML_UTF8, "en", ("good", "advert")),
    Page("zh_solar_terms_lying_meta.html", "https://www.siji.example.cn/shiling/ershisi-jieqi.html",
         HTML_NO_CHARSET, "zh", ("good", "lying_meta")),
    Page("en_sky_blue_cc.html", "https://science.example.org/physics/why-is-the-sky-blue",
         HTML_UTF8, "en", ("good", "advert", "cc_licensed")),
    Page("zh_python_intro.html", "https://learn.example.cn/python/first-program/",
         HTML_UTF8, "zh", ("good",)),
    Page("en_low_quality.html", "http://deals.example.com/cheap-shoes-best-cheap-shoes.html",
         HTML_UTF8, "en", ("low_quality",)),
    Page("zh_porcelain_tdm.html", "https://ci.example.cn/lishi/jingdezhen.html",
         HTML_UTF8, "zh", ("tdm_reserved",)),
    Page("en_casino_spam.html", "https://casino-bonus.example.net/best-online-casino-bonus-2026",
         HTML_UTF8, "en", ("gambling",)),
    Page("zh_gambling_spam.html", "http://www.bet.example.cn/index.html",
         HTML_UTF8, "zh", ("gambling",)),
    Page("", "https://tea.example.com/static/img/leaf-ledger-logo.png",
         "image/png", "", ("image",)),
    Page("zh_mid_autumn.html", "https://baike.example.cn/jieri/zhongqiu/",
         HTML_UTF8, "zh", ("good",)),
    Page("en_bicycle_balance_repost.html",
         "https://www.cyclewire.example.net/2026/01/why-bicycles-dont-fall-over",
         HTML_UTF8, "en", ("near_duplicate", "advert")),
]


def tiny_png(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (0x5B, 0x8C, 0x3A)) -> bytes:
    """A solid-colour RGB PNG built by hand, so the script needs no image file or library."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))  # filter 0 per row
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def record_id(kind: str, url: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, kind + ':' + url)}>"


def warc_date(i: int) -> str:
    return (BASE_DATE + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ")


def http_date(i: int) -> str:
    return (BASE_DATE + timedelta(minutes=i)).strftime("%a, %d %b %Y %H:%M:%S GMT")


def build(out_path: Path) -> None:
    with open(out_path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)

        info = (b"software: xiulian data/demo/build_warc.py\r\n"
                b"format: WARC File Format 1.0\r\n"
                b"description: hand-written demo pages for the xiulian pipeline; "
                b"every URL uses a reserved example domain\r\n"
                b"isPartOf: xiulian-demo\r\n")
        writer.write_record(writer.create_warc_record(
            "", "warcinfo", payload=BytesIO(info), length=len(info),
            warc_headers_dict={
                "WARC-Record-ID": record_id("warcinfo", out_path.name),
                "WARC-Date": warc_date(0),
                "WARC-Filename": out_path.name,
                "Content-Type": "application/warc-fields",
            }))

        for i, page in enumerate(PAGES_LIST, start=1):
            body = (PAGES / page.file).read_bytes() if page.file else tiny_png()
            parts = urlsplit(page.url)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            resp_id = record_id("response", page.url)

            req_http = StatusAndHeaders(f"GET {path} HTTP/1.1", [
                ("Host", parts.netloc),
                ("User-Agent", "xiulian-demo/0.1 (+https://example.org/xiulian)"),
                ("Accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
                ("Accept-Language", "en,zh-CN;q=0.8"),
                ("Connection", "close"),
            ], is_http_request=True)
            resp_http = StatusAndHeaders("200 OK", [
                ("Date", http_date(i)),
                ("Server", "nginx"),
                ("Content-Type", page.content_type),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
            ], protocol="HTTP/1.1")

            # request first, then the response it produced (as crawlers write them)
            writer.write_record(writer.create_warc_record(
                page.url, "request", payload=BytesIO(b""), length=0, http_headers=req_http,
                warc_headers_dict={
                    "WARC-Record-ID": record_id("request", page.url),
                    "WARC-Date": warc_date(i),
                    "WARC-Concurrent-To": resp_id,
                }))
            writer.write_record(writer.create_warc_record(
                page.url, "response", payload=BytesIO(body), length=len(body), http_headers=resp_http,
                warc_headers_dict={
                    "WARC-Record-ID": resp_id,
                    "WARC-Date": warc_date(i),
                    "WARC-IP-Address": f"192.0.2.{i}",  # TEST-NET-1, never routed
                }))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    build(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, {len(PAGES_LIST)} pages)")


if __name__ == "__main__":
    main()
