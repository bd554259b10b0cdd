"""A second model family for Chinese toxicity: TF-IDF over character 1-4-grams (+ the fastText
model's tokens: characters, jieba words, word-list tokens) and logistic regression.

An experiment, not a product path: scikit-learn is not a dependency of xiulian, so run it with
scikit-learn importable (`pip install scikit-learn` in a scratch venv or `--target` folder on
PYTHONPATH). Every choice comes from COLD's training file: C by 5-fold cross-validation (F1)
over a fixed grid, the threshold F1-best on the same 10% hashed holdout `classifier train`
uses. COLD dev and ToxiCN are read once per setting, at the end; ToxiCN is never trained or
tuned on. Settings:

  A  character 1-4-gram TF-IDF + logistic regression
  B  A's features + TF-IDF over the fastText tokens (with `__lex__` word-list tokens), and the
     offensive list's words as positive rows (as `--lexicon-rows`)
  C  the mean probability of B and the fastText `--lexicon-rows` model (an ensemble)

    PYTHONPATH=SKLEARN_DIR .venv/bin/python bench/toxicity_tfidf_lr.py [A B C] [--grid 10,30,100]

`--grid` limits the C values cross-validated (each costs five fits).

Prints one JSON line per setting; docs/filters.md ("Generalising beyond one dataset") has them.
"""
from __future__ import annotations

import html
import json
import os
import sys
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("XIULIAN_SHARED_DATA", ROOT.parent / "shared" / "data")) / "toxicity"
GRID = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)  # 10 was the top of the first grid (0.3-10)


def main(settings: list[str], grid: tuple[float, ...] = GRID) -> None:
    try:
        import numpy as np
        from scipy.sparse import hstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_score
    except ImportError:
        sys.exit("needs scikit-learn (not a xiulian dependency): pip install scikit-learn")
    from filters import lexicon_features
    from filters.classifier_data import Example, is_holdout, load_examples
    from filters.fasttext_model import Tokenizer, best_threshold, metrics, train

    cold = load_examples(str(DATA / "cold_train.csv"), "TEXT", "label", ["1"])
    fit_rows = [e for e in cold if not is_holdout(e.text)]
    holdout = [e for e in cold if is_holdout(e.text)]
    tokenizer = Tokenizer.for_language("zh")
    lexicon_rows = [Example(w, True) for w in lexicon_features.rows(tokenizer.lexicon)]

    def normalise(text: str) -> str:
        return unicodedata.normalize("NFKC", html.unescape(text)).lower()

    def logistic_regression(with_tokens: bool):
        rows = fit_rows + (lexicon_rows if with_tokens else [])
        vectorizers = [TfidfVectorizer(analyzer="char", ngram_range=(1, 4), sublinear_tf=True,
                                       min_df=2, preprocessor=normalise, dtype=np.float32)]
        if with_tokens:
            # A callable analyzer is all sklearn runs (it skips `preprocessor`): it must tokenise.
            vectorizers.append(TfidfVectorizer(analyzer=lambda text: tokenizer(text).split(),
                                               sublinear_tf=True, dtype=np.float32))
        texts, y = [e.text for e in rows], np.array([e.positive for e in rows])
        X = hstack([v.fit_transform(texts) for v in vectorizers]).tocsr()
        folds = StratifiedKFold(5, shuffle=True, random_state=0)
        cv = {C: cross_val_score(LogisticRegression(C=C, solver="liblinear", max_iter=1000), X, y,
                                 cv=folds, scoring="f1").mean() for C in grid}
        C = max(cv, key=cv.get)
        model = LogisticRegression(C=C, solver="liblinear", max_iter=1000).fit(X, y)

        def score(batch: list[str]) -> list[float]:
            features = hstack([v.transform(batch) for v in vectorizers]).tocsr()
            return model.predict_proba(features)[:, 1].tolist()
        return score, f"C={C} (CV F1 {cv[C]:.4f})"

    def report(name: str, score, note: str) -> None:
        truth = [e.positive for e in holdout]
        threshold = best_threshold(score([e.text for e in holdout]), truth)
        result = {"setting": name, "note": note, "threshold": threshold}
        for label, path, fields in (("cold_dev", "cold_dev.csv", ("TEXT", "label")),
                                    ("toxicn", "toxicn_test.json", ("content", "toxic"))):
            examples = load_examples(str(DATA / path), *fields, ["1"])
            result[label] = metrics(score([e.text for e in examples]),
                                    [e.positive for e in examples], threshold)
        print(json.dumps(result), flush=True)

    scorers = {}
    for name in settings:
        if name in ("A", "B"):
            scorers[name], note = logistic_regression(with_tokens=name == "B")
            report(name, scorers[name], note)
        elif name == "C":
            if "B" not in scorers:
                scorers["B"], _ = logistic_regression(with_tokens=True)
            fasttext_model, _ = train(cold, lang="zh", lexicon_rows=True)

            def mean(batch: list[str]) -> list[float]:
                return [(a + b) / 2 for a, b in zip(scorers["B"](batch), fasttext_model.score(batch))]
            report("C", mean, "mean of B and fastText --lexicon-rows")
        else:
            sys.exit(f"unknown setting {name!r} (A, B or C)")


if __name__ == "__main__":
    args = sys.argv[1:]
    grid = GRID
    if "--grid" in args:
        at = args.index("--grid")
        grid = tuple(float(c) for c in args[at + 1].split(","))
        del args[at:at + 2]
    main(args or ["A", "B", "C"], grid)
