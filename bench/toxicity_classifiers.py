"""The toxicity classifiers' scores and speed: `xiulian classifier train/eval` on Davidson (en)
and COLD (zh), full and quantised, plus the `toxicity` step's documents/s.

Davidson is split as in the acceptance check (a tweet is test iff sha1("split:" + tweet) % 10
== 0); COLD uses its official dev split. Every command is the real CLI in a subprocess; its
wall clock is the train time. Training uses `thread=1`, seed 0, so the scores are the same on
every run. Writes the "## Classifiers" section of docs/BENCHMARKS.md.

    .venv/bin/python bench/toxicity_classifiers.py [--work /tmp/toxicity-bench]
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from benchdocs import command, machine_line, versions, write_section  # noqa: E402

DATA = Path(os.environ.get("XIULIAN_SHARED_DATA", ROOT.parent / "shared" / "data"))
XIULIAN = Path(sys.executable).parent / "xiulian"
SECTION = "## Classifiers"
DAVIDSON = ["--text-field", "tweet", "--label-field", "class", "--positive", "0", "--positive", "1"]
COLD = ["--text-field", "TEXT", "--label-field", "label", "--positive", "1"]
TOXICN = ["--text-field", "content", "--label-field", "toxic", "--positive", "1"]


def split_davidson(work: Path) -> tuple[Path, Path]:
    """davidson_train.csv / davidson_test.csv by the acceptance check's hash of the tweet."""
    with open(DATA / "toxicity/davidson_labeled_data.shared80.csv", encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    paths = work / "davidson_train.csv", work / "davidson_test.csv"
    for path, want_test in zip(paths, (False, True)):
        with open(path, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(r for r in rows if (int(hashlib.sha1(("split:" + r["tweet"]).encode())
                                                     .hexdigest(), 16) % 10 == 0) == want_test)
    return paths


def cli(*args) -> tuple[dict, float]:
    """Run `xiulian ARGS --json`: (its JSON report, wall seconds)."""
    start = time.perf_counter()
    run = subprocess.run([str(XIULIAN), *map(str, args), "--json"], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if run.returncode:
        raise SystemExit(f"xiulian {' '.join(map(str, args))} failed:\n{run.stderr[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1]), seconds


def step_speed(step, texts: list[str], language: str, passes: int = 3) -> tuple[float, float]:
    """(docs/s, M characters/s) of a classifier step's `apply`, model loaded, median of `passes`
    after a warm-up pass."""
    from corpus.document import Document
    docs = [Document(id=str(i), text=t, language=language) for i, t in enumerate(texts)]
    step.setup()
    times = []
    for _ in range(passes + 1):
        start = time.perf_counter()
        for doc in docs:
            step.apply(doc)
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times[1:])
    return len(docs) / seconds, sum(map(len, texts)) / seconds / 1e6


def jsonl_texts(name: str) -> list[str]:
    return [json.loads(line)["text"] for line in open(DATA / "text" / name, encoding="utf-8")]


def measure(work: Path) -> list[dict]:
    davidson_train, davidson_test = split_davidson(work)
    cases = [("tox_en", davidson_train, davidson_test, DAVIDSON, "Davidson test"),
             ("tox_zh", DATA / "toxicity/cold_train.csv", DATA / "toxicity/cold_dev.csv", COLD, "COLD dev")]
    rows = []
    for name, train, test, fields, label in cases:
        model, small = work / f"{name}.bin", work / f"{name}.ftz"
        holdout, seconds = cli("classifier", "train", train, *fields, "-o", model)
        rows.append({**holdout, "model": model.name, "on": "training holdout (10%)",
                     "size": model.stat().st_size, "train_s": seconds})
        rows.append({"model": model.name, "on": f"**{label}**", "bold": True,
                     **cli("classifier", "eval", model, test, *fields)[0]})
        rows.append({"model": model.name, "on": f"{label}, threshold 0.5",
                     **cli("classifier", "eval", model, test, *fields, "--threshold", "0.5")[0]})
        _, seconds = cli("classifier", "train", train, *fields, "-o", small)
        rows.append({"model": f"{small.name} (quantised)", "on": label, **cli("classifier", "eval", small,
                     test, *fields)[0], "size": small.stat().st_size, "train_s": seconds})
        print(f"{name}: {label} F1 {rows[-3]['f1']:.4f}", flush=True)
    toxicn = DATA / "toxicity/toxicn_test.json"  # ToxiCN: labelled apart from COLD; never trained on
    rows.append({"model": "tox_zh.bin", "on": "**ToxiCN test** (cross-dataset)", "bold": True,
                 **cli("classifier", "eval", work / "tox_zh.bin", toxicn, *TOXICN)[0]})
    rows_model = work / "tox_zh_rows.bin"
    _, seconds = cli("classifier", "train", DATA / "toxicity/cold_train.csv", *COLD, "--lexicon-rows",
                     "-o", rows_model)
    for on, data, fields in (("COLD dev", DATA / "toxicity/cold_dev.csv", COLD),
                             ("ToxiCN test (cross-dataset)", toxicn, TOXICN)):
        rows.append({"model": "tox_zh_rows.bin (`--lexicon-rows`)", "on": on,
                     **cli("classifier", "eval", rows_model, data, *fields)[0]})
    rows[-2]["train_s"] = seconds
    for threshold in ("0.3", "0.1"):  # the trade-off a lower threshold buys: read, not tuned
        for on, data, fields in (("COLD dev", DATA / "toxicity/cold_dev.csv", COLD),
                                 ("ToxiCN test", toxicn, TOXICN)):
            rows.append({"model": "tox_zh_rows.bin", "on": f"{on}, threshold {threshold}",
                         **cli("classifier", "eval", rows_model, data, *fields,
                               "--threshold", threshold)[0]})
    return rows


def report(rows: list[dict], speed: dict, argv: list[str]) -> str:
    from filters.fasttext_model import TrainParams
    en, zh = TrainParams.for_language("en"), TrainParams.for_language("zh")
    grams = {1: "unigrams", 2: "word bigrams", 3: "word trigrams"}
    table = ["| model | evaluated on | n | threshold | precision | recall | F1 | accuracy | size | train time |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        f1 = f"**{r['f1']:.4f}**" if r.get("bold") else f"{r['f1']:.4f}"
        size = f"{r['size'] / 2**20:.1f} MiB" if "size" in r else ""
        train_s = f"{r['train_s']:.1f} s" if "train_s" in r else ""
        table.append(f"| {r['model']} | {r['on']} | {r['n']} | {r['threshold']:.2f} | {r['precision']:.4f} | "
                     f"{r['recall']:.4f} | {f1} | {r['accuracy']:.4f} | {size} | {train_s} |")
    cold_f1 = next(r["f1"] for r in rows if r["on"] == "**COLD dev**")
    return "\n".join([
        SECTION, "",
        f"fastText toxicity classifiers trained and scored with `xiulian classifier` "
        f"({versions(['fasttext-wheel', 'jieba'])}; {machine_line()}; `thread=1`, seed 0, so every "
        f"score below is reproducible byte for byte). Measured {time.strftime('%Y-%m-%d %H:%M')} by "
        f"`{command(__file__, argv)}`. Defaults: English {en.epoch} epochs, lr {en.lr}, "
        f"{grams.get(en.word_ngrams, en.word_ngrams)}, dim {en.dim}; Chinese (characters + jieba words) "
        f"{zh.epoch} epochs, lr {zh.lr}, {grams.get(zh.word_ngrams, zh.word_ngrams)}, dim {zh.dim}, "
        f"{zh.bucket // 1000}k buckets. Threshold = F1-best on the 10% training holdout, saved with the "
        "model.", "",
        "Davidson (`davidson_labeled_data.shared80.csv`, split as in the acceptance check: a tweet is test "
        "iff `sha1(\"split:\" + tweet) % 10 == 0`; positive = class 0 hate or 1 offensive):", "",
        "```",
        "xiulian classifier train davidson_train.csv " + " ".join(DAVIDSON) + " -o tox_en.bin",
        "xiulian classifier eval tox_en.bin davidson_test.csv " + " ".join(DAVIDSON) + " --json",
        "```", "",
        "COLD (Deng et al. 2022; the official dev split, never used for tuning) and, for how the "
        "model generalises, ToxiCN's test split (Lu et al. 2023: Zhihu and Tieba posts labelled by "
        "other authors; never trained or tuned on):", "",
        "```",
        "xiulian classifier train ../shared/data/toxicity/cold_train.csv " + " ".join(COLD) + " -o tox_zh.bin",
        "xiulian classifier eval tox_zh.bin ../shared/data/toxicity/cold_dev.csv " + " ".join(COLD) + " --json",
        "xiulian classifier eval tox_zh.bin ../shared/data/toxicity/toxicn_test.json " + " ".join(TOXICN) + " --json",
        "```", "", *table, "",
        "Chinese models get the built-in word lists as features (`filters/lexicon_features.py`: "
        "`badwords_zh` and `offensive_zh`, a token per category found); `--lexicon-rows` also trains "
        "on the offensive words as positive rows. Before the lists, the same command scored COLD dev "
        "0.9026 and ToxiCN 0.5601 (precision 0.742, recall 0.450); with the first, 166-word "
        "`offensive_zh` 0.570 (0.595 with `--lexicon-rows`). ToxiCN is 52.8% toxic, so calling every "
        "post toxic scores F1 0.691 there: the target of 0.70 is **not met**, and no threshold reaches "
        "it while COLD dev stays at 0.90 (the threshold rows above: COLD dev falls below 0.90 between "
        "0.3 and 0.2, ToxiCN reaches 0.70 only near 0.1). What was tried, each setting chosen on "
        "COLD alone and ToxiCN read once per setting (docs/filters.md, \"Generalising beyond one "
        "dataset\", has every number): model settings (unigrams, 10 epochs, dim 100, one-vs-all "
        "loss, character sub-words, characters or words alone, bagging over COLD's topics: ToxiCN "
        "0.58-0.64, the better ones with COLD dev below 0.90), rule-based overrides (a listed word "
        "makes a post toxic: COLD dev 0.896), HateCheck-style template rows (0.623), LDNOOBW's "
        "Chinese list as more rows (0.639). A bag of n-grams learns COLD's vocabulary; ToxiCN's "
        "paper describes much of its toxicity as implicit, and its LGBT topic is one COLD lacks.", "",
        "Train time = wall clock of the whole `train` command (reading, jieba, training, holdout scoring, "
        f"quantising). COLD dev F1 {cold_f1:.4f} {'clears' if cold_f1 >= 0.90 else 'misses'} the 0.90 "
        "target; it sits at what a bag-of-n-grams model gets from this data (5-fold CV on cold_train: "
        "0.902, table below), and no setting tried on the training data did clearly better. It is not "
        "comparable with the COLD paper's BERT detector (~0.81 accuracy), which is measured on COLD's "
        "separately annotated *test* split (not in ../shared/data); the dev split comes from the same "
        "process as train.", "",
        "How the defaults were chosen (a record of the tuning, run once; this script does not re-run it): "
        "5-fold cross-validation on the *training* files only (folds by SHA-1 of the text; F1 of the "
        "positive class at 0.5 over all out-of-fold scores), `thread=1`:", "",
        *CV_RECORD, "",
        f"**Step speed** (one process, model loaded, `apply` per document, a list of one text per "
        f"`predict` call; median of 3 passes after a warm-up): tox_en on C4 documents "
        f"{speed['en'][0]:,.0f} docs/s ({speed['en'][1]:.1f} M characters/s); tox_zh on Chinese Wikipedia "
        f"paragraphs {speed['zh'][0]:,.0f} docs/s ({speed['zh'][1]:.2f} M characters/s, jieba-bound). "
        "The quality model: section \"Quality classifier\".", ""])


CV_RECORD = """\
| data | setting | CV F1 |
|---|---|---:|
| Davidson train | **5 epochs, lr 0.25, unigrams** | **0.9694** |
| Davidson train | 5 epochs, lr 0.1, unigrams | 0.9696 |
| Davidson train | 5 epochs, lr 0.25, word bigrams | 0.9686 |
| Davidson train | 10 epochs, lr 0.25, word bigrams | 0.9690 |
| Davidson train | 5 epochs, lr 0.25, unigrams + sub-words 3–5 | 0.9703 (3× slower, within noise) |
| COLD train | **chars + jieba words, 5 epochs, lr 0.2, bigrams, 200k buckets** | **0.9023** |
| COLD train | same, 2M buckets (260 MB model) | 0.9020 |
| COLD train | same, lr 0.5 | 0.8986 |
| COLD train | same, trigrams | 0.9018 |
| COLD train | same, 10 epochs | 0.8993 |
| COLD train | characters only, bigrams / trigrams | 0.8992 / 0.9002 |
| COLD train | jieba words only, bigrams (10% holdout) | 0.886 |

Negative results on COLD: dim 10 or 100 instead of 32 and averaging a characters-only and a
characters+words model (CV), `minCount` 2 and hierarchical softmax (10% holdout) all land
within ±0.002 of the default. fastText skip-gram vectors pretrained on the training text (+ Chinese Wikipedia and
OpenAssistant answers) as `pretrainedVectors` gain +0.003 but cost 75–115 s of pretraining,
past the 60 s budget. Training on 90% instead of 80% of the data moved CV F1 by +0.0006, so
refitting on the holdout is not worth losing the honest holdout score.""".splitlines()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/toxicity-bench"), help="models and splits go here")
    ap.add_argument("--no-docs", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    argv = sys.argv[1:] if argv is None else argv
    args = ap.parse_args(argv)
    if not XIULIAN.exists():
        raise SystemExit(f"{XIULIAN} not found: install xiulian into the venv first")
    args.work.mkdir(parents=True, exist_ok=True)
    rows = measure(args.work)
    from filters.classifier_steps import Toxicity
    speed = {"en": step_speed(Toxicity(model=str(args.work / "tox_en.bin")), jsonl_texts("c4_demo.jsonl"), "en"),
             "zh": step_speed(Toxicity(model=str(args.work / "tox_zh.bin")),
                              jsonl_texts("zh_wikipedia_cmrc2018_contexts.jsonl"), "zh")}
    section = report(rows, speed, argv)
    print(section)
    if not args.no_docs:
        write_section(SECTION, section)


if __name__ == "__main__":
    main()
