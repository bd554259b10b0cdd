"""Decontamination end to end: `xiulian clean` with a decontam step, and `xiulian decontam` over shards."""
import json
import random

import pytest

from corpus.cli import main
from corpus.decontam.benchmarks import read_records
from tests.conftest import manifest, rows, run_cli, write_config


@pytest.fixture(scope="module")
def planted_docs(shared_data, tmp_path_factory):
    """40 C4 documents; every other one has a GSM8K question and answer pasted in."""
    gsm8k = shared_data / "benchmarks" / "gsm8k_test.jsonl"
    items = list(read_records(str(gsm8k)))
    hosts = [json.loads(line)["text"] for line in open(shared_data / "text" / "c4_demo.jsonl")][:40]
    rng = random.Random(3)
    path = tmp_path_factory.mktemp("decontam") / "docs.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for n, host in enumerate(hosts):
            doc = {"id": f"d{n:02d}", "text": host}
            if n % 2:
                item = items[rng.randrange(len(items))]
                doc["text"] = f"{host}\nQuestion: {item['question']}\nAnswer: {item['answer']}"
            f.write(json.dumps(doc) + "\n")
    return path, gsm8k


def test_clean_with_a_decontam_step_in_the_config(planted_docs, tmp_path):
    docs, gsm8k = planted_docs
    config = write_config(tmp_path / "c.toml", f'[[steps]]\nuse = "decontam"\nbenchmarks = ["{gsm8k}"]\n')
    out = tmp_path / "out"
    assert main(["clean", str(docs), "-o", str(out), "--config", str(config), "--workers", "2", "-q"]) == 0
    removed = rows(out, "removed")
    assert sorted(r["id"] for r in removed) == [f"d{n:02d}" for n in range(1, 40, 2)]
    assert all(r["step"] == "decontam" and r["reason"].startswith("gsm8k_test.jsonl#") for r in removed)
    report = json.loads((out / "decontam.json").read_text())
    assert report["benchmarks"][0]["documents_hit"] == 20
    assert manifest(out)["step_counts"]["decontam"] == {"hit:gsm8k_test.jsonl": 20}


def test_standalone_decontam_over_earlier_shards(planted_docs, tmp_path):
    docs, gsm8k = planted_docs
    config = write_config(tmp_path / "c.toml", '[[steps]]\nuse = "length"\nmin_chars = 1\n')
    run_cli("clean", docs, "-o", tmp_path / "first", "--config", config, "-q")
    proc = run_cli("decontam", tmp_path / "first" / "shards", "--benchmark", gsm8k, "-o", tmp_path / "second")
    assert "decontam:" in proc.stderr and "clean:" not in proc.stderr  # progress says which command
    kept = rows(tmp_path / "second")
    assert sorted(r["id"] for r in kept) == [f"d{n:02d}" for n in range(0, 40, 2)]
    assert {r["source"] for r in kept} == {"docs"}   # shards read back as the same documents
    assert (tmp_path / "second" / "decontam.json").exists()
    # The output folder itself means its shards: not its manifest, run file or removed ledger.
    assert main(["decontam", str(tmp_path / "first"), "--benchmark", str(gsm8k), "-o", str(tmp_path / "third"),
                 "-q"]) == 0
    assert manifest(tmp_path / "third")["counts"] == manifest(tmp_path / "second")["counts"]
    for command in ("dedup", "clean"):
        assert main([command, str(tmp_path / "first"), "-o", str(tmp_path / command), "-q"]) == 0
        assert manifest(tmp_path / command)["counts"]["read"] == 40


def test_benchmark_flags_add_the_step_before_the_corpus_wide_ones(planted_docs):
    from corpus.config import resolve
    from corpus.decontam import with_benchmarks
    _, gsm8k = planted_docs
    config = resolve({"steps": [{"use": "length"}, {"use": "exact_dedup"}]})
    added = with_benchmarks(config, [str(gsm8k)], ["question"])
    assert [s["use"] for s in added["steps"]] == ["length", "decontam", "exact_dedup"]
    assert added["steps"][1]["fields"] == ["question"] and added["steps"][1]["ngram"] == 13
    # An existing decontam step keeps its place and its other options; the files are replaced.
    cut = resolve({"steps": [{"use": "decontam", "benchmarks": [str(gsm8k)], "action": "cut"},
                             {"use": "length"}]})
    updated = with_benchmarks(cut, [str(gsm8k), str(gsm8k)], None)
    assert [s["use"] for s in updated["steps"]] == ["decontam", "length"]
    assert updated["steps"][0]["action"] == "cut" and len(updated["steps"][0]["benchmarks"]) == 2


def test_fields_that_no_record_has_are_a_user_error(planted_docs, tmp_path):
    docs, gsm8k = planted_docs
    proc = run_cli("clean", docs, "-o", tmp_path / "out", "--benchmark", gsm8k,
                   "--benchmark-fields", "prompt,solution", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "no record has the field(s) prompt, solution" in proc.stderr


def test_an_empty_benchmark_is_an_error_and_one_too_short_to_match_is_a_warning(planted_docs, tmp_path, capsys):
    docs, _ = planted_docs
    (tmp_path / "empty.jsonl").write_text("")
    assert main(["decontam", str(docs), "--benchmark", str(tmp_path / "empty.jsonl"), "-o", str(tmp_path / "a")]) == 2
    assert "empty.jsonl: no records" in capsys.readouterr().err
    (tmp_path / "short.jsonl").write_text('{"question": ""}\n{"question": "too short"}\n')
    assert main(["clean", str(docs), "-o", str(tmp_path / "b"), "--benchmark", str(tmp_path / "short.jsonl"),
                 "-q"]) == 0
    assert "short.jsonl: none of its 2 record(s) is long enough to index" in capsys.readouterr().err
    assert manifest(tmp_path / "b")["counts"]["read"] == 40
