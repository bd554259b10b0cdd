"""Repeated paragraphs: an advert pasted into many otherwise different pages is cut from all
of them (typo'd copies too) while the pages survive; a page that was mostly advert goes."""

import pyarrow.parquet as pq

from corpus.clean import clean
from tests.conftest import manifest, rows, write_config
from tests.test_dedup import c4_pages, write_jsonl

ADVERT = ("Planning your dream wedding? Sunshine Bridal Studio offers complete packages with "
          "photography, catering and flowers for every budget. Call today for a free consultation.")
TYPO_ADVERT = ADVERT.replace("dream", "dreem").replace("catering", "caterring").replace("free", "fre")


def paste(page, line):
    lines = page.split("\n")
    return "\n".join(lines[:1] + [line] + lines[1:])


def test_an_advert_in_many_pages_is_cut_and_the_pages_survive(tmp_path, shared_data):
    pages = c4_pages(shared_data, 40)
    docs = [(f"p{i}", paste(t, ADVERT)) for i, t in enumerate(pages[:30])]
    docs += [("typo", paste(pages[30], TYPO_ADVERT)), ("mostly-advert", ADVERT + "\nThanks for reading!")]
    docs += [(f"clean{i}", t) for i, t in enumerate(pages[31:])]
    config = write_config(tmp_path / "c.toml", '[[steps]]\nuse = "repeated_paragraphs"\nmax_docs = 5\n')
    m = clean([write_jsonl(tmp_path / "in.jsonl", docs)], str(tmp_path / "out"),
              config_path=str(config), workers=2, progress=False)
    kept = {d["id"]: d["text"] for d in rows(tmp_path / "out")}
    assert set(kept) == {i for i, _ in docs} - {"mostly-advert"}
    assert not any("Sunshine Bridal" in t for t in kept.values())
    assert all(kept[f"p{i}"] == pages[i] for i in range(30))   # nothing else was touched
    assert kept["typo"] == pages[30]
    assert m["removed_by"] == {"repeated_paragraphs:mostly_repeated": 1}
    top = pq.read_table(tmp_path / "out" / "dedup" / "repeated.parquet").to_pylist()[0]
    assert (top["paragraph"], top["documents"]) == (ADVERT, 31)


def test_lines_below_the_document_count_stay(tmp_path, shared_data):
    pages = c4_pages(shared_data, 10)
    docs = [(f"p{i}", paste(t, ADVERT)) for i, t in enumerate(pages)]
    config = write_config(tmp_path / "c.toml", '[[steps]]\nuse = "repeated_paragraphs"\nmax_docs = 10\n')
    clean([write_jsonl(tmp_path / "in.jsonl", docs)], str(tmp_path / "out"),
          config_path=str(config), progress=False)
    assert sum("Sunshine Bridal" in d["text"] for d in rows(tmp_path / "out")) == 10
    assert manifest(tmp_path / "out")["counts"]["removed"] == 0


def test_dedup_before_repeated_paragraphs_keeps_a_syndicated_article(tmp_path, shared_data):
    """12 mirrors of one article under different site headers (so exact dedup cannot merge
    them): counted before dedup, every line of the article is 'repeated' and the article is
    lost; counted after dedup, it survives once, whole."""
    pages = c4_pages(shared_data, 31)
    article = pages[0]
    docs = [(f"p{i}", t) for i, t in enumerate(pages[1:])]
    docs += [(f"mirror{i}", f"Reposted by news-site-{i}.example\n{article}") for i in range(12)]
    inputs = [write_jsonl(tmp_path / "in.jsonl", docs)]
    dedup = '[[steps]]\nuse = "exact_dedup"\n[[steps]]\nuse = "minhash_dedup"\n'
    repeated = '[[steps]]\nuse = "repeated_paragraphs"\n'
    for name, steps in (("after", dedup + repeated), ("before", repeated + dedup)):
        config = write_config(tmp_path / f"{name}.toml", steps)
        clean(inputs, str(tmp_path / name), config_path=str(config), progress=False)
    mirrors = {name: [d["text"] for d in rows(tmp_path / name) if d["id"].startswith("mirror")]
               for name in ("after", "before")}
    assert mirrors == {"after": ["Reposted by news-site-0.example\n" + article], "before": []}
