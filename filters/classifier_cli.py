"""`xiulian classifier train|eval`: thin shells over filters.fasttext_model."""
from __future__ import annotations

import argparse
import json
import os
import sys

from corpus.errors import UserError

TRAIN_EXAMPLE = ("xiulian classifier train labeled.csv --text-field tweet --label-field class "
                 "--positive 0 --positive 1 -o toxic_en.bin\n"
                 "  xiulian classifier train cold_train.csv --text-field TEXT --label-field label "
                 "--positive 1 -o toxic_zh.ftz --lang zh\n"
                 "  xiulian classifier train cold_train.csv more.jsonl --text-field TEXT "
                 "--text-field content --label-field label --label-field toxic -o toxic_zh.bin")
EVAL_EXAMPLE = ("xiulian classifier eval toxic_en.bin test.csv --text-field tweet "
                "--label-field class --positive 0 --positive 1 --json")


def add_parser(sub, command) -> None:
    """Register `classifier` on the CLI; `command` is corpus.cli's sub-command factory."""
    parser = command(sub, "classifier", "Train and evaluate fastText text classifiers "
                     "(toxicity, quality) for the `toxicity` and `quality_classifier` steps.",
                     "xiulian classifier train data.csv --text-field text --label-field label "
                     "--positive 1 -o model.bin")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    _add_train(actions, command)
    _add_eval(actions, command)


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--text-field", action="append", metavar="NAME",
                   help="column/field holding the text (default: text); with several files, "
                        "once for all or once per file, in order")
    p.add_argument("--label-field", action="append", metavar="NAME",
                   help="column/field holding the label (default: label); once for all files "
                        "or once per file")
    p.add_argument("--positive", action="append", metavar="V",
                   help="label value(s) that count as positive, repeatable (default: 1); "
                        "every other value is negative")


def _add_train(actions, command) -> None:
    p = command(actions, "train", "Train a binary fastText classifier on labelled CSV, JSONL or "
                "Parquet; print precision/recall/F1 on a hashed holdout; save MODEL and "
                "MODEL.json (how it tokenises, its threshold, its holdout scores).", TRAIN_EXAMPLE)
    p.add_argument("data", metavar="DATA", nargs="+",
                   help=".csv/.tsv (UTF-8, BOM ok), .jsonl or .parquet; several files train one "
                        "model on all their rows (the holdout is drawn from each alike)")
    _add_data_options(p)
    p.add_argument("-o", "--output", required=True, metavar="MODEL",
                   help="model file; a name ending in .ftz saves a quantised (smaller) model")
    p.add_argument("--lang", choices=("auto", "en", "zh"), default="auto",
                   help="tokenisation and tuned defaults: zh adds jieba words to characters")
    p.add_argument("--epochs", type=int, help="passes over the data (default: per language)")
    p.add_argument("--lr", type=float, help="learning rate (default: per language)")
    p.add_argument("--dim", type=int, help="vector size (default: 32)")
    p.add_argument("--word-ngrams", type=int, help="token n-grams (default: en 1, zh 2)")
    p.add_argument("--threshold", type=float,
                   help="decision threshold saved with the model (default: F1-best on the holdout)")
    p.add_argument("--lexicon-rows", action="store_true",
                   help="toxicity models: add the built-in offensive words (filters/lists/"
                        "offensive_zh.txt) as positive rows; Chinese models always get the "
                        "built-in lists as features")
    p.add_argument("--holdout-percent", type=int, default=10,
                   help="share of rows (by hash of the text) held out for evaluation")
    p.add_argument("--seed", type=int, default=0, help="fastText's random seed")
    p.add_argument("--threads", type=int, default=1,
                   help="training threads; only 1 gives bit-for-bit repeatable models")
    p.add_argument("--json", action="store_true", help="print the holdout report as one JSON object")
    p.set_defaults(run=run_train)


def _add_eval(actions, command) -> None:
    p = command(actions, "eval", "Score a trained classifier on labelled data: precision, "
                "recall, F1 of the positive class, accuracy, n.", EVAL_EXAMPLE)
    p.add_argument("model", metavar="MODEL", help="a model from `xiulian classifier train`")
    p.add_argument("data", metavar="DATA", help=".csv/.tsv, .jsonl or .parquet")
    _add_data_options(p)
    p.add_argument("--threshold", type=float, help="decision threshold (default: the model's)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object")
    p.set_defaults(run=run_eval)


def run_train(args) -> int:
    from .classifier_data import guess_language, load_examples
    from .fasttext_model import TrainParams, train
    for name, value in (("--epochs", args.epochs), ("--dim", args.dim),
                        ("--word-ngrams", args.word_ngrams), ("--threads", args.threads)):
        if value is not None and value < 1:
            raise UserError(f"{name} must be at least 1")
    if not 1 <= args.holdout_percent <= 50:
        raise UserError("--holdout-percent must be between 1 and 50")
    _check_threshold(args.threshold)
    out_dir = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(out_dir):
        raise UserError(f"output folder does not exist: {out_dir}")
    examples = [e for path, text_field, label_field in _files_and_fields(args)
                for e in load_examples(path, text_field, label_field, args.positive or ["1"])]
    lang = guess_language(examples) if args.lang == "auto" else args.lang
    params = TrainParams.for_language(lang, epoch=args.epochs, lr=args.lr, dim=args.dim,
                                      word_ngrams=args.word_ngrams, seed=args.seed,
                                      thread=args.threads)
    print(f"training on {len(examples)} rows ({sum(e.positive for e in examples)} positive), "
          f"language {lang}, holdout {args.holdout_percent}%", file=sys.stderr)
    classifier, report = train(examples, lang=lang, params=params, threshold=args.threshold,
                               holdout_percent=args.holdout_percent,
                               quantize=args.output.lower().endswith(".ftz"),
                               lexicon_rows=args.lexicon_rows)
    classifier.save(args.output)
    if args.json:
        print(json.dumps({**report, "model": args.output}, sort_keys=True))
    else:
        _print_report(f"holdout ({args.holdout_percent}% of {', '.join(args.data)})", report)
        print(f"saved {args.output} ({os.path.getsize(args.output) / 2**20:.1f} MiB) "
              f"and {args.output}.json")
    return 0


def run_eval(args) -> int:
    from .classifier_data import load_examples
    from .fasttext_model import evaluate, load_classifier
    _check_threshold(args.threshold)
    classifier = load_classifier(args.model)
    [(path, text_field, label_field)] = _files_and_fields(args)
    examples = load_examples(path, text_field, label_field, args.positive or ["1"])
    report = evaluate(classifier, examples, args.threshold)
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        _print_report(args.data, report)
    return 0


def _files_and_fields(args) -> list[tuple[str, str, str]]:
    """(file, text field, label field) for each data file: a field named once holds for all."""
    files = args.data if isinstance(args.data, list) else [args.data]
    fields = []
    for option, values, default in (("--text-field", args.text_field, "text"),
                                    ("--label-field", args.label_field, "label")):
        values = values or [default]
        if len(values) == 1:
            values = values * len(files)
        if len(values) != len(files):
            raise UserError(f"{option} given {len(values)} times for {len(files)} files: "
                            "give it once for all files or once per file")
        fields.append(values)
    return list(zip(files, *fields))


def _check_threshold(value: float | None) -> None:
    if value is not None and not 0.0 < value < 1.0:
        raise UserError("--threshold must be between 0 and 1")


def _print_report(where: str, report: dict) -> None:
    print(f"{where}: n={report['n']} positives={report['positives']} "
          f"threshold={report['threshold']:.2f}")
    print(f"  precision {report['precision']:.4f}  recall {report['recall']:.4f}  "
          f"F1 {report['f1']:.4f}  accuracy {report['accuracy']:.4f}")
