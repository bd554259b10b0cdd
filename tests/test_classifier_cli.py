"""`xiulian classifier train|eval` as a user runs it, and a trained model inside `xiulian clean`."""
from __future__ import annotations

import csv
import hashlib
import json

import pytest

from tests.classifier_examples import EN_BENIGN, EN_TOXIC, rows
from tests.conftest import manifest, rows as shard_rows, run_cli, write_config


def write_csv(path, records, fields=("text", "label"), bom=False) -> str:
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(fields)
        writer.writerows(records)
    return str(path)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A tiny English toxicity model trained through the CLI, and its training file."""
    folder = tmp_path_factory.mktemp("toy")
    data = write_csv(folder / "toy.csv", rows(EN_TOXIC, EN_BENIGN), bom=True)
    model = str(folder / "toy.bin")
    proc = run_cli("classifier", "train", data, "-o", model, "--epochs", "25", "--lr", "0.5")
    return {"data": data, "model": model, "train_stdout": proc.stdout}


def test_train_prints_holdout_scores_and_saves_model_and_sidecar(toy):
    assert "precision" in toy["train_stdout"] and "F1" in toy["train_stdout"]
    sidecar = json.loads(open(toy["model"] + ".json", encoding="utf-8").read())
    assert sidecar["format"] == "xiulian-fasttext/1" and sidecar["language"] == "en"
    assert sidecar["params"]["epoch"] == 25


def test_eval_json_is_exactly_one_object(toy, tmp_path):
    test = write_csv(tmp_path / "test.csv", [("shut up you worthless moron", 1),
                                             ("the river is lovely this morning", 0)])
    proc = run_cli("classifier", "eval", toy["model"], test, "--json")
    report = json.loads(proc.stdout)
    assert report["f1"] == 1.0 and report["n"] == 2
    assert {"precision", "recall", "f1", "accuracy", "n"} <= set(report)


def test_eval_reads_jsonl_with_named_fields_and_several_positive_values(toy, tmp_path):
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps({"tweet": t, "class": c}) + "\n" for t, c in [
        ("you dumb idiot", 0), ("shut up loser", 1), ("the library opens at nine", 2)]))
    proc = run_cli("classifier", "eval", toy["model"], test, "--text-field", "tweet",
                   "--label-field", "class", "--positive", "0", "--positive", "1", "--json")
    assert json.loads(proc.stdout)["positives"] == 2


def test_quantised_ftz_model(tmp_path):
    data = write_csv(tmp_path / "d.csv", rows(EN_TOXIC, EN_BENIGN, n=400))
    # word bigrams give the matrix enough rows to quantise; dim 4 keeps k-means quick
    proc = run_cli("classifier", "train", data, "-o", tmp_path / "m.ftz", "--word-ngrams", "2",
                   "--dim", "4", check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(run_cli("classifier", "eval", tmp_path / "m.ftz", data, "--json").stdout)
    assert report["f1"] > 0.9


@pytest.mark.parametrize("args, message", [
    (["train", "missing.csv", "-o", "{tmp}/m.bin"], "file not found: missing.csv"),
    (["train", "{data}", "-o", "{tmp}/m.bin", "--text-field", "body"], "no field 'body'"),
    (["train", "{data}", "-o", "{tmp}/m.bin", "--positive", "yes"], "no row has 'label' in ['yes']"),
    (["train", "{data}", "-o", "{tmp}/no/such/dir/m.bin"], "output folder does not exist"),
    (["train", "{data}", "-o", "{tmp}/m.ftz"], "cannot quantise this model"),
    (["train", "{data}", "-o", "{tmp}/m.bin", "--threshold", "1.5"], "--threshold must be between"),
    (["eval", "missing.bin", "{data}"], "model not found: missing.bin"),
])
def test_user_mistakes_exit_2_with_one_line(toy, tmp_path, args, message):
    args = [a.replace("{data}", toy["data"]).replace("{tmp}", str(tmp_path)) for a in args]
    proc = run_cli("classifier", *args, check=False)
    last_line = proc.stderr.strip().splitlines()[-1]  # after the "training on ..." note, if any
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert last_line.startswith("xiulian classifier: error:") and message in last_line


def test_trained_model_runs_in_the_clean_pipeline_with_tiers(toy, tmp_path):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate([
        "you are a worthless idiot, shut up you stupid moron, nobody wants you here",
        "the weather is lovely this morning and we planted tomatoes in the garden",
    ])))
    config = write_config(tmp_path / "c.toml", f"""
[[steps]]
use = "toxicity"
model = "{toy['model']}"
threshold = 0.9
[[steps]]
use = "tier"
tiers = [{{name = "clean", max = {{score_toxicity = 0.2}}}}]
default = "rest"
weights = {{clean = 1.0, rest = 0.5}}
""")
    run_cli("clean", docs, "-o", tmp_path / "out", "--config", config, "-q")
    kept = shard_rows(tmp_path / "out")
    assert manifest(tmp_path / "out")["removed_by"] == {"toxicity:toxic": 1}
    assert len(kept) == 1 and kept[0]["score_toxicity"] < 0.2
    assert json.loads(kept[0]["metadata"])["tier"] == "clean"
    assert json.loads(kept[0]["metadata"])["tier_weight"] == 1.0


def test_davidson_subset_reaches_a_sensible_f1(shared_data, tmp_path):
    """Real tweets: 6000 rows to train, the acceptance split's test part to evaluate."""
    with open(shared_data / "toxicity/davidson_labeled_data.shared80.csv", encoding="utf-8") as f:
        records = list(csv.DictReader(f))
    in_test = [int(hashlib.sha1(("split:" + r["tweet"]).encode()).hexdigest(), 16) % 10 == 0
               for r in records]
    fields = ("tweet", "class")
    train = write_csv(tmp_path / "train.csv", [(r["tweet"], r["class"]) for r, t in
                                               zip(records, in_test) if not t][:6000], fields)
    test = write_csv(tmp_path / "test.csv", [(r["tweet"], r["class"]) for r, t in
                                             zip(records, in_test) if t], fields)
    common = ["--text-field", "tweet", "--label-field", "class", "--positive", "0", "--positive", "1"]
    run_cli("classifier", "train", train, "-o", tmp_path / "tox.bin", *common)
    report = json.loads(run_cli("classifier", "eval", tmp_path / "tox.bin", test, *common,
                                "--json").stdout)
    assert report["n"] > 2000 and report["f1"] > 0.94


def test_train_takes_several_files_with_their_own_field_names(toy, tmp_path):
    """The toy CSV plus a JSONL whose fields are named otherwise: one model on all the rows."""
    extra = tmp_path / "more.jsonl"
    extra.write_text("".join(json.dumps({"content": t, "toxic": 1 - int(l)}) + "\n"
                             for t, l in rows(EN_BENIGN, EN_TOXIC)), encoding="utf-8")
    model = tmp_path / "two.bin"
    run_cli("classifier", "train", toy["data"], extra, "--text-field", "text", "--text-field",
            "content", "--label-field", "label", "--label-field", "toxic", "-o", model, "--epochs", "25")
    sidecar = json.loads((tmp_path / "two.bin.json").read_text(encoding="utf-8"))
    assert sidecar["train_rows"] + sidecar["holdout"]["n"] == 2 * len(rows(EN_TOXIC, EN_BENIGN))
    proc = run_cli("classifier", "train", toy["data"], extra, "--text-field", "a", "--text-field",
                   "b", "--text-field", "c", "-o", model, check=False)
    assert proc.returncode == 2 and "--text-field given 3 times for 2 files" in proc.stderr
