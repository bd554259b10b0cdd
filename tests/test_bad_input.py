"""Every kind of bad input is skipped with a ledger reason while the run goes on."""
import gzip
import json
import random

from tests.conftest import DEMO_WARC, manifest, rows, run_cli

GOOD = "A fine line of text that is long enough to keep around here, surely. " * 5


def make_bad_inputs(d):
    src = DEMO_WARC.read_bytes()
    (d / "truncated.warc.gz").write_bytes(src[: len(src) // 2])
    (d / "notawarc.warc.gz").write_bytes(gzip.compress(b"hello, I am not a WARC file\n" * 50))
    (d / "latin1.html").write_bytes(b"<html><body><p>" + bytes(range(128, 256)) * 40 + b"</p></body></html>")
    (d / "empty.html").write_bytes(b"")
    (d / "junk.html").write_bytes(random.Random(1).randbytes(200_000))
    (d / "notgzip.html.gz").write_bytes(b"<p>plain bytes behind a .gz name</p>")
    broken = bytearray(gzip.compress(b"<p>" + b"a page " * 500 + b"</p>"))
    broken[10:12] = b"\xff\xff"  # the deflate stream itself is broken, not its header or end
    (d / "brokendeflate.html.gz").write_bytes(bytes(broken))
    (d / "huge.html").write_text("<html><body>" + "<p>" + "word " * 1000 + "</p>" * 1 + "<p>x</p>" * 6_000_000)
    with open(d / "broken.jsonl", "w") as f:
        f.write(json.dumps({"id": "good-1", "text": GOOD}) + "\n")
        f.write("{not json at all\n")
        f.write('{"id": "no-text"}\n')
        f.write(json.dumps({"id": "good-2", "text": GOOD}) + "\n")
    (d / "badutf8.jsonl").write_bytes(b'{"text": "caf\xe9 au lait"}\n')
    # Valid JSON, not valid Unicode: a lone UTF-16 surrogate, in the text or the URL.
    (d / "surrogate.jsonl").write_text('{"text": "lone \\ud800 half"}\n{"id": "bad-url", "text": "%s", '
                                       '"url": "http://x/\\udc00"}\n' % GOOD)
    (d / "cut.jsonl.gz").write_bytes(gzip.compress((json.dumps({"text": GOOD}) + "\n").encode() * 200)[:300])


def test_bad_inputs_are_counted_and_explained(tmp_path):
    (tmp_path / "in").mkdir()
    make_bad_inputs(tmp_path / "in")
    config = tmp_path / "c.toml"  # reading is under test here, not the quality filters
    config.write_text('[[steps]]\nuse = "extract"\n')
    proc = run_cli("clean", tmp_path / "in", "-o", tmp_path / "out", "--workers", "2", "--config", config)
    assert "Traceback" not in proc.stderr
    m = manifest(tmp_path / "out")
    c = m["counts"]
    assert c["read"] == c["kept"] + c["removed"]
    removed = rows(tmp_path / "out", "removed")
    reasons = {(r["step"], r["reason"]) for r in removed}
    assert any(r["reason"] == "bad_gzip" and "brokendeflate" in r["text"] for r in removed)
    expected = {("read", "truncated_file"), ("read", "not_a_warc"), ("read", "empty_file"),
                ("read", "binary"), ("read", "bad_gzip"), ("read", "too_large"),
                ("read", "invalid_json"), ("read", "missing_field:text"), ("read", "invalid_utf8"),
                ("read", "invalid_unicode")}
    assert expected <= reasons, expected - reasons
    kept_ids = {r["id"] for r in rows(tmp_path / "out")}
    assert {"good-1", "good-2"} <= kept_ids
    assert sum(m["removed_by"].values()) == c["removed"]
    assert sum(r["reason"] == "invalid_unicode" for r in removed) == 2


def test_extraction_past_its_time_limit_is_removed_not_stalled(tmp_path):
    page = "<html><body>" + "".join(f"<div><p>paragraph {i} " + "text " * 50 + "</p></div>"
                                    for i in range(3000)) + "</body></html>"
    (tmp_path / "slow.html").write_text(page)
    config = tmp_path / "c.toml"
    config.write_text('[[steps]]\nuse = "extract"\ntimeout = 0.01\n')
    run_cli("clean", tmp_path / "slow.html", "-o", tmp_path / "out", "--config", config)
    assert manifest(tmp_path / "out")["removed_by"] == {"extract:timeout": 1}
