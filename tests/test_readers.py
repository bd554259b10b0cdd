"""Readers on every input format, real files where the shared data has them."""
import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from corpus.document import HTML, PLAIN, Document, Unreadable
from corpus.inputs import discover
from corpus.readers import ReadOptions, read_file
from tests.conftest import DEMO_WARC


def read_all(path, **options):
    files, _, _ = discover([str(path)])
    return [item for f in files for item in read_file(f, ReadOptions(**options))]


def test_jsonl_keeps_id_url_and_moves_other_fields_to_metadata(tmp_path):
    path = tmp_path / "docs.jsonl.zst"
    lines = [{"id": 7, "url": "https://a.example/", "body": "hello", "lang": "en"},
             {"body": "no id here"}]
    payload = "".join(json.dumps(x) + "\n" for x in lines).encode()
    path.write_bytes(zstandard.ZstdCompressor().compress(payload))
    a, b = read_all(path, text_field="body")
    assert (a.id, a.url, a.text, a.metadata) == ("7", "https://a.example/", "hello",
                                                 {"lang": "en", "file": "docs.jsonl.zst"})
    assert len(b.id) == 32 and b.url is None  # a stable hash of file + position


def test_json_array_and_single_object(tmp_path):
    (tmp_path / "arr.json").write_text(json.dumps([{"text": "one"}, {"text": "two"}, 3]))
    (tmp_path / "obj.json").write_text(json.dumps({"text": "solo", "k": 1}, indent=2))
    items = read_all(tmp_path)
    assert [getattr(i, "text", None) for i in items[:2]] == ["one", "two"]
    assert isinstance(items[2], Unreadable) and items[2].reason == "not_an_object"
    assert items[3].text == "solo" and items[3].metadata["k"] == 1


def test_parquet_records(tmp_path):
    pq.write_table(pa.table({"content": ["a", "b"], "url": ["u1", None]}), tmp_path / "x.parquet")
    docs = read_all(tmp_path / "x.parquet", text_field="content")
    assert [(d.text, d.url) for d in docs] == [("a", "u1"), ("b", None)]


def test_html_and_text_files_record_their_relative_path(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "p.html.gz").write_bytes(gzip.compress("<p>café ☕</p>".encode()))
    (tmp_path / "notes.txt").write_text("plain words")
    page, note = sorted(read_all(tmp_path), key=lambda d: d.media_type)
    assert page.media_type == HTML and page.metadata["file"] == "site/p.html.gz"
    assert "café ☕" in page.text and page.source == "site"
    assert note.media_type == PLAIN and note.text == "plain words"


def test_warc_records_carry_id_url_and_date_and_skip_non_html():
    items = read_all(DEMO_WARC)
    docs = [i for i in items if isinstance(i, Document)]
    skipped = [i for i in items if isinstance(i, Unreadable)]
    assert docs and all(d.id.startswith("urn:uuid:") and d.url and d.date for d in docs)
    assert [s.reason for s in skipped] == ["non_html:image/png"]


def test_gbk_page_in_demo_warc_decodes_to_chinese():
    docs = [i for i in read_all(DEMO_WARC) if isinstance(i, Document)]
    gbk = [d for d in docs if d.metadata.get("charset") == "gb18030"]
    assert len(gbk) == 1 and "长城" in gbk[0].text


def test_wet_conversion_records_are_plain_text(shared_data):
    (doc,) = read_all(shared_data / "web/warc/whirlwind.warc.wet.gz")
    assert doc.media_type == PLAIN and doc.url == "https://an.wikipedia.org/wiki/Escopete"
    assert "Escopete" in doc.text


def test_common_crawl_gbk_pages_without_charset_header(shared_data):
    docs = [i for i in read_all(shared_data / "web/warc/CC-MAIN-2020-34_sample.warc.gz")
            if isinstance(i, Document)]
    gbk = [d for d in docs if d.metadata["charset"] == "gb18030"]
    assert len(gbk) >= 6
    for d in gbk:
        assert sum("\u4e00" <= ch <= "\u9fff" for ch in d.text) > 50, d.url
        assert "\ufffd" not in d.text


def test_our_own_shards_read_back_as_the_same_documents(tmp_path):
    from tests.conftest import run_cli
    run_cli("clean", DEMO_WARC, "-o", tmp_path / "a")
    docs = read_all(tmp_path / "a" / "shards")
    first = pq.read_table(next((tmp_path / "a" / "shards").glob("*.parquet"))).to_pylist()[0]
    assert docs[0].id == first["id"] and docs[0].source == first["source"] == "demo"
    assert docs[0].metadata == json.loads(first["metadata"])  # not nested a second time
    assert docs[0].date == first["date"]
