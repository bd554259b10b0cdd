"""The engine's corpus-wide stages: decisions made after the map phase reach shards and ledger."""
from corpus.clean import clean
from corpus.corpus_steps import CorpusStep
from tests.conftest import DEMO_WARC, rows


class KeepOneInThree(CorpusStep):
    """A toy corpus step: drop rows whose position is not a multiple of 3, shout the rest."""

    name = "test_keep_one_in_three"

    def run_corpus(self, corpus):
        for task in range(corpus.n_tasks):
            drops, edits = {}, {}
            for row, record in corpus.rows(task, ["id"]):
                if row % 3:
                    drops[row] = f"not_third:{record['id']}"
                else:
                    edits[row] = record["text"].upper()
            corpus.write_decisions(task, drops, edits)


def test_corpus_step_decisions_reach_shards_ledger_and_counts(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[[steps]]\nuse = "extract"\n[[steps]]\nuse = "test_keep_one_in_three"\n')
    m = clean([str(DEMO_WARC)], str(tmp_path / "out"), config_path=str(config), progress=False)
    kept = rows(tmp_path / "out")
    ledger = [r for r in rows(tmp_path / "out", "removed") if r["step"] == "test_keep_one_in_three"]
    assert kept and all(d["text"] == d["text"].upper() for d in kept)
    assert len(ledger) == m["removed_by"]["test_keep_one_in_three:not_third"] > 0
    assert all(r["reason"] == f"not_third:{r['id']}" for r in ledger)
    c = m["counts"]
    assert c["read"] == c["kept"] + c["removed"] and c["kept"] == len(kept)
    assert not (tmp_path / "out" / "global").exists()


def test_per_document_steps_cannot_follow_a_corpus_step(tmp_path):
    from corpus.config import load_config
    from corpus.errors import UserError
    import pytest
    config = tmp_path / "c.toml"
    config.write_text('[[steps]]\nuse = "test_keep_one_in_three"\n[[steps]]\nuse = "length"\n')
    with pytest.raises(UserError, match="must come before"):
        load_config(str(config))
