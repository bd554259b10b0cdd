"""Exact and MinHash near-dedup as corpus steps: duplicates found across input files, the
first copy or the most connected copy survives, different documents are never merged."""
import json
import random

import pyarrow.parquet as pq
import pytest

from corpus.clean import clean
from tests.conftest import rows, write_config

DEDUP = """
[[steps]]
use = "exact_dedup"
[[steps]]
use = "minhash_dedup"
"""


def c4_pages(shared_data, n, min_chars=400):
    texts = [json.loads(line)["text"] for line in open(shared_data / "text/c4_demo.jsonl", encoding="utf-8")]
    return [t for t in texts if len(t) >= min_chars][:n]


def zh_paragraphs(shared_data, n):
    texts = [json.loads(line)["text"] for line in
             open(shared_data / "text/zh_wikipedia_cmrc2018_contexts.jsonl", encoding="utf-8")]
    return [t for t in texts if len(t) >= 300][:n]


def edit_words(text, every, seed=0):
    """Replace every `every`-th word by another word of the text (a typo-like edit)."""
    rng = random.Random(seed)
    words = text.split(" ")
    return " ".join(rng.choice(words) if i % every == every - 1 else w for i, w in enumerate(words))


def edit_chars(text, every):
    return "".join("的" if i % every == every - 1 else c for i, c in enumerate(text))


def write_jsonl(path, docs):
    with open(path, "w", encoding="utf-8") as f:
        for doc_id, text in docs:
            f.write(json.dumps({"id": doc_id, "text": text}, ensure_ascii=False) + "\n")
    return str(path)


def run(tmp_path, files, config=DEDUP, workers=2, out="out"):
    cfg = write_config(tmp_path / "dedup.toml", config)
    return clean(files, str(tmp_path / out), config_path=str(cfg), workers=workers,
                 shard_bytes=20_000, progress=False)


def ledger(out):
    return {r["id"]: (r["step"], r["reason"]) for r in rows(out, "removed")}


def test_exact_and_near_duplicates_are_found_across_input_files(tmp_path, shared_data):
    pages = c4_pages(shared_data, 40)
    first = [(f"a{i}", t) for i, t in enumerate(pages[:20])]
    second = [(f"b{i}", t) for i, t in enumerate(pages[20:])]
    second += [("copy-of-a3", "  " + pages[3].upper().replace(" ", "   ") + "\n"),  # case, spacing
               ("edit-of-a5", edit_words(pages[5], 40)),                         # 2.5 % words
               ("nav-of-b7", "Home | News | Sports | Contact\n" + pages[27])]    # added menu
    first += [("edit-of-b2", edit_words(pages[22], 30, seed=1))]
    m = run(tmp_path, [write_jsonl(tmp_path / "first.jsonl", first),
                       write_jsonl(tmp_path / "second.jsonl", second)])
    out = tmp_path / "out"
    removed = ledger(out)
    assert removed == {
        "copy-of-a3": ("exact_dedup", "duplicate_of:a3"),
        "edit-of-a5": ("minhash_dedup", "duplicate_of:a5"),
        "nav-of-b7": ("minhash_dedup", "duplicate_of:b7"),
        "b2": ("minhash_dedup", "duplicate_of:edit-of-b2"),  # a tie: the first file's copy wins
    }
    assert {d["id"] for d in rows(out)} == {i for i, _ in first + second} - set(removed)
    assert m["removed_by"] == {"minhash_dedup:duplicate_of": 3, "exact_dedup:duplicate_of": 1}
    report = pq.read_table(out / "dedup" / "clusters.parquet").to_pylist()
    assert {(r["step"], r["survivor"], tuple(r["members"]), r["size"]) for r in report} == {
        ("exact_dedup", "a3", ("a3", "copy-of-a3"), 2),
        ("minhash_dedup", "a5", ("a5", "edit-of-a5"), 2),
        ("minhash_dedup", "edit-of-b2", ("edit-of-b2", "b2"), 2),
        ("minhash_dedup", "b7", ("b7", "nav-of-b7"), 2),
    }


def test_clusters_that_span_tasks_are_named_and_numbered_in_input_order(tmp_path, shared_data):
    """Three files, three tasks: copies (and copies of copies) in later tasks name their first
    copy; clusters are numbered by their survivor's input order, members in input order."""
    p = c4_pages(shared_data, 7)
    files = [write_jsonl(tmp_path / "f0.jsonl", [(f"a{i}", p[i]) for i in range(5)]),
             write_jsonl(tmp_path / "f1.jsonl", [("b0", p[2]), ("b1", p[5]), ("b2", p[0])]),
             write_jsonl(tmp_path / "f2.jsonl", [("c0", p[2]), ("c1", p[5]), ("c2", p[6])])]
    run(tmp_path, files, config='[[steps]]\nuse = "exact_dedup"\n')
    assert ledger(tmp_path / "out") == {
        "b0": ("exact_dedup", "duplicate_of:a2"), "b2": ("exact_dedup", "duplicate_of:a0"),
        "c0": ("exact_dedup", "duplicate_of:a2"), "c1": ("exact_dedup", "duplicate_of:b1")}
    report = pq.read_table(tmp_path / "out" / "dedup" / "clusters.parquet").to_pylist()
    assert [(r["cluster"], r["survivor"], r["members"], r["size"]) for r in report] == [
        (0, "a0", ["a0", "b2"], 2), (1, "a2", ["a2", "b0", "c0"], 3), (2, "b1", ["b1", "c1"], 2)]


def test_chinese_near_duplicates_are_found_and_distinct_paragraphs_kept(tmp_path, shared_data):
    paragraphs = zh_paragraphs(shared_data, 60)
    docs = [(f"zh{i}", t) for i, t in enumerate(paragraphs)]
    docs += [("zh4-edited", edit_chars(paragraphs[4], 50)), ("zh9-cut", paragraphs[9][:-20])]
    run(tmp_path, [write_jsonl(tmp_path / "zh.jsonl", docs)])
    assert ledger(tmp_path / "out") == {"zh4-edited": ("minhash_dedup", "duplicate_of:zh4"),
                                        "zh9-cut": ("minhash_dedup", "duplicate_of:zh9")}


def test_templated_pages_about_different_people_are_not_merged(tmp_path, shared_data):
    """Two real C4 pages from one template ('This is a placeholder page for <name>'): the
    closest pair of different documents in our labelled set (3-gram Jaccard 0.5)."""
    pages = [t for t in c4_pages(shared_data, 300, min_chars=0) if "placeholder page for" in t]
    assert len(pages) == 2
    docs = [("kerris", pages[0]), ("jo-ann", pages[1]), ("jo-ann-copy", pages[1] + " ")]
    for seed in (0, 1, 2):
        cfg = DEDUP + f"seed = {seed}\n"
        run(tmp_path, [write_jsonl(tmp_path / "t.jsonl", docs)], config=cfg, out=f"out{seed}")
        assert ledger(tmp_path / f"out{seed}") == {"jo-ann-copy": ("exact_dedup", "duplicate_of:jo-ann")}


def test_same_bytes_whatever_the_worker_count(tmp_path, shared_data):
    pages = c4_pages(shared_data, 30)
    docs = [(f"p{i}", t) for i, t in enumerate(pages)] + [(f"e{i}", edit_words(t, 35, i))
                                                           for i, t in enumerate(pages[:10])]
    files = [write_jsonl(tmp_path / "x.jsonl", docs[::2]), write_jsonl(tmp_path / "y.jsonl", docs[1::2])]
    run(tmp_path, files, workers=1, out="one")
    run(tmp_path, files, workers=2, out="two")
    for sub in ("shards", "removed", "dedup"):
        one = sorted((tmp_path / "one" / sub).glob("*.parquet"))
        two = sorted((tmp_path / "two" / sub).glob("*.parquet"))
        assert [p.name for p in one] == [p.name for p in two] and one
        assert all(a.read_bytes() == b.read_bytes() for a, b in zip(one, two))


@pytest.mark.parametrize("option, value", [("threshold", 0), ("ngram", 0), ("num_perm", 4),
                                           ("bands", 20)])
def test_bad_options_are_one_line_errors(tmp_path, option, value):
    from corpus.config import load_config
    from corpus.errors import UserError
    cfg = write_config(tmp_path / "c.toml", f'[[steps]]\nuse = "minhash_dedup"\n{option} = {value}\n')
    with pytest.raises(UserError, match="minhash_dedup"):
        load_config(str(cfg))


def test_a_chain_of_similar_documents_is_not_one_cluster():
    """0~1~2~3 verified pairs: 1 (most neighbours) absorbs 0 and 2; 3 is not similar to 1, so
    it survives instead of being chained into 1's cluster."""
    import numpy as np
    from corpus.dedup.graph import stars
    duplicates, survivors = stars(np.array([0, 1, 2]), np.array([1, 2, 3]))
    assert dict(zip(duplicates.tolist(), survivors.tolist())) == {0: 1, 2: 1}


def test_tokens_are_the_token_pattern_on_every_code_point(shared_data):
    """tokens(), token_stream() and the token hashes cut from it take shortcuts for
    speed; they must give what TOKEN gives, whatever the script, and one hash per token."""
    import re

    from corpus.dedup.hashing import token_hashes
    from corpus.dedup.text import TOKEN, UNSPACED, fold, token_stream, tokens
    every = [chr(c) for c in range(0x40000) if chr(c).isprintable()] + list("\t\n\xa0\u200b\u2028\u3000")
    assert tokens("".join(every)) == TOKEN.findall(fold("".join(every)))
    unspaced = re.compile(f"[{UNSPACED}]").search
    spaced = [c for c in every if not unspaced(c)]  # token_stream's own path, 16 characters a text
    texts = ["a".join(spaced[i:i + 16]) for i in range(0, len(spaced), 16)]
    texts += [*c4_pages(shared_data, 5), *zh_paragraphs(shared_data, 5)]
    seen: dict[int, str] = {}  # hash -> token: one token, one hash, wherever it stands
    hashes, starts = token_hashes([token_stream(t) for t in texts])
    for i, text in enumerate(texts):
        expected = TOKEN.findall(fold(text))
        assert tokens(text) == expected
        assert token_stream(text).split() == [t.encode("utf-8") for t in expected]
        for token, h in zip(expected, hashes[starts[i]:starts[i + 1]].tolist(), strict=True):
            assert seen.setdefault(h, token) == token
    assert len(set(seen.values())) == len(seen) > 4_000


def test_signature_agreement_estimates_jaccard(shared_data):
    from corpus.dedup.minhash import document_signatures
    from corpus.dedup.signatures import similarity
    from corpus.dedup.text import tokens
    page = c4_pages(shared_data, 1, min_chars=3000)[0]
    words = page.split(" ")
    variants = [" ".join(words[: len(words) * k // 10]) for k in (9, 7, 5)]  # truncations

    def jaccard(a, b):
        grams = [{tuple(t[i:i + 3]) for i in range(len(t) - 2)} for t in (tokens(a), tokens(b))]
        return len(grams[0] & grams[1]) / len(grams[0] | grams[1])
    sig = document_signatures([page, *variants], ngram=3, num_perm=256, seed=0)
    for v, s in zip(variants, sig[1:]):
        assert abs(similarity(sig[0], s) - jaccard(page, v)) < 0.1


def test_an_input_file_with_nothing_left_takes_part_without_harm(tmp_path, shared_data):
    """Every document of one file is removed by `length` before the corpus steps run."""
    pages = c4_pages(shared_data, 12)
    files = [write_jsonl(tmp_path / "short.jsonl", [("s1", "too short"), ("s2", "also short")]),
             write_jsonl(tmp_path / "long.jsonl", [(f"p{i}", t) for i, t in enumerate(pages)]
                         + [("p0-copy", pages[0])])]
    config = '[[steps]]\nuse = "length"\n' + DEDUP + '[[steps]]\nuse = "repeated_paragraphs"\n'
    m = run(tmp_path, files, config=config)
    assert m["removed_by"] == {"length:too_short": 2, "exact_dedup:duplicate_of": 1}
