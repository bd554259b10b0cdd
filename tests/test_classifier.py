"""fastText classifiers as a library: tokenising, loading labelled data, training, scoring, and
the `toxicity` / `quality_classifier` steps."""
from __future__ import annotations

import json
import sys
import types

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus.document import Document
from corpus.errors import UserError
from corpus.steps import build_step
from filters.classifier_data import Example, guess_language, is_holdout, load_examples
from filters.fasttext_model import (Classifier, Tokenizer, TrainParams, best_threshold, load_classifier,
                                    metrics, sidecar_path, train)
from tests.classifier_examples import EN_BENIGN, EN_TOXIC, ZH_BENIGN, ZH_TOXIC, rows

TINY = TrainParams(epoch=25, lr=0.5)  # ~200 short rows need more passes than real data


def examples(positive, negative) -> list[Example]:
    return [Example(text, bool(label)) for text, label in rows(positive, negative)]


@pytest.fixture(scope="module")
def english_model(tmp_path_factory) -> str:
    classifier, _ = train(examples(EN_TOXIC, EN_BENIGN), lang="en", params=TINY)
    path = str(tmp_path_factory.mktemp("model") / "toxic_en.bin")
    classifier.save(path)
    return path


# --- tokenising -------------------------------------------------------------------------------

def test_english_is_lower_cased_with_punctuation_split_off():
    assert Tokenizer()("Shut UP,  you\nidiot!!") == "shut up , you idiot ! !"


def test_urls_mentions_and_html_entities_are_normalised():
    tokenize = Tokenizer()
    assert tokenize("RT @bob: see https://t.co/x1 &amp; don't") == "rt <user> : see <url> & don't"


def test_full_width_forms_become_ascii():
    assert Tokenizer()("ＡＢＣ１２３！") == "abc123 !"


def test_chinese_becomes_characters_plus_jieba_words():
    tokens = Tokenizer.for_language("zh")("今天天气很好").split()
    assert tokens[:6] == list("今天天气很好")
    assert "今天天气" in tokens[6:] or "天气" in tokens[6:]


def test_english_models_see_chinese_as_characters_only():
    assert Tokenizer.for_language("en")("天气很好 ok") == "天 气 很 好 ok"


def test_word_list_features_name_the_category_of_coded_slurs_but_not_group_names():
    from filters.lexicon_features import CHINESE, tokens
    assert tokens("楼上那个txl", CHINESE) == ["__lex__", "__lex_lgbt__"]
    assert tokens("又是一群🐒", CHINESE) == ["__lex__", "__lex_race__"]  # emoji match as a word
    # Bare group names and neutral words that share characters with slurs carry no token.
    assert tokens("黑人、同性恋和河南人的新闻；猴子在玻璃后面；女司机和艾滋病防治", CHINESE) == []


def test_guess_language():
    assert guess_language(examples(ZH_TOXIC, ZH_BENIGN)) == "zh"
    assert guess_language(examples(EN_TOXIC, EN_BENIGN)) == "en"


# --- labelled data ----------------------------------------------------------------------------

def test_csv_with_byte_order_mark(tmp_path):
    path = tmp_path / "cold.csv"
    path.write_bytes("\ufeffTEXT,label\n你这个白痴,1\n今天天气很好,0\n".encode("utf-8"))
    assert load_examples(str(path), "TEXT", "label", ["1"]) == [
        Example("你这个白痴", True), Example("今天天气很好", False)]


def test_several_positive_values(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"tweet": f"t{c}", "class": c}) + "\n" for c in (0, 1, 2)))
    got = load_examples(str(path), "tweet", "class", ["0", "1"])
    assert [e.positive for e in got] == [True, True, False]


def test_parquet_float_labels_match_and_unlabelled_rows_are_skipped(tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["a", "b", "c"], "label": [1.0, 0.0, None]}), path)
    got = load_examples(str(path), "text", "label", ["1"])
    assert got == [Example("a", True), Example("b", False)]


@pytest.mark.parametrize("content, field, positive, message", [
    ("text,label\nhi,1\n", "body", ["1"], "no field 'body' (fields: text, label)"),
    ("text,label\nhi,0\nho,0\n", "text", ["1"], "no row has 'label' in ['1'] (values seen: 0)"),
])
def test_user_mistakes_in_data_are_one_line_errors(tmp_path, content, field, positive, message):
    path = tmp_path / "d.csv"
    path.write_text(content)
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)").replace("]", r"\]")):
        load_examples(str(path), field, "label", positive)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(UserError, match="file not found"):
        load_examples(str(tmp_path / "nope.csv"), "text", "label", ["1"])
    (tmp_path / "d.xlsx").write_text("x")
    with pytest.raises(UserError, match="unknown format"):
        load_examples(str(tmp_path / "d.xlsx"), "text", "label", ["1"])


def test_holdout_is_stable_and_about_the_requested_share():
    texts = [f"document number {i}" for i in range(2000)]
    held = [t for t in texts if is_holdout(t, 10)]
    assert held == [t for t in texts if is_holdout(t, 10)]
    assert 150 < len(held) < 250


# --- training and scoring ---------------------------------------------------------------------

def test_tiny_english_model_separates_unseen_sentences(english_model):
    classifier = load_classifier(english_model)
    toxic, benign = classifier.score(["shut up you worthless moron", "the garden is lovely today"])
    assert toxic > 0.8 and benign < 0.2


def test_tiny_chinese_model_separates_unseen_sentences():
    classifier, _ = train(examples(ZH_TOXIC, ZH_BENIGN), params=TINY)
    assert classifier.info["language"] == "zh"
    toxic, benign = classifier.score(["闭嘴你这个蠢货", "周末我们去图书馆看书"])
    assert toxic > 0.7 and benign < 0.3


def test_saved_model_remembers_its_tokeniser_and_scores_the_same(english_model):
    sidecar = json.loads(open(sidecar_path(english_model), encoding="utf-8").read())
    assert sidecar["tokenizer"] == {"cjk": "chars", "max_chars": 20000, "lexicon": []}
    assert sidecar["language"] == "en" and sidecar["params"]["thread"] == 1
    assert set(sidecar["holdout"]) >= {"precision", "recall", "f1", "n"}
    again, _ = train(examples(EN_TOXIC, EN_BENIGN), lang="en", params=TINY)
    texts = ["YOU are an IDIOT!!", "Thanks for the recipe."]
    assert load_classifier(english_model).score(texts) == again.score(texts)  # thread=1: repeatable


def test_text_without_a_known_word_scores_zero(english_model):
    classifier = load_classifier(english_model)
    assert classifier.score(["", "完全不认识的中文", "zzzz qqqq"]) == [0.0, 0.0, 0.0]


def test_model_without_sidecar_scores_raw_text(english_model, tmp_path):
    classifier = load_classifier(english_model)
    bare = tmp_path / "bare.bin"
    classifier.model.save_model(str(bare))
    loaded = load_classifier(str(bare))
    assert loaded.tokenizer is None and loaded.positive_label == "__label__positive"
    assert loaded.score(["shut up you worthless moron"])[0] > 0.5


def test_unknown_label_and_missing_model_are_user_errors(english_model, tmp_path):
    with pytest.raises(UserError, match="has no label '__label__hq'"):
        load_classifier(english_model, label="__label__hq")
    with pytest.raises(UserError, match="model not found"):
        load_classifier(str(tmp_path / "none.bin"))


def test_training_needs_both_classes():
    with pytest.raises(UserError, match="both positive and negative"):
        train([Example(t, True) for t in EN_TOXIC * 20], lang="en", params=TINY)


def test_metrics_and_best_threshold():
    scores, truth = [0.9, 0.7, 0.4, 0.2], [True, True, True, False]
    assert metrics(scores, truth, 0.5) == {
        "precision": 1.0, "recall": 0.6667, "f1": 0.8, "accuracy": 0.75, "n": 4,
        "positives": 3, "threshold": 0.5}
    assert 0.2 < best_threshold(scores, truth) <= 0.4


# --- steps ------------------------------------------------------------------------------------

def test_toxicity_scores_and_removes_at_the_threshold(english_model):
    step = build_step({"use": "toxicity", "model": english_model, "threshold": 0.5})
    step.setup()
    rude = Document("1", "you pathetic idiot, shut up")
    polite = Document("2", "the garden is lovely today")
    assert step.apply(rude) == "toxic" and rude.scores["score_toxicity"] > 0.5
    assert step.apply(polite) is None and polite.scores["score_toxicity"] < 0.5


def test_toxicity_without_threshold_only_scores(english_model):
    step = build_step({"use": "toxicity", "model": english_model})
    doc = Document("1", "you pathetic idiot, shut up")
    assert step.apply(doc) is None and doc.scores["score_toxicity"] > 0.5


def test_languages_limits_which_documents_a_model_scores(english_model):
    step = build_step({"use": "toxicity", "model": english_model, "languages": ["en"],
                       "threshold": 0.5})
    chinese = Document("1", "you pathetic idiot", language="zh")
    assert step.apply(chinese) is None and "score_toxicity" not in chinese.scores


def test_quality_classifier_writes_score_quality(english_model):
    step = build_step({"use": "quality_classifier", "model": english_model, "threshold": 0.5})
    doc = Document("1", "the museum has a lovely exhibition")
    assert step.apply(doc) == "low_quality"  # P(positive) of this model is P(toxic): low
    assert 0.0 <= doc.scores["score_quality"] < 0.5


@pytest.mark.parametrize("options, message", [
    ({"model": None}, "model is required"),
    ({"model": "no/such/model.bin"}, "model not found"),
    ({"threshold": 2}, "threshold must be a number"),
    ({"languages": "en"}, "languages must be a list"),
])
def test_bad_step_options_are_config_errors(english_model, options, message):
    spec = {k: v for k, v in {"use": "toxicity", "model": english_model, **options}.items()
            if v is not None}
    with pytest.raises(UserError, match=message):
        build_step(spec)


class RecordingModel:
    """A real fastText model that remembers what `predict` was given."""

    def __init__(self, model):
        self.model, self.calls = model, []

    def predict(self, lines, k=1):
        self.calls.append(lines)
        return self.model.predict(lines, k=k)

    def __getattr__(self, name):
        return getattr(self.model, name)


def test_texts_are_scored_in_one_predict_call_with_a_list(english_model):
    loaded = load_classifier(english_model)
    recording = RecordingModel(loaded.model)
    classifier = Classifier(recording, loaded.tokenizer)
    assert len(classifier.score(["you idiot", "lovely garden", "shut up"])) == 3
    assert len(recording.calls) == 1 and isinstance(recording.calls[0], list)


def test_predict_only_fasttext_gives_the_reinstall_command(monkeypatch):
    """fasttext-predict installs a `fasttext` module without training; say how to fix it."""
    monkeypatch.setitem(sys.modules, "fasttext", types.ModuleType("fasttext"))
    with pytest.raises(UserError, match="pip install --force-reinstall --no-deps fasttext-wheel"):
        train(examples(EN_TOXIC, EN_BENIGN), lang="en", params=TINY)
