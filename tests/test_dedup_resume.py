"""A dedup stage that dies half-way resumes from its finished sub-stages to the same bytes."""
import pytest

from corpus.clean import clean
from corpus.dedup import minhash, repeated
from tests.conftest import write_config
from tests.test_dedup import c4_pages, edit_words, write_jsonl
from tests.test_dedup_repeated import ADVERT, paste

CONFIG = """
[[steps]]
use = "exact_dedup"
[[steps]]
use = "minhash_dedup"
[[steps]]
use = "repeated_paragraphs"
max_docs = 3
"""


def files(tmp_path, shared_data):
    pages = c4_pages(shared_data, 24)
    docs = [(f"p{i}", paste(t, ADVERT) if i % 3 == 0 else t) for i, t in enumerate(pages)]
    docs += [(f"e{i}", edit_words(t, 40, i)) for i, t in enumerate(pages[:8])]
    return [write_jsonl(tmp_path / "a.jsonl", docs[::2]), write_jsonl(tmp_path / "b.jsonl", docs[1::2])]


def outputs(out):
    return {p.relative_to(out).as_posix(): p.read_bytes()
            for sub in ("shards", "removed", "dedup") for p in sorted((out / sub).glob("*.parquet"))}


def crash(*args, **kwargs):
    raise RuntimeError("killed")


@pytest.mark.parametrize("module, first_step, last_step", [
    (minhash, "document_signatures", "stars"), (repeated, "_keys", "_write_report")])
def test_a_stage_killed_before_its_last_sub_stage_resumes_to_the_same_bytes(
        tmp_path, shared_data, monkeypatch, module, first_step, last_step):
    inputs = files(tmp_path, shared_data)
    config = str(write_config(tmp_path / "c.toml", CONFIG))
    clean(inputs, str(tmp_path / "ref"), config_path=config, workers=2, progress=False)
    with monkeypatch.context() as patch:
        patch.setattr(module, last_step, crash)
        with pytest.raises(RuntimeError, match="killed"):
            clean(inputs, str(tmp_path / "out"), config_path=config, workers=1, progress=False)
    assert list((tmp_path / "out" / "global").glob("*.work"))
    with monkeypatch.context() as patch:  # finished sub-stages are not redone
        patch.setattr(module, first_step, crash)
        clean(inputs, str(tmp_path / "out"), config_path=config, workers=1, progress=False)
    assert outputs(tmp_path / "out") == outputs(tmp_path / "ref")
    assert len(outputs(tmp_path / "ref")) >= 4
