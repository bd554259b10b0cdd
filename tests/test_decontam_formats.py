"""Decontamination inputs: benchmark files of every shape, and the normalisation both sides share."""
import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus.decontam.benchmarks import read_records, record_strings
from corpus.decontam.normalize import normalize, tokenize
from corpus.errors import UserError

SHARED_BENCHMARKS = {  # file -> records, as listed in shared/data/SOURCES.md
    "arc_challenge_test.jsonl": 1150, "cmmlu_test.csv": 11582, "gsm8k_test.jsonl": 1319,
    "hellaswag_val.jsonl.gz": 10042, "humaneval.jsonl.gz": 164, "mmlu_test.csv.gz": 14042,
}


def words(text):
    return normalize(text).split()


def test_full_width_punctuation_case_and_spacing_vanish():
    assert tokenize("Question：Ｊａｎｅｔ’s ducks lay １６ eggs…").hashes.tolist() == \
        tokenize("question: janet's  ducks\nlay 16 eggs...").hashes.tolist()
    assert normalize("ﬁnal ½") == "final 1⁄2"          # NFKC spells out ligatures


def test_chinese_characters_are_tokens_and_punctuation_width_does_not_matter():
    tokens = tokenize("下列说法，正确的是（ ）")
    assert len(tokens) == 8 and tokens.cjk.all()
    assert tokens.hashes.tolist() == tokenize("下列 说法, 正确的是()").hashes.tolist()


def test_mixed_script_keeps_words_whole_and_splits_han():
    tokens = tokenize("在24～26°C的条件下 use Python3")
    text = normalize("在24～26°C的条件下 use Python3")
    assert [text[a:b] for a, b in zip(tokens.starts, tokens.ends)] == \
        ["在", "24", "26", "c", "的", "条", "件", "下", "use", "python3"]


@pytest.mark.parametrize("name", sorted(SHARED_BENCHMARKS))
def test_every_shared_benchmark_reads_with_no_per_file_code(shared_data, name):
    records = list(read_records(str(shared_data / "benchmarks" / name)))
    assert len(records) == SHARED_BENCHMARKS[name]
    assert all(record_strings(r) for r in records[:50])


def test_nested_records_flatten_and_fields_narrow(shared_data):
    arc = next(read_records(str(shared_data / "benchmarks" / "arc_challenge_test.jsonl")))
    everything = record_strings(arc)
    assert arc["question"]["stem"] in everything and "Planetary days will become shorter." in everything
    assert record_strings(arc, ["question.stem"]) == [arc["question"]["stem"]]
    assert record_strings(arc, ["question.choices.text"])[2] == "Planetary days will become shorter."
    hellaswag = next(read_records(str(shared_data / "benchmarks" / "hellaswag_val.jsonl.gz")))
    assert record_strings(hellaswag, ["endings"]) == hellaswag["endings"]   # a list of strings


RECORDS = [{"id": "q1", "question": "What is two plus two?", "answer": "four", "n": 4},
           {"id": "q2", "question": "Name the largest planet.", "answer": "Jupiter", "n": 5}]


def write_all_formats(folder):
    lines = "".join(json.dumps(r) + "\n" for r in RECORDS)
    (folder / "a.jsonl").write_text(lines)
    with gzip.open(folder / "b.jsonl.gz", "wt") as f:
        f.write(lines)
    (folder / "c.json").write_text(json.dumps(RECORDS))
    (folder / "d.json").write_text(json.dumps({r["id"]: r for r in RECORDS}))
    (folder / "e.json").write_text(json.dumps({"version": 2, "data": RECORDS}))
    (folder / "f.csv").write_text("\ufeffid,question,answer,n\n" + "".join(
        f'{r["id"]},"{r["question"]}",{r["answer"]},{r["n"]}\n' for r in RECORDS))
    (folder / "g.tsv").write_text("id\tquestion\tanswer\tn\n" + "".join(
        f'{r["id"]}\t{r["question"]}\t{r["answer"]}\t{r["n"]}\n' for r in RECORDS))
    pq.write_table(pa.Table.from_pylist(RECORDS), folder / "h.parquet")
    return sorted(folder.iterdir())


def test_every_format_gives_the_same_records(tmp_path):
    for path in write_all_formats(tmp_path):
        records = list(read_records(str(path)))
        assert [record_strings(r, ["question", "answer"]) for r in records] == \
            [["What is two plus two?", "four"], ["Name the largest planet.", "Jupiter"]], path.name
        assert "q1" in record_strings(records[0])   # every string field by default


def test_plain_text_is_one_item_per_line(tmp_path):
    (tmp_path / "items.txt").write_text("first item\n\nsecond item\n")
    assert list(read_records(str(tmp_path / "items.txt"))) == ["first item", "second item"]


def test_unreadable_benchmarks_are_user_errors(tmp_path):
    (tmp_path / "broken.jsonl").write_text('{"question": "fine"}\n{not json\n')
    with pytest.raises(UserError, match="broken.jsonl"):
        list(read_records(str(tmp_path / "broken.jsonl")))
    with pytest.raises(UserError, match="unknown format"):
        list(read_records(str(tmp_path / "items.docx")))


@pytest.mark.parametrize("name", ["bench.jsonl", "bench.json", "bench.jsonl.gz"])
def test_a_broken_line_is_reported_by_its_line_in_the_file(shared_data, tmp_path, name):
    """JSON Lines (even saved as .json) is read by the project's one record reader, which names the
    file's line: a broken second line is line 2, not "line 1 column 40" of that line alone."""
    first = (shared_data / "benchmarks" / "gsm8k_test.jsonl").read_text(encoding="utf-8").splitlines()[0]
    text = first + '\n{"question": "Natalia sold clips" "answer": 72}\n' + first + "\n"
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    with pytest.raises(UserError) as error:
        list(read_records(str(path)))
    assert str(error.value) == f"{path}, line 2: not valid JSON (Expecting ',' delimiter, column 35)"
