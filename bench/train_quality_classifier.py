"""Train the demo quality classifier (GPT-3 / CCNet style) from ../shared/data and report its F1.

Positive = reference prose: English Wikipedia articles (en_wikipedia_demo.txt) and Chinese
Wikipedia paragraphs (CMRC2018 contexts), WikiText-2's validation articles (detokenised), plus human-written answers for topic variety (LIMA
answers of 800+ characters without code, as GPT-3 added curated WebText to Wikipedia; Chinese
OpenAssistant answers of 200+ characters): 30 Wikipedia articles alone teach topics, not
style. Negative = web pages as the pipeline sees them:
every shared WARC, HTML page and CCNet file run through `extract` + `length` (what reaches a
quality classifier in a real run), plus C4 (heuristically cleaned web text: exactly the text
a heuristic-filtered pipeline hands on, so the model learns what heuristics do not catch).
Only English and Chinese web text is kept (lid.176), so the model cannot learn "other
language = bad". Classical Chinese (zh_classics) is left out: it is not the register of the
modern web, and a model trained on it rewards archaic grammar rather than careful prose.

Every text is cut at sentence ends into chunks of at most 1500 characters, 500 for Chinese
(denser: about the same number of words), so neither class
is recognisable by length), classes are balanced per language by a hashed subsample, and the
train/test split is by *source document*, so chunks of one article never sit on both sides.

    .venv/bin/python bench/train_quality_classifier.py -o quality.bin [--work DIR]

writes quality.bin + quality.bin.json and prints held-out precision/recall/F1 (overall, en, zh),
the scores of unseen WikiText-2 test paragraphs and the step's speed, into the "## Quality
classifier" section of docs/BENCHMARKS.md (--no-docs: print only). Then enable it with a
`quality_classifier` step (docs/filters.md).
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import re
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from corpus.clean import clean  # noqa: E402
from corpus.config import resolve  # noqa: E402
from filters.classifier_data import Example  # noqa: E402
from filters.fasttext_model import Tokenizer, TrainParams, best_threshold, fit, metrics  # noqa: E402
from filters.language import identify  # noqa: E402
from benchdocs import command, machine_line, publish, versions  # noqa: E402
from toxicity_classifiers import step_speed  # noqa: E402

SECTION = "## Quality classifier"

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data")
WEB_INPUTS = ["web/warc", "web/html/gne_zh", "web/html/trafilatura_cache",
              "web/html/trafilatura_eval", "web/ccnet"]
CHUNK_CHARS = {"en": 1500, "zh": 500}
MIN_CHARS, TEST_PERCENT = 200, 20
# Chinese-aware tokens for both languages; documents are few, so more epochs than the
# toxicity defaults (chosen by ROC AUC on cross-validation of the train split).
TOKENIZER = Tokenizer.for_language("zh")
PARAMS = TrainParams(epoch=25, lr=0.2, word_ngrams=2)
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*")


def chunks(text: str, language: str) -> list[str]:
    """Sentence-aligned pieces of at most CHUNK_CHARS (a longer sentence is its own piece)."""
    out, current = [], ""
    for sentence in _SENTENCE_END.split(text):
        if current and len(current) + len(sentence) > CHUNK_CHARS[language]:
            out.append(current)
            current = ""
        current += sentence if not current or current[-1] in "。！？" else " " + sentence
    out.append(current)
    return [c.strip() for c in out if len(c.strip()) >= MIN_CHARS]


def _hash(text: str, salt: str) -> int:
    return int(hashlib.sha1((salt + text).encode("utf-8")).hexdigest(), 16)


def reference_documents(data: str) -> list[tuple[str, str, str]]:
    """(doc key, language, text) of the reference prose."""
    docs = []
    with open(os.path.join(data, "text/en_wikipedia_demo.txt"), encoding="utf-8") as f:
        docs += [(f"enwiki:{i}", "en", line) for i, line in enumerate(f) if line.strip()]
    with open(os.path.join(data, "text/zh_wikipedia_cmrc2018_contexts.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    docs += [(f"zhwiki:{r.get('title', r['id'])}", "zh", r["text"]) for r in rows]
    with open(os.path.join(data, "text/wikitext-2/valid.txt"), encoding="utf-8") as f:
        docs += [(f"wikitext:{title}", "en", text) for title, text in _wikitext_articles(f)]
    with open(os.path.join(data, "sft/lima.json"), encoding="utf-8") as f:
        docs += [(f"lima:{i}", "en", r["output"]) for i, r in enumerate(json.load(f))
                 if len(r["output"]) >= 800 and "```" not in r["output"]]
    with open(os.path.join(data, "sft/oasst1_sft_zh.json"), encoding="utf-8") as f:
        docs += [(f"oasst:{i}", "zh", r["output"]) for i, r in enumerate(json.load(f))
                 if len(r["output"]) >= 200]
    return docs


def _wikitext_articles(lines):
    """(title, text) per article of WikiText-2's tokenised form, detokenised: " @-@ " -> "-",
    " , " -> ", ", and the rare words it replaced by <unk> dropped."""
    title, body = None, []
    for line in list(lines) + [" = END = "]:
        heading = re.fullmatch(r" = ([^=].*) = ", line.rstrip("\n"))
        if heading:
            if title and body:
                yield title, "\n".join(body)
            title, body = heading.group(1), []
        elif line.strip() and not line.strip().startswith("="):
            text = re.sub(r" @(.)@ ", r"\1", line.strip()).replace("<unk> ", "").replace(" <unk>", "")
            body.append(re.sub(r" ([.,;:!?)'])", r"\1", text).replace("( ", "("))


def web_documents(data: str, work: str) -> list[tuple[str, str, str]]:
    """(doc key, language, text) of extracted web pages and C4 documents, en and zh only."""
    config = resolve({"steps": [{"use": "extract"}, {"use": "length", "min_chars": MIN_CHARS}]})
    out = os.path.join(work, "web")
    clean([os.path.join(data, p) for p in WEB_INPUTS], out, config=config, workers=2,
          overwrite=True, progress=False)
    import pyarrow.parquet as pq
    texts = [(f"web:{r['id']}", r["text"]) for f in sorted(glob.glob(f"{out}/shards/*.parquet"))
             for r in pq.read_table(f, columns=["id", "text"]).to_pylist()]
    with open(os.path.join(data, "text/c4_demo.jsonl"), encoding="utf-8") as f:
        texts += [(f"c4:{i}", json.loads(line)["text"]) for i, line in enumerate(f) if line.strip()]
    docs = []
    for key, text in texts:
        language, score = identify(text)
        if language in ("en", "zh") and score >= 0.5:
            docs.append((key, language, text))
    return docs


def build_examples(reference, web) -> tuple[list, list]:
    """Chunk, balance the classes within each language, split train/test by source document."""
    train, test = [], []
    for language in ("en", "zh"):
        by_class = {}
        for positive, docs in ((True, reference), (False, web)):
            pieces = [(key, piece) for key, lang, text in docs if lang == language
                      for piece in chunks(text, language)]
            by_class[positive] = sorted(pieces, key=lambda kp: _hash(kp[1], "sample:"))
        n = min(len(v) for v in by_class.values())
        for positive, pieces in by_class.items():
            for key, piece in pieces[:n]:
                side = test if _hash(key, "split:") % 100 < TEST_PERCENT else train
                side.append((language, key, Example(piece, positive)))
    return train, test


def cross_validated_threshold(train, folds: int = 5) -> float:
    """The F1-best threshold on out-of-fold scores (folds by source document). Held-out
    articles score lower than training ones (their topic words are unseen), so 0.5 is too
    strict; the test split is never looked at."""
    fold_of = [_hash(key, "fold:") % folds for _, key, _ in train]
    scores = [0.0] * len(train)
    for k in range(folds):
        model = fit([e for (_, _, e), f in zip(train, fold_of) if f != k], TOKENIZER, PARAMS)
        held = [i for i, f in enumerate(fold_of) if f == k]
        for i, score in zip(held, model.score([train[i][2].text for i in held])):
            scores[i] = score
    return best_threshold(scores, [e.positive for _, _, e in train])


def auc(scores: list[float], truth: list[bool]) -> float:
    """ROC AUC: the chance a random positive outscores a random negative (ties count half)."""
    ranked = sorted(zip(scores, truth))
    rank_sum, i = 0.0, 0
    while i < len(ranked):  # average ranks over ties
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        rank_sum += sum(t for _, t in ranked[i:j]) * (i + j + 1) / 2
        i = j
    pos = sum(truth)
    neg = len(truth) - pos
    return round((rank_sum - pos * (pos + 1) / 2) / (pos * neg), 4) if pos and neg else 0.0


def unseen_prose_scores(classifier, data: str) -> tuple[int, float, float]:
    """(paragraphs, median score, share at or above the threshold) on WikiText-2's *test*
    articles (never trained on), detokenised paragraphs of MIN_CHARS or more."""
    with open(os.path.join(data, "text/wikitext-2/test.txt"), encoding="utf-8") as f:
        paragraphs = [p for _, text in _wikitext_articles(f) for p in text.split("\n") if len(p) >= MIN_CHARS]
    scores = classifier.score(paragraphs)
    return len(paragraphs), statistics.median(scores), sum(s >= classifier.threshold for s in scores) / len(scores)


def report(info: dict, counts: tuple[int, int], seconds: float, unseen: tuple, speed: float,
           argv: list[str]) -> str:
    table = ["| held out | n | precision | recall | F1 | ROC AUC |", "|---|---:|---:|---:|---:|---:|"]
    for language in ("all", "en", "zh"):
        r = info[f"test_{language}"]
        f1 = f"**{r['f1']:.3f}**" if language == "all" else f"{r['f1']:.3f}"
        table.append(f"| {language} | {r['n']} | {r['precision']:.3f} | {r['recall']:.3f} | {f1} | {r['auc']:.3f} |")
    return "\n".join([
        SECTION, "",
        f"The demo quality model (`{command(__file__, argv)}`, {seconds:.0f} s; data and design in "
        f"docs/filters.md): reference prose vs extracted web text, {counts[0]} training chunks, "
        f"{counts[1]} held out by source document; threshold {info['threshold']:.2f} from "
        f"cross-validation of the train split. Measured {time.strftime('%Y-%m-%d %H:%M')} on "
        f"{machine_line()}; {versions(['fasttext-wheel', 'jieba'])}.", "", *table, "",
        f"On {unseen[0]:,} WikiText-2 *test* paragraphs (Wikipedia articles the model never saw; "
        f"detokenised, {MIN_CHARS}+ characters), the median score is {unseen[1]:.2f} and "
        f"{unseen[2]:.0%} score above the threshold.", "",
        "**Step speed** (one process, model loaded, `apply` per document, a list of one text per "
        f"`predict` call; median of 3 passes after a warm-up): the quality model on C4 {speed:,.0f} docs/s.",
        ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", default="quality.bin", help="model file to write")
    parser.add_argument("--data", default=DATA, help="the shared data folder")
    parser.add_argument("--work", help="scratch folder (default: a temporary one)")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="xiulian-quality-") as tmp:
        work = args.work or tmp
        reference, web = reference_documents(args.data), web_documents(args.data, work)
        train, test = build_examples(reference, web)
        for name, rows in (("train", train), ("test", test)):
            with open(os.path.join(work, f"quality_{name}.jsonl"), "w", encoding="utf-8") as f:
                for language, key, e in rows:
                    f.write(json.dumps({"text": e.text, "label": int(e.positive), "source": key,
                                        "language": language}, ensure_ascii=False) + "\n")
        print(f"documents: reference {len(reference)}, web {len(web)}; chunks: train "
              f"{len(train)}, test {len(test)} (written to {work}/quality_*.jsonl)")
        threshold = cross_validated_threshold(train)
        classifier = fit([e for _, _, e in train], TOKENIZER, PARAMS)
        classifier.threshold = threshold
        classifier.info = {"language": "en+zh", "purpose": "quality (reference vs web)",
                           "train_rows": len(train), "recipe": "bench/train_quality_classifier.py"}
        print(f"threshold {threshold:.2f} (F1-best on 5-fold cross-validation of the train split)")
        for language in ("all", "en", "zh"):
            rows = [e for lang, _, e in test if language in ("all", lang)]
            scores, truth = classifier.score([e.text for e in rows]), [e.positive for e in rows]
            report_ = {**metrics(scores, truth, threshold), "auc": auc(scores, truth)}
            classifier.info[f"test_{language}"] = report_
            print(f"held-out {language}: n={report_['n']} precision {report_['precision']:.3f} "
                  f"recall {report_['recall']:.3f} F1 {report_['f1']:.3f} ROC AUC {report_['auc']:.3f}")
        classifier.save(args.output)
        print(f"saved {args.output} and {args.output}.json")
    seconds = time.perf_counter() - start
    unseen = unseen_prose_scores(classifier, args.data)
    from filters.classifier_steps import QualityClassifier
    with open(os.path.join(args.data, "text/c4_demo.jsonl"), encoding="utf-8") as f:
        c4 = [json.loads(line)["text"] for line in f if line.strip()]
    speed = step_speed(QualityClassifier(model=args.output), c4, "en")[0]
    section = report({**classifier.info, "threshold": threshold}, (len(train), len(test)), seconds,
                     unseen, speed, argv)
    publish(SECTION, section, not args.no_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
