"""Cleaning a new batch --against earlier outputs: their exact and near duplicates go, through
the earlier outputs' indexes alone; repeated-line counts carry over; bad --against is refused."""
import json
import os
import shutil

import numpy as np
import pytest

from corpus import fs
from corpus.clean import clean
from tests.conftest import manifest, rows, run_cli, write_config
from tests.test_dedup import c4_pages, edit_words, ledger, write_jsonl

DEDUP = """
[[steps]]
use = "exact_dedup"
[[steps]]
use = "minhash_dedup"
"""


def run(tmp_path, name, docs, against=(), config=DEDUP, out=None, workers=2, shared=None):
    cfg = write_config(tmp_path / "dedup.toml", config)
    out = out or str(tmp_path / name)
    clean([write_jsonl(tmp_path / f"{name}.jsonl", docs)], out, config_path=str(cfg),
          workers=workers, shard_bytes=20_000, progress=False, against=list(against),
          shared_index=shared)
    return out


@pytest.fixture(scope="module")
def pages(shared_data):
    return c4_pages(shared_data, 40)


def test_each_batch_loses_copies_of_what_earlier_batches_kept(tmp_path, pages):
    o1 = run(tmp_path, "o1", [(f"a{i}", t) for i, t in enumerate(pages[:15])]
             + [("a-copy", pages[4] + " ")])                                # removed in batch 1
    second = [("copy-a3", pages[3].upper()),                                 # exact (normalised)
              ("edit-a5", edit_words(pages[5], 40)),                         # near
              ("copy-a4", pages[4]),                                         # of the survivor
              ("b1", pages[20]), ("b1-again", pages[20]),                    # within the batch
              *[(f"b{i}", t) for i, t in enumerate(pages[21:30], start=2)]]
    o2 = run(tmp_path, "o2", second, against=[o1])
    assert ledger(o2) == {
        "copy-a3": ("exact_dedup", f"duplicate_in:{o1}#a3"),
        "copy-a4": ("exact_dedup", f"duplicate_in:{o1}#a4"),
        "edit-a5": ("minhash_dedup", f"duplicate_in:{o1}#a5"),
        "b1-again": ("exact_dedup", "duplicate_of:b1"),
    }
    assert json.loads((tmp_path / "o2/dedup/against.json").read_text())["steps"] == {
        "exact_dedup": {o1: 2}, "minhash_dedup": {o1: 1}}
    # a third batch against both: the first output named wins a tie, each is named in the ledger
    third = [("again-b5", edit_words(pages[24], 35)), ("again-a7", pages[7]), ("c1", pages[35])]
    o3 = run(tmp_path, "o3", third, against=[o2, o1])
    assert ledger(o3) == {"again-b5": ("minhash_dedup", f"duplicate_in:{o2}#b5"),
                          "again-a7": ("exact_dedup", f"duplicate_in:{o1}#a7")}
    assert manifest(o3)["against"] == [{"output": o2, "index": manifest(o3)["against"][0]["index"]},
                                       {"output": o1, "index": manifest(o3)["against"][1]["index"]}]
    stats = json.loads(run_cli("stats", o3, "--json").stdout)
    assert stats["dedup"]["against"] == {"earlier": [o2, o1], "steps": {
        "exact_dedup": {o2: 0, o1: 1}, "minhash_dedup": {o2: 1, o1: 0}}}
    # `xiulian index` rebuilds an index from the shards alone: the same documents are found
    shutil.rmtree(tmp_path / "o1" / "index")
    run_cli("index", o1, "-q")
    o2b = run(tmp_path, "o2b", second, against=[o1], workers=1)
    assert ledger(o2b) == ledger(o2)
    assert [r["text"] for r in rows(o2b)] == [r["text"] for r in rows(o2)]


def test_repeated_lines_are_counted_across_batches(tmp_path, pages):
    config = DEDUP + '[[steps]]\nuse = "repeated_paragraphs"\nmax_docs = 10\nmin_chars = 0\n'
    advert = "Call Sunny Wedding Studio today for a free quote on every package 555-0199"
    first = [(f"a{i}", f"{t}\n{advert}") for i, t in enumerate(pages[:7])]
    o1 = run(tmp_path, "o1", first, config=config)
    assert all(advert in r["text"] for r in rows(o1))                        # 7 documents: kept
    second = [(f"b{i}", f"{t}\n{advert}") for i, t in enumerate(pages[10:16])]
    alone = run(tmp_path, "alone", second, config=config)
    assert all(advert in r["text"] for r in rows(alone))                     # 6 documents: kept
    o2 = run(tmp_path, "o2", second, against=[o1], config=config)
    assert not any(advert in r["text"] for r in rows(o2))                    # 13 in all: cut
    report = json.loads((tmp_path / "o2/dedup/against.json").read_text())
    assert report["steps"]["repeated_paragraphs"] == {"lines_repeated_only_with_earlier": 1}
    # `xiulian index` builds the index a run of the dedup steps over the shards leaves, grams of
    # the repeated lines included: with max_docs = 5 the advert (7 documents) is repeated
    five = write_config(tmp_path / "five.toml", config.replace("max_docs = 10", "max_docs = 5"))
    again = str(tmp_path / "again")
    clean([os.path.join(o1, "shards")], again, config_path=str(five), workers=2, shard_bytes=20_000,
          progress=False)
    assert not any(advert in r["text"] for r in rows(again))
    run_cli("index", o1, "--config", five, "-q")
    built, left = index_contents(o1), index_contents(again)
    assert len(left["grams.npy"]) > 0 and built.keys() == left.keys()
    assert all(np.array_equal(built[name], left[name]) for name in left if name.endswith(".npy"))
    assert [built[name] for name in ("docs", "index.json")] == [left[name] for name in ("docs", "index.json")]


def index_contents(out) -> dict:
    """Every file of OUT/index: arrays, document ids and index.json."""
    folder = os.path.join(out, "index")
    found = {os.path.relpath(os.path.join(d, f), folder): np.load(os.path.join(d, f))
             for d, _, names in os.walk(folder) for f in names if f.endswith(".npy")}
    found["docs"] = fs.read_parquet(os.path.join(folder, "docs.parquet"))["id"].to_pylist()
    found["index.json"] = json.loads(open(os.path.join(folder, "index.json")).read())
    return found


def test_the_index_works_on_an_object_store(tmp_path, pages):
    """fsspec's in-memory filesystem stands in for S3 (whole partitions, ranged signature reads)."""
    fsspec = pytest.importorskip("fsspec")
    bucket = f"memory://xiulian-index-{os.getpid()}"
    try:
        first = [(f"a{i}", t) for i, t in enumerate(pages[:10])]
        second = [("edit-a5", edit_words(pages[5], 40)), ("copy-a2", pages[2]), ("b", pages[30])]
        o1 = run(tmp_path, "o1", first, out=f"{bucket}/o1", workers=1)
        o2 = run(tmp_path, "o2", second, against=[o1], out=f"{bucket}/o2", workers=1)
        removed = {r["id"]: r["reason"] for f in fs.list_names(fs.join(o2, "removed"))
                   for r in fs.read_parquet(fs.join(o2, "removed", f)).to_pylist()}
        assert removed == {"edit-a5": f"duplicate_in:{o1}#a5", "copy-a2": f"duplicate_in:{o1}#a2"}
    finally:
        fsspec.filesystem("memory").rm(bucket, recursive=True)


def test_bad_against_is_a_one_line_error(tmp_path, pages):
    o1 = run(tmp_path, "o1", [(f"a{i}", t) for i, t in enumerate(pages[:5])])
    new = write_jsonl(tmp_path / "new.jsonl", [("n", pages[6])])
    cfg = write_config(tmp_path / "ngram5.toml", DEDUP + "ngram = 5\n")
    no_index = tmp_path / "old"
    shutil.copytree(o1, no_index)
    shutil.rmtree(no_index / "index")
    for against, extra, message in [
            (new, [], "not a clean output (no manifest.json)"),
            (tmp_path / "missing", [], "not a clean output"),
            (o1, ["--config", cfg], "cleaned with minhash_dedup ngram = 3, this run has ngram = 5"),
            (no_index, [], f"it has no dedup index (cleaned before xiulian kept one, or without "
                           f"dedup steps); build it with `xiulian index {no_index}`")]:
        proc = run_cli("clean", new, "-o", tmp_path / "bad", "--against", against, "-q", *extra,
                       check=False)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert message in proc.stderr
        assert not (tmp_path / "bad").exists()


@pytest.fixture
def redis_url(tmp_path):
    """A real Redis server on a free port, for this test only."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (`make test` installs it: apt-get install redis-server)")
    import socket
    import subprocess
    import time
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/corpus"
    finally:
        proc.terminate()
        proc.wait()


def test_a_shared_redis_index_sees_what_earlier_jobs_kept(tmp_path, pages, redis_url):
    from datasketch import MinHashLSH

    from corpus.dedup.index import Index
    from corpus.dedup.shared_index import SharedIndex
    first = [(f"a{i}", t) for i, t in enumerate(pages[:10])]
    o1 = run(tmp_path, "o1", first, shared=redis_url)
    second = [("edit-a5", edit_words(pages[5], 40)), ("copy-a2", pages[2]), ("b", pages[30])]
    o2 = run(tmp_path, "o2", second, shared=redis_url)
    assert ledger(o2) == {"edit-a5": ("minhash_dedup", f"duplicate_in:{o1}#a5"),
                          "copy-a2": ("minhash_dedup", f"duplicate_in:{o1}#a2")}
    # what datasketch itself answers for our signature, as a LeanMinHash, through its own query
    index = Index(o1)
    settings = {**index.meta["parts"]["minhash"]["settings"]}
    shared = SharedIndex(redis_url, settings, 0.6)
    assert isinstance(shared.lsh, MinHashLSH)
    assert f"{o1}#a3".encode() in shared.lsh.query(shared._lean(index.signatures(np.array([3]))[0]))
    cfg = write_config(tmp_path / "ngram5.toml", DEDUP + "ngram = 5\n")
    proc = run_cli("clean", write_jsonl(tmp_path / "n.jsonl", [("n", pages[6])]), "-o",
                   tmp_path / "bad", "--shared-index", redis_url, "--config", cfg, "-q", check=False)
    assert proc.returncode == 2 and "made with minhash_dedup ngram = 3, this run has ngram = 5" in proc.stderr
