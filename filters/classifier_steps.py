"""Pipeline steps that score documents with a fastText classifier from `xiulian classifier train`.

Neither step is in the default pipeline: each needs a model file the user trains (or brings).
The model loads once per worker in `setup()`; each document is scored by one `predict` call.
"""
from __future__ import annotations

import os
from typing import ClassVar

from corpus.document import Document
from corpus.steps import Step, require


class _ClassifierStep(Step):
    """Shared by `toxicity` and `quality_classifier`: score P(positive) into one column."""

    score_column: ClassVar[str] = ""

    def __init__(self, *, model: str | None = None, threshold: float | None = None,
                 languages: list[str] | None = None, label: str | None = None):
        require(isinstance(model, str) and model != "",
                "model is required: the path of a model from `xiulian classifier train`")
        require(os.path.isfile(model), f"model not found: {model}")
        require(threshold is None or (isinstance(threshold, (int, float))
                                      and not isinstance(threshold, bool) and 0 < threshold <= 1),
                "threshold must be a number in (0, 1], or left out to only score")
        require(languages is None or (isinstance(languages, list)
                                      and all(isinstance(x, str) for x in languages)),
                "languages must be a list of language codes, e.g. [\"en\"]")
        require(label is None or (isinstance(label, str) and label.startswith("__label__")),
                "label must be a fastText label such as \"__label__hq\"")
        self.model, self.threshold, self.label = model, threshold, label
        self.languages = set(languages) if languages is not None else None
        self.classifier = None

    def setup(self) -> None:
        from .fasttext_model import load_classifier
        self.classifier = load_classifier(self.model, self.label)

    def apply(self, doc: Document) -> str | None:
        if self.languages is not None and doc.language not in self.languages:
            return None  # another instance (another language's model) may score it
        if self.classifier is None:
            self.setup()
        score = self.classifier.score([doc.text])[0]
        doc.scores[self.score_column] = score
        return self.verdict(score)

    def verdict(self, score: float) -> str | None:
        raise NotImplementedError


class Toxicity(_ClassifierStep):
    """Score P(toxic) with a fastText model; optionally remove as `toxic` at a threshold.

    Writes `score_toxicity`; with `threshold`, documents scoring at or above it are removed.
    Train the model with `xiulian classifier train` (Davidson et al. 2017 tweets for English,
    COLD, Deng et al. 2022, for Chinese). No default threshold: the step only scores, so the
    cut can be chosen later from the score distribution (Dolma, Soldaini et al. 2024, tags
    toxicity with fastText and filters downstream). `languages` limits the step to documents
    of those languages: one step per language's model, all writing the same column.
    """

    name = "toxicity"
    score_columns = ("score_toxicity",)
    score_column = "score_toxicity"

    def verdict(self, score: float) -> str | None:
        return "toxic" if self.threshold is not None and score >= self.threshold else None


class QualityClassifier(_ClassifierStep):
    """Score P(reference-like) with a fastText quality model into `score_quality`.

    With `threshold`, documents scoring below it are removed as `low_quality`. The recipe of
    GPT-3 (Brown et al. 2020) and CCNet (Wenzek et al. 2020): a linear classifier trained to
    tell curated reference text (Wikipedia, books) from random web text. Train one with
    `bench/train_quality_classifier.py` or `xiulian classifier train`. No default threshold:
    the `tier` step turns `score_quality` into sampling weights instead of a hard cut.
    """

    name = "quality_classifier"
    score_columns = ("score_quality",)
    score_column = "score_quality"

    def verdict(self, score: float) -> str | None:
        return "low_quality" if self.threshold is not None and score < self.threshold else None
