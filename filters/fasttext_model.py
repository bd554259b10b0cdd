"""fastText text classifiers: tokenise, train, evaluate and score, one tokeniser for all four.

A model is two files: fastText's `MODEL.bin` (or a quantised `.ftz`) and a JSON sidecar
`MODEL.bin.json` that remembers how the training text was tokenised, which label is the
positive one and the decision threshold, so `eval` and the pipeline steps see text exactly as
training did. A fastText model without a sidecar (e.g. one downloaded from elsewhere) is scored
on its raw text with newlines turned into spaces.

Why our own tokeniser: fastText splits on whitespace only, and its `minn/maxn` subwords live
inside those tokens, so Chinese (no spaces) would reach it as one "word" per clause. We emit
each CJK character as a token and, for Chinese models, also jieba's words; English gets
lower-cased words with punctuation split off. All imports of fastText and jieba are lazy.
"""
from __future__ import annotations

import html
import json
import os
import re
import tempfile
import unicodedata
from dataclasses import asdict, dataclass, field

from corpus.errors import UserError

from . import lexicon_features
from .classifier_data import CJK, Example, guess_language, is_holdout

POSITIVE, NEGATIVE = "__label__positive", "__label__negative"
SIDECAR_FORMAT = "xiulian-fasttext/1"
REINSTALL_HINT = "pip install --force-reinstall --no-deps fasttext-wheel==0.9.2"

_TOKEN = re.compile(rf"(?P<cjk>[{CJK}]+)|(?P<url>https?://\S+|www\.\S+)|(?P<mention>@\w+)"
                    rf"|(?P<word>[^\W{CJK}]+(?:'[^\W{CJK}]+)*)|(?P<other>\S)")


@dataclass(frozen=True)
class Tokenizer:
    """How text becomes fastText input. `cjk`: "chars" (each CJK character a token) or
    "chars+words" (characters, then jieba's words for the same run). `lexicon`: built-in
    word lists (filters/lists/NAME.txt) whose categories become tokens (lexicon_features)."""

    cjk: str = "chars"
    max_chars: int = 20_000   # long documents: the head decides; bounds jieba's time per doc
    lexicon: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "lexicon", tuple(self.lexicon))  # a JSON sidecar gives a list

    def __call__(self, text: str) -> str:
        text = html.unescape(text[: self.max_chars])  # tweets keep "&amp;", "&#8220;"
        text = unicodedata.normalize("NFKC", text).lower()  # full-width ＡＢＣ１ -> abc1
        tokens: list[str] = []
        for m in _TOKEN.finditer(text):
            kind = m.lastgroup
            if kind == "cjk":
                tokens.extend(m.group())
                if self.cjk == "chars+words":
                    tokens.extend(w for w in _jieba_words(m.group()) if len(w) > 1)
            elif kind == "url":
                tokens.append("<url>")
            elif kind == "mention":
                tokens.append("<user>")
            else:
                tokens.append(m.group())
        if self.lexicon:
            tokens.extend(lexicon_features.tokens(text, self.lexicon))
        return " ".join(tokens)

    @classmethod
    def for_language(cls, lang: str) -> Tokenizer:
        if lang == "zh":
            return cls(cjk="chars+words", lexicon=lexicon_features.CHINESE)
        return cls(cjk="chars")


def _jieba_words(run: str) -> list[str]:
    import jieba
    jieba.setLogLevel(60)  # jieba prints its dictionary loading to stderr otherwise
    return jieba.lcut(run)


# --- the model ----------------------------------------------------------------------------

@dataclass
class TrainParams:
    """fastText hyper-parameters. `for_language` holds the defaults chosen by 5-fold
    cross-validation on the training files of Davidson (en) and COLD (zh), never their test
    or dev sets (docs/BENCHMARKS.md, "Classifiers"). With `thread=1` training is bit-for-bit
    repeatable; more threads are faster but Hogwild updates make each run differ slightly."""

    epoch: int = 5
    lr: float = 0.25
    dim: int = 32
    word_ngrams: int = 1
    minn: int = 0
    maxn: int = 0
    min_count: int = 1
    bucket: int = 200_000
    loss: str = "softmax"
    thread: int = 1
    seed: int = 0
    pretrained_vectors: str = ""  # a .vec file of the same dim: its words join the vocabulary

    @classmethod
    def for_language(cls, lang: str, **overrides) -> TrainParams:
        tuned = {"zh": {"lr": 0.2, "word_ngrams": 2}}.get(lang, {})
        return cls(**{**tuned, **{k: v for k, v in overrides.items() if v is not None}})

    def fasttext_kwargs(self) -> dict:
        return {"epoch": self.epoch, "lr": self.lr, "dim": self.dim, "wordNgrams": self.word_ngrams,
                "minn": self.minn, "maxn": self.maxn, "minCount": self.min_count,
                "bucket": self.bucket, "loss": self.loss, "thread": self.thread,
                "seed": self.seed, "pretrainedVectors": self.pretrained_vectors, "verbose": 0}


@dataclass
class Classifier:
    """A trained fastText model plus how to feed it; `score` gives P(positive) per text."""

    model: object
    tokenizer: Tokenizer | None
    positive_label: str = POSITIVE
    threshold: float = 0.5
    info: dict = field(default_factory=dict)
    _uses_subwords: bool | None = field(default=None, repr=False)

    def score(self, texts: list[str]) -> list[float]:
        prepared = [self.tokenizer(t) if self.tokenizer else t for t in texts]
        prepared = [" ".join(t.split()) for t in prepared]  # fastText predict rejects newlines
        # Always a list: fasttext-wheel 0.9.2's single-string path breaks under numpy 2. And k=1:
        # its list path repeats the first probability for every label when k > 1. With two
        # labels and softmax (or hs) the other label's probability is 1 - p.
        labels, probs = self.model.predict(prepared, k=1)
        return [_probability_of(self.positive_label, ls, ps) if self._knows_a_word(line) else 0.0
                for line, ls, ps in zip(prepared, labels, probs)]

    def _knows_a_word(self, line: str) -> bool:
        """Is any token in the vocabulary? If not, fastText would answer from the end-of-line
        token alone (a Chinese page under an English model scored 0.86 toxic): no evidence
        for the positive class, so the score is 0. Models with subwords always have evidence."""
        if self._uses_subwords is None:
            args = getattr(getattr(self.model, "f", None), "getArgs", None)
            self._uses_subwords = bool(args and args().maxn > 0)
        if self._uses_subwords or not hasattr(self.model, "get_word_id"):
            return True
        return any(self.model.get_word_id(token) >= 0 for token in line.split())

    def save(self, path: str) -> None:
        self.model.save_model(path)
        sidecar = {**self.info, "format": SIDECAR_FORMAT, "positive_label": self.positive_label,
                   "threshold": self.threshold,
                   "tokenizer": asdict(self.tokenizer) if self.tokenizer else None}
        with open(sidecar_path(path), "w", encoding="utf-8") as f:
            json.dump(sidecar, f, indent=2, sort_keys=True, ensure_ascii=False)
            f.write("\n")


def _probability_of(label: str, top_labels, top_probs) -> float:
    if len(top_labels) == 0:
        return 0.0
    p = min(1.0, max(0.0, float(top_probs[0])))  # fastText's softmax can overshoot 1 by 1e-5
    return p if top_labels[0] == label else 1.0 - p


def sidecar_path(model_path: str) -> str:
    return model_path + ".json"


def load_classifier(path: str, label: str | None = None) -> Classifier:
    """Load MODEL (+ MODEL.json when present). `label` overrides the positive label, e.g.
    `__label__hq` for a third-party quality model."""
    if not os.path.isfile(path):
        raise UserError(f"model not found: {path}")
    fasttext = _fasttext(training=False)
    try:
        model = fasttext.load_model(path)
    except ValueError as exc:
        raise UserError(f"{path}: not a fastText model: {exc}") from None
    info: dict = {}
    if os.path.isfile(sidecar_path(path)):
        with open(sidecar_path(path), encoding="utf-8") as f:
            info = json.load(f)
    try:
        tokenizer = Tokenizer(**info["tokenizer"]) if info.get("tokenizer") else None
    except TypeError:
        raise UserError(f"{sidecar_path(path)}: unknown tokenizer {info['tokenizer']!r} "
                        "(written by a newer xiulian?)") from None
    positive = label or info.get("positive_label") or POSITIVE
    labels = model.get_labels()
    if positive not in labels:
        raise UserError(f"{path}: has no label {positive!r} (labels: {', '.join(labels)})")
    if len(labels) != 2:
        raise UserError(f"{path}: only two-label fastText models can be scored "
                        f"(this one has {len(labels)})")
    return Classifier(model, tokenizer, positive, float(info.get("threshold", 0.5)), info)


def _fasttext(training: bool = True):
    import fasttext
    if training and not hasattr(fasttext, "train_supervised"):
        raise UserError("the installed `fasttext` module cannot train (fasttext-predict shadows "
                        f"fasttext-wheel); run: {REINSTALL_HINT}")
    if hasattr(fasttext, "FastText") and hasattr(fasttext.FastText, "eprint"):
        fasttext.FastText.eprint = lambda *args, **kwargs: None  # its load_model warning is noise
    return fasttext


def fit(examples: list[Example], tokenizer: Tokenizer, params: TrainParams,
        quantize: bool = False) -> Classifier:
    """Train on all of `examples` (no holdout: see `train`). `quantize` makes the model ~10x
    smaller (product quantisation, retrained on the same data) at a small cost in accuracy."""
    fasttext = _fasttext()
    with tempfile.TemporaryDirectory(prefix="xiulian-ft-") as tmp:
        data = os.path.join(tmp, "train.txt")
        with open(data, "w", encoding="utf-8") as f:
            for e in examples:
                line = " ".join(tokenizer(e.text).split())
                f.write(f"{POSITIVE if e.positive else NEGATIVE} {line}\n")
        model = fasttext.train_supervised(input=data, **params.fasttext_kwargs())
        if quantize:
            try:
                model.quantize(input=data, qnorm=True, retrain=True, cutoff=100_000,
                               thread=params.thread, verbose=0)
            except ValueError as exc:  # "Matrix too small for quantization"
                raise UserError(f"cannot quantise this model ({exc}); save it as .bin") from None
    return Classifier(model, tokenizer)


MIN_HOLDOUT_FOR_THRESHOLD = 200


def train(examples: list[Example], *, lang: str = "auto", params: TrainParams | None = None,
          threshold: float | None = None, holdout_percent: int = 10,
          quantize: bool = False, lexicon_rows: bool = False) -> tuple[Classifier, dict]:
    """Train on the examples outside a hashed holdout; measure on the holdout -> (model, report).

    `lexicon_rows` (toxicity models): the offensive word list's words become positive rows too
    (never held out: they are not data). Off by default: for any other task they would be noise.

    `threshold=None` picks the F1-best threshold on the holdout (0.5 when the holdout has
    fewer than 200 rows or one class only). The saved model is the one measured: it is not
    refitted on the holdout.
    """
    lang = guess_language(examples) if lang == "auto" else lang
    params = params or TrainParams.for_language(lang)
    tokenizer = Tokenizer.for_language(lang)
    fit_set = [e for e in examples if not is_holdout(e.text, holdout_percent)]
    holdout = [e for e in examples if is_holdout(e.text, holdout_percent)]
    if len({e.positive for e in fit_set}) < 2:
        raise UserError("training data needs both positive and negative rows "
                        f"({sum(e.positive for e in fit_set)} of {len(fit_set)} are positive)")
    extra = [Example(w, True) for w in lexicon_features.rows(tokenizer.lexicon)] if lexicon_rows else []
    classifier = fit(fit_set + extra, tokenizer, params, quantize)
    scores = classifier.score([e.text for e in holdout])
    truth = [e.positive for e in holdout]
    if threshold is None:
        usable = len(holdout) >= MIN_HOLDOUT_FOR_THRESHOLD and len(set(truth)) == 2
        threshold = best_threshold(scores, truth) if usable else 0.5
    classifier.threshold = threshold
    report = metrics(scores, truth, threshold)
    classifier.info = {"language": lang, "params": asdict(params), "train_rows": len(fit_set),
                       "lexicon_rows": len(extra),
                       "holdout_percent": holdout_percent, "holdout": report,
                       "holdout_at_0.5": metrics(scores, truth, 0.5),
                       "fasttext": _version("fasttext-wheel")}
    return classifier, report


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def metrics(scores: list[float], truth: list[bool], threshold: float) -> dict:
    """Precision, recall and F1 of the positive class at `threshold` (score >= threshold)."""
    tp = sum(s >= threshold and t for s, t in zip(scores, truth))
    fp = sum(s >= threshold and not t for s, t in zip(scores, truth))
    fn = sum(s < threshold and t for s, t in zip(scores, truth))
    n = len(truth)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "accuracy": round((n - fp - fn) / n, 4) if n else 0.0, "n": n,
            "positives": sum(truth), "threshold": threshold}


def best_threshold(scores: list[float], truth: list[bool]) -> float:
    """The threshold in 0.05..0.95 that maximises F1 (ties: the one closest to 0.5)."""
    candidates = [t / 100 for t in range(5, 96)]
    return max(candidates, key=lambda t: (metrics(scores, truth, t)["f1"], -abs(t - 0.5)))


def evaluate(classifier: Classifier, examples: list[Example], threshold: float | None = None) -> dict:
    scores = classifier.score([e.text for e in examples])
    return metrics(scores, [e.positive for e in examples],
                   classifier.threshold if threshold is None else threshold)
