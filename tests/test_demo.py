"""The demo corpus that `make demo` cleans, end to end."""
import json

from tests.conftest import DEMO_WARC, manifest, rows, run_cli


def test_demo_is_cleaned_with_chinese_emoji_and_license_intact(tmp_path):
    proc = run_cli("clean", DEMO_WARC, "-o", tmp_path / "out", "--workers", "2")
    assert "kept" in proc.stdout and "read:non_html:image/png" in proc.stdout
    m = manifest(tmp_path / "out")
    assert m["counts"]["read"] == m["counts"]["kept"] + m["counts"]["removed"]
    docs = rows(tmp_path / "out")
    text = "\n".join(d["text"] for d in docs)
    for expected in ("长城", "🍵", "🚲", "°C", "½"):
        assert expected in text
    assert "cookie" not in text.lower()  # banners are boilerplate, not content
    licensed = [d for d in docs if d["license"]]
    assert [d["license"] for d in licensed] == ["https://creativecommons.org/licenses/by/4.0/"]
    assert all(json.loads(d["metadata"])["warc_record_id"] == d["id"] for d in docs)
