"""`xiulian stats`: its numbers agree with an independent recomputation in polars on a real clean
output, and its HTML report is one self-contained file with every section."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import polars as pl
import pytest

from corpus import cli
from corpus.stats.compute import corpus_stats
from corpus.stats.html_report import SECTIONS
from tests.conftest import run_cli, write_config

# Extraction, a length rule that removes some pages, and language ID: a kept set with two
# languages, URLs on some documents, a score column, and a ledger with removals.
CONFIG = """
[[steps]]
use = "extract"
[[steps]]
use = "length"
min_chars = 600
[[steps]]
use = "language"
"""
_CLEANED: dict[str, Path] = {}


def cleaned_output(tmp_path_factory, shared_data) -> Path:
    """One clean of 62 Chinese news pages and an English WARC, shared by the stats and show tests."""
    if "out" not in _CLEANED:
        root = tmp_path_factory.mktemp("stats")
        out = root / "out"
        run_cli("clean", shared_data / "web/html/gne_zh", shared_data / "web/warc/dolma_sample-0001.warc.gz",
                "-o", out, "--workers", "2", "-q", "--config", write_config(root / "c.toml", CONFIG))
        _CLEANED["out"] = out
    return _CLEANED["out"]


@pytest.fixture
def out(tmp_path_factory, shared_data) -> Path:
    return cleaned_output(tmp_path_factory, shared_data)


def xiulian(capsys, *argv) -> tuple[int, str, str]:
    """Run the xiulian CLI in-process, as a user would."""
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_numbers_equal_polars(out):
    stats = corpus_stats(str(out))
    kept = pl.read_parquet(out / "shards" / "*.parquet")
    removed = pl.read_parquet(out / "removed" / "*.parquet")
    chars = kept["text"].str.len_chars()
    nbytes = kept["text"].str.len_bytes()

    assert stats["kept"]["documents"] == kept.height > 0
    assert stats["kept"]["characters"] == chars.sum()
    assert stats["kept"]["utf8_bytes"] == nbytes.sum()
    assert stats["kept"]["approx_tokens"] == round(chars.sum() / 4 + (nbytes.sum() - chars.sum()) * 5 / 24)
    assert (stats["length"]["min"], stats["length"]["max"]) == (chars.min(), chars.max())
    assert sum(stats["length"]["histogram"]["counts"]) == kept.height

    by_language = {r["language"]: (r["documents"], r["characters"]) for r in stats["languages"]}
    expected = (kept.with_columns(n=pl.col("text").str.len_chars())
                .group_by("language").agg(pl.len(), pl.col("n").sum()))
    assert by_language == {lang: (n, c) for lang, n, c in expected.iter_rows()}
    assert {"zh", "en"} <= set(by_language)

    hosts = kept["url"].str.extract(r"^<?https?://([^/:?#]+)").str.to_lowercase().str.replace(r"^www\.", "")
    assert {d["domain"]: d["documents"] for d in stats["domains"]["top"]} == \
        dict(hosts.drop_nulls().value_counts().iter_rows())
    assert stats["domains"]["documents_without_url"] == hosts.null_count()
    assert {s["source"]: s["documents"] for s in stats["sources"]} == \
        dict(kept["source"].value_counts().iter_rows())

    score = stats["scores"]["language_score"]
    assert score["count"] == kept["language_score"].drop_nulls().len()
    assert score["mean"] == pytest.approx(kept["language_score"].mean(), rel=1e-5)
    assert score["min"] == pytest.approx(kept["language_score"].min(), rel=1e-5)

    funnel = stats["funnel"]
    assert funnel["read"] == kept.height + removed.height
    assert funnel["removed"] == removed.height
    ledger = {f"{s}:{r}": n for s, r, n in removed.group_by("step", "reason").len().iter_rows()}
    assert {f"{s['step']}:{r}": n for s in funnel["steps"] for r, n in s["reasons"].items()} == ledger
    assert [s["step"] for s in funnel["steps"]] == ["extract", "length", "language"]
    assert funnel["steps"][-1]["remaining"] == kept.height


def test_funnel_from_the_ledger_when_there_is_no_manifest(out, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(out / "shards", copy / "shards")
    shutil.copytree(out / "removed", copy / "removed")
    from_ledger, from_manifest = corpus_stats(str(copy))["funnel"], corpus_stats(str(out))["funnel"]
    assert from_ledger["origin"] == "removed ledger" and from_manifest["origin"] == "manifest"
    for key in ("read", "kept", "removed"):
        assert from_ledger[key] == from_manifest[key]
    assert [s for s in from_ledger["steps"] if s["removed"]] == [s for s in from_manifest["steps"] if s["removed"]]


def test_any_folder_of_shards(out, tmp_path):
    whole = corpus_stats(str(out))
    assert corpus_stats(str(out / "shards"))["kept"] == whole["kept"]   # OUT/shards finds OUT's manifest
    bare = tmp_path / "bare"
    shutil.copytree(out / "shards", bare)
    alone = corpus_stats(str(bare))
    assert alone["kept"] == whole["kept"] and alone["funnel"]["read"] is None
    one = corpus_stats(str(next(bare.glob("*.parquet"))))
    assert one["kept"]["documents"] <= whole["kept"]["documents"]


def test_cli_tables_and_json(out, capsys):
    code, text, _ = xiulian(capsys, "stats", out)
    assert code == 0
    for title in ("Kept", "Funnel", "Languages", "Length in characters", "Top domains"):
        assert title in text
    assert "too_short" in text
    code, text, _ = xiulian(capsys, "stats", out, "--json")
    stats = json.loads(text)
    assert stats["kept"]["documents"] == pl.scan_parquet(out / "shards" / "*.parquet").select(pl.len()).collect().item()


def test_html_report_is_self_contained_with_every_section(out, tmp_path, capsys):
    report = tmp_path / "report.html"
    code, _, _ = xiulian(capsys, "stats", out, "--html", report)
    assert code == 0
    html = report.read_text(encoding="utf-8")
    for key, _title in SECTIONS:
        assert f'<section id="{key}">' in html
    assert not re.findall(r'(?:src|href)\s*=\s*["\']?(?:https?:)?//', html)
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert html.count("<svg") >= 4              # funnel, languages, length and score histograms
    # removal examples: the start of a removed page, escaped; kept examples per language
    removed = pl.read_parquet(out / "removed" / "*.parquet")
    section = html[html.index('<section id="removals">'):html.index('<section id="languages">')]
    assert section.count('class="snippet"') == min(3, removed.height)
    kept = html[html.index('<section id="kept-examples">'):]
    assert "<h3>zh</h3>" in kept and "<h3>en</h3>" in kept


def test_report_escapes_text_that_looks_like_markup(tmp_path):
    from corpus.stats.html_report import write_report
    stats = corpus_stats(str(_shard_with_metadata(tmp_path)), examples=2)
    write_report(stats, str(tmp_path / "r.html"))
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "&lt;img src=&quot;http://evil.example/x.png&quot;&gt;" in html
    assert "<img" not in html


def _shard_with_metadata(tmp_path: Path) -> Path:
    """A hand-made shard with the metadata other steps write (tier, pii, consent, licence source)."""
    rows = [
        {"id": "a", "text": "質量很高的中文段落。" * 30, "url": "https://www.Example.com/a", "source": "s",
         "language": "zh", "license": "https://creativecommons.org/licenses/by/4.0/",
         "score_quality": 0.9, "metadata": json.dumps({"tier": "high", "license_from": "rel"})},
        {"id": "b", "text": 'An English page <img src="http://evil.example/x.png"> with words. ' * 5,
         "url": "http://example.com/b", "source": "s", "language": "en", "license": None,
         "score_quality": 0.2, "metadata": json.dumps({"tier": "low", "pii": {"email": 2, "ip": 1}})},
        {"id": "c", "text": "Ещё одна страница.", "url": None, "source": "t", "language": "ru",
         "license": None, "score_quality": None,
         "metadata": json.dumps({"consent": {"tdm_reserved": True}, "pii": {"email": 1}}, sort_keys=True)},
    ]
    folder = tmp_path / "shards"
    folder.mkdir()
    pl.DataFrame(rows).with_columns(pl.col("score_quality").cast(pl.Float32)).write_parquet(folder / "part-00000.parquet")
    return folder


def test_tiers_pii_consent_and_licences_from_metadata(tmp_path):
    stats = corpus_stats(str(_shard_with_metadata(tmp_path)))
    assert stats["tiers"] == [{"tier": "high", "documents": 1}, {"tier": "low", "documents": 1}]
    assert stats["pii"] == [{"kind": "email", "documents": 2, "replaced": 3},
                            {"kind": "ip", "documents": 1, "replaced": 1}]
    assert stats["consent"]["kept_with_signal"] == {"tdm_reserved": 1}
    assert stats["licenses"]["declared"] == 1 and stats["licenses"]["found_in"] == {"rel": 1}
    assert stats["domains"]["top"] == [{"domain": "example.com", "documents": 2}]
    assert stats["scores"]["score_quality"]["count"] == 2 and stats["scores"]["score_quality"]["missing"] == 1
    zh = next(r for r in stats["languages"] if r["language"] == "zh")
    assert zh["approx_tokens"] == round(300 / 1.5)       # 300 CJK characters, 1.5 a token


def test_dedup_and_decontamination_reports(tmp_path):
    """The files corpus/dedup and corpus/decontam write, read back into numbers."""
    out = tmp_path / "out"
    shards = _shard_with_metadata(tmp_path)
    (out / "dedup").mkdir(parents=True)
    shutil.move(str(shards), out / "shards")
    pl.DataFrame({"step": ["exact_dedup", "exact_dedup", "minhash_dedup"], "cluster": [0, 1, 0],
                  "size": [2, 5, 2], "survivor": ["a", "b", "c"],
                  "members": [["a", "x"], ["b", "y", "z", "w", "v"], ["c", "u"]]}
                 ).write_parquet(out / "dedup" / "clusters.parquet")
    pl.DataFrame({"paragraph": ["Call now!", "Subscribe to our newsletter"], "documents": [12, 40],
                  "hash": pl.Series([7, 9], dtype=pl.UInt64)}).write_parquet(out / "dedup" / "repeated.parquet")
    (out / "decontam.json").write_text(json.dumps({
        "action": "drop", "settings": {"ngram": 13}, "documents_cut": 0,
        "benchmarks": [{"path": "/data/gsm8k_test.jsonl", "label": "gsm8k_test.jsonl", "items": 1319,
                        "items_indexed": 1319, "documents_hit": 4}],
        "holdout_from": [{"path": "/data/mine.jsonl", "label": "mine.jsonl", "items": 10,
                          "items_indexed": 9, "documents_hit": 0}]}))
    stats = corpus_stats(str(out))
    clusters = stats["dedup"]["clusters"]
    assert (clusters["clusters"], clusters["documents_in_clusters"], clusters["duplicates"]) == (3, 9, 6)
    assert clusters["by_step"]["exact_dedup"] == {"clusters": 2, "documents_in_clusters": 7, "duplicates": 5}
    assert clusters["largest"][0] == {"size": 5, "cluster": 1, "survivor": "b", "step": "exact_dedup"}
    assert stats["dedup"]["repeated_paragraphs"]["top"][0] == {"count": 40, "text": "Subscribe to our newsletter"}
    rows = stats["decontamination"]["benchmarks"]
    assert [(r["benchmark"], r["documents_hit"], r.get("role")) for r in rows] == \
        [("gsm8k_test.jsonl", 4, None), ("mine.jsonl", 0, "holdout_from")]
    assert stats["decontamination"]["settings"] == {"action": "drop", "settings.ngram": 13, "documents_cut": 0}


def test_other_shapes_of_the_reports(tmp_path):
    """Columns found by name and type: a member table, a benchmark-keyed object."""
    out = tmp_path / "out"
    (out / "dedup").mkdir(parents=True)
    shutil.move(str(_shard_with_metadata(tmp_path)), out / "shards")
    pl.DataFrame({"cluster_id": [7, 7, 7, 8, 8], "id": list("abcde")}).write_parquet(out / "dedup" / "clusters.parquet")
    (out / "decontam.json").write_text(json.dumps({"gsm8k": {"items": 1319, "hits": {"documents": 4}}}))
    stats = corpus_stats(str(out))
    assert (stats["dedup"]["clusters"]["clusters"], stats["dedup"]["clusters"]["duplicates"]) == (2, 3)
    assert stats["dedup"]["repeated_paragraphs"] is None
    assert stats["decontamination"]["benchmarks"] == [{"benchmark": "gsm8k", "items": 1319, "hits.documents": 4}]
    (out / "decontam.json").write_text("{not json")
    assert "error" in corpus_stats(str(out))["decontamination"]


def test_bad_paths_are_one_line_errors(tmp_path, capsys):
    code, _, err = xiulian(capsys, "stats", tmp_path / "missing")
    assert code == 2 and "no such file or directory" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "empty").mkdir()
    code, _, err = xiulian(capsys, "stats", tmp_path / "empty")
    assert code == 2 and "no Parquet shards" in err
    (tmp_path / "empty" / "x.parquet").write_text("not parquet")
    code, _, err = xiulian(capsys, "stats", tmp_path / "empty")
    assert code == 2 and "not readable Parquet" in err and "Traceback" not in err


def test_a_reason_per_benchmark_item_is_folded_into_its_benchmark():
    from corpus.stats.funnel import funnel
    manifest = {"counts": {"read": 200, "kept": 140, "removed": 60},
                "config": {"steps": [{"use": "extract"}, {"use": "decontam"}]},
                "removed_by": {"read:missing_field:text": 9, "read:http_status:404": 1,
                               **{f"decontam:gsm8k_test.jsonl#{i}": 1 for i in range(30)},
                               "decontam:cmmlu_test.csv#7": 20}}
    steps = {s["step"]: s for s in funnel(manifest, [], 140)["steps"]}
    assert steps["read"]["reasons"] == {"missing_field:text": 9, "http_status:404": 1}
    assert steps["decontam"]["reasons"] == {"gsm8k_test.jsonl": 30, "cmmlu_test.csv": 20}
    assert steps["decontam"]["distinct_reasons"] == 31 and steps["decontam"]["remaining"] == 140
