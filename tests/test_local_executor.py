"""The local executor when a worker process dies (a segfault, the kernel's OOM killer): the
map task that kills its worker every time ends in the ledger, and a corpus step's call ends the
run with one line -- instead of waiting forever for a result that never comes."""
import json
import multiprocessing
import os
import signal

import pyarrow.parquet as pq
import pytest

from corpus.clean import clean
from corpus.errors import UserError
from corpus.executors.local import MAX_ATTEMPTS, LocalExecutor


def test_an_input_that_kills_its_worker_every_time_is_quarantined(shared_data, tmp_path):
    poison = tmp_path / "zz_poison.jsonl"
    poison.write_text("".join(json.dumps({"id": f"p{i}", "text": text}) + "\n" for i, text in
                              enumerate(["a fine first document, long enough to keep " * 3,
                                         "this one is POISON to the crash_on step " * 3])))
    config = tmp_path / "poisoned.toml"
    config.write_text('plugins = ["tests.crashing_step"]\n[[steps]]\nuse = "crash_on"\n')
    c4 = shared_data / "text" / "c4_demo.jsonl"
    manifest = clean([str(c4), str(poison)], str(tmp_path / "out"), str(config), workers=2,
                     progress=False)
    ledger = pq.read_table(tmp_path / "out" / "removed").to_pylist()
    assert [(r["id"], r["step"], r["reason"]) for r in ledger] == \
        [("zz_poison.jsonl", "map", f"worker_crashed#{MAX_ATTEMPTS} attempts")]
    records = sum(1 for _ in open(c4, encoding="utf-8"))
    assert manifest["counts"] == {"read": records + 1, "kept": records, "removed": 1}


def _die_on_three(x: int) -> int:
    if x == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return 2 * x


def _die_in_a_worker(x: int) -> int:
    if multiprocessing.parent_process() is not None:
        os.kill(os.getpid(), signal.SIGKILL)
    return 2 * x


def test_a_corpus_step_whose_worker_dies_every_time_fails_in_one_line():
    executor = LocalExecutor(2)
    assert executor.map(_die_on_three, [1, 2, 4]) == [2, 4, 8]
    with pytest.raises(UserError, match=f"a worker process died {MAX_ATTEMPTS} times running _die_on_three"):
        executor.map(_die_on_three, [1, 2, 3, 4])
    # a job started with `submit` (finalize's ledger) whose worker dies runs again
    assert executor.submit(_die_in_a_worker, 21)() == 42
    executor.close()
