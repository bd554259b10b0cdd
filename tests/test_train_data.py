"""Token shards and packing: order from a seed, exact resume, tier weights, a leak-proof split."""
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from train.data.token_shards import LEAKED, TRAIN, VALIDATION, DataConfig, TokenStream, prepare
from train.model.tokenizer import Tokenizer


def write_shard(path, docs):
    """docs: (id, text, tier_weight or None[, tier name]) -> a shard in the cleaner's schema
    (the `tier` step writes both into metadata)."""
    def metadata(d):
        meta = {"tier_weight": d[2]} if d[2] is not None else {}
        return json.dumps({**meta, "tier": d[3]} if len(d) > 3 else meta)
    pq.write_table(pa.table({
        "id": [d[0] for d in docs], "text": [d[1] for d in docs],
        "source": ["test"] * len(docs), "metadata": [metadata(d) for d in docs],
    }), path)
    return path


@pytest.fixture()
def tok(tokenizer_dir):
    return Tokenizer(tokenizer_dir)


def test_stream_packs_documents_with_end_of_text_between(tmp_path, tok):
    texts = [f"document number {i} says hello to the world." for i in range(20)]
    write_shard(tmp_path / "a.parquet", [(f"d{i}", t, None) for i, t in enumerate(texts)])
    data = prepare([str(tmp_path / "a.parquet")], tok, tmp_path / "tokens",
                   DataConfig(val_fraction=0), progress=False)
    stream = TokenStream(data, seq_len=16, eos_id=tok.eos_id, seed=0)
    seqs = stream.next_sequences(8)
    assert seqs.shape == (8, 17)
    assert (seqs[:-1, -1] == seqs[1:, 0]).all()  # each sequence's last target is the next input
    flat = np.concatenate([seqs[0]] + [s[1:] for s in seqs[1:]])
    ends = np.flatnonzero(flat == tok.eos_id)
    assert len(ends) >= 2
    between = [tok.decode(flat[a + 1:b].tolist()) for a, b in zip(ends[:-1], ends[1:])]
    assert all(piece in texts for piece in between)  # whole documents, one per eos


def test_order_is_seeded_and_resume_gives_the_same_sequences(tmp_path, tok):
    write_shard(tmp_path / "a.parquet", [(f"d{i}", f"text {i} " * (i % 7 + 1), None) for i in range(50)])
    data = prepare([str(tmp_path / "a.parquet")], tok, tmp_path / "tokens",
                   DataConfig(val_fraction=0), progress=False)
    a, b, c = (TokenStream(data, 8, tok.eos_id, seed) for seed in (1, 1, 2))
    first = a.next_sequences(100)  # several epochs
    assert (first == b.next_sequences(100)).all()
    assert not (first == c.next_sequences(100)).all()
    resumed = TokenStream(data, 8, tok.eos_id, 1)
    resumed.next_sequences(37)
    state = json.loads(json.dumps(resumed.state_dict()))  # survives a JSON round trip
    fresh = TokenStream(data, 8, tok.eos_id, 1)
    fresh.load_state_dict(state)
    assert (fresh.next_sequences(63) == first[37:]).all()


def test_tier_weights_set_how_often_a_document_is_seen(tmp_path, tok):
    docs = [("high", "alpha beta gamma", 3.0), ("low", "delta epsilon zeta", 1.0),
            ("half", "eta theta iota", 0.5), ("never", "kappa lambda mu", 0.0)]
    write_shard(tmp_path / "a.parquet", docs)
    data = prepare([str(tmp_path / "a.parquet")], tok, tmp_path / "tokens",
                   DataConfig(val_fraction=0), progress=False)
    stream = TokenStream(data, 8, tok.eos_id, 0)
    seen = {0: 0, 1: 0, 2: 0, 3: 0}
    for epoch in range(200):
        for doc in stream._epoch_order(epoch):
            seen[int(doc)] += 1
    assert seen[0] == 600 and seen[1] == 200 and seen[3] == 0
    assert 70 < seen[2] < 130  # about every other epoch
    # A config's source weights multiply the shard's tier weights.
    config = DataConfig(val_fraction=0, source_weights={"test": 2.0})
    data = prepare([str(tmp_path / "a.parquet")], tok, tmp_path / "tokens2", config, progress=False)
    assert data.doc_weight.tolist() == [6.0, 2.0, 1.0, 0.0]


def test_config_tier_weights_override_the_shards_by_tier_name(tmp_path, tok):
    docs = [("h", "alpha beta", 3.0, "high"), ("m", "gamma delta", 1.0, "medium"),
            ("l", "epsilon zeta", 0.0, "low"), ("untiered", "eta theta", None)]
    write_shard(tmp_path / "a.parquet", docs)
    config = DataConfig(val_fraction=0, tier_weights={"high": 1.5, "low": 0.25},
                        source_weights={"test": 2.0})
    data = prepare([str(tmp_path / "a.parquet")], tok, tmp_path / "tokens", config, progress=False)
    # high and low take the config's weight; medium keeps the shard's; untiered documents 1.0.
    assert data.doc_weight.tolist() == [3.0, 2.0, 0.5, 2.0]
    stream = TokenStream(data, 8, tok.eos_id, 0)
    seen = np.bincount(np.concatenate([stream._epoch_order(e) for e in range(200)]), minlength=4)
    assert seen[0] == 600 and seen[1] == 400 and seen[3] == 400 and 70 < seen[2] < 130


def test_validation_documents_and_their_near_copies_never_reach_training(tmp_path, tok, shared_data):
    lines = (shared_data / "text" / "zh_wikipedia_cmrc2018_contexts.jsonl").read_text(encoding="utf-8").splitlines()
    docs = [json.loads(line) for line in lines[:300]]
    config = DataConfig(val_fraction=0.05)
    plain = write_shard(tmp_path / "a.parquet", [(d["id"], d["text"], None) for d in docs])
    data = prepare([str(plain)], tok, tmp_path / "t1", config, progress=False)
    validation = data.split(VALIDATION)
    assert 5 <= len(validation) <= 30
    # Now add, under new ids, a copy of each validation text with a sentence prepended.
    copies = [(f"copy-{i}", "这是一段新的开头。" + docs[i]["text"], None) for i in validation.tolist()]
    shard = write_shard(tmp_path / "b.parquet", [(d["id"], d["text"], None) for d in docs] + copies)
    data = prepare([str(shard)], tok, tmp_path / "t2", config, progress=False)
    assert (data.doc_split[len(docs):] == LEAKED).all()
    assert data.report["dropped_overlapping_validation"] >= len(copies)
    stream = TokenStream(data, 32, tok.eos_id, 0)
    assert set(stream.train_docs.tolist()).isdisjoint(np.flatnonzero(data.doc_split != TRAIN).tolist())


def test_prepare_resumes_and_redoes_when_inputs_change(tmp_path, tok):
    shard = write_shard(tmp_path / "a.parquet", [("a", "one two three", None)])
    prepare([str(shard)], tok, tmp_path / "tokens", DataConfig(val_fraction=0), progress=False)
    token_file = tmp_path / "tokens" / "00000.tokens.npy"
    stamp = token_file.stat().st_mtime_ns
    prepare([str(shard)], tok, tmp_path / "tokens", DataConfig(val_fraction=0), progress=False)
    assert token_file.stat().st_mtime_ns == stamp  # reused
    write_shard(tmp_path / "a.parquet", [("a", "four five six seven", None)])
    data = prepare([str(shard)], tok, tmp_path / "tokens", DataConfig(val_fraction=0), progress=False)
    assert tok.decode(data.tokens_of(0).tolist()) == "four five six seven"


def test_documents_are_read_by_the_record_reader_and_named_by_line(tmp_path, shared_data):
    """JSON Lines and text go through corpus/readers/record_files.py: a broken line or a record
    without text is no document, and one without an id is named by its line (its row from 0 in
    Parquet), so the validation split does not move."""
    from train.data.shards import read_docs
    with open(shared_data / "text" / "zh_wikipedia_cmrc2018_contexts.jsonl", encoding="utf-8") as f:
        wiki = [json.loads(next(f))["text"].replace("\n", " ") for _ in range(3)]
    (tmp_path / "mixed.jsonl").write_text(
        json.dumps({"text": wiki[0], "id": "w0"}) + "\n\n{broken\n" + json.dumps({"title": "x"}) + "\n"
        + json.dumps({"text": wiki[1]}) + "\n", encoding="utf-8")
    (tmp_path / "lines.txt").write_text(f"{wiki[0]}\r\n\r\n{wiki[2]}\n", encoding="utf-8")
    write_shard(tmp_path / "rows.parquet", [("p0", wiki[0], 2.0, "high")])
    pq.write_table(pa.table({"text": [wiki[1]]}), tmp_path / "bare.parquet")
    docs = {name: [(d.id, d.text, d.source, d.tier, d.tier_weight)
                   for batch in read_docs(str(tmp_path / name)) for d in batch]
            for name in ("mixed.jsonl", "lines.txt", "rows.parquet", "bare.parquet")}
    assert docs == {
        "mixed.jsonl": [("w0", wiki[0], "mixed", None, 1.0), ("mixed:5", wiki[1], "mixed", None, 1.0)],
        "lines.txt": [("lines:1", wiki[0], "lines", None, 1.0), ("lines:3", wiki[2], "lines", None, 1.0)],
        "rows.parquet": [("p0", wiki[0], "test", "high", 2.0)],
        "bare.parquet": [("bare:0", wiki[1], "bare", None, 1.0)]}
