"""Chinese toxicity with pretrained word vectors: does unlabelled Chinese text help fastText
generalise from COLD to ToxiCN?

fastText's supervised model starts from random vectors and learns only the tokens COLD shows.
Vectors trained first (skipgram or cbow) on unlabelled Chinese prose give every token of that
prose a place near its neighbours, and `pretrainedVectors` adds those tokens to the classifier's
vocabulary: a word ToxiCN uses and COLD never did is no longer unknown. The unlabelled prose is
everything reachable here that is not a test set (SOURCES below; COLD's own training texts,
without labels, included), tokenised exactly as the classifier tokenises.

    .venv/bin/python bench/toxicity_pretrained_vectors.py corpus           # build the text once
    .venv/bin/python bench/toxicity_pretrained_vectors.py run skipgram:5   # vectors + classifier

Every choice is made on COLD's training file (its 10% hashed holdout, as `classifier train`);
COLD dev and ToxiCN are read once per setting for the final numbers, never tuned on. Prints
one JSON line per setting; docs/filters.md ("Generalising beyond one dataset") has them.
"""
from __future__ import annotations

import glob
import gzip
import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("XIULIAN_SHARED_DATA", ROOT.parent / "shared" / "data"))
WORK = Path(os.environ.get("XIULIAN_BENCH_WORK", "/tmp/xiulian-ptv"))
DOC = Path("/usr/share/doc")
#: Unlabelled Chinese text: (name, glob). JSON/JSONL: every string field; HTML: the page text.
SOURCES = (
    ("zh_wikipedia_cmrc2018", str(SHARED / "text/zh_wikipedia_cmrc2018_contexts.jsonl")),
    ("alpaca_zh_demo", str(SHARED / "sft/alpaca_zh_demo.json")),
    ("oasst1_sft_zh", str(SHARED / "sft/oasst1_sft_zh.json")),
    ("belle_zh_seed_tasks", str(SHARED / "sft/belle_zh_seed_tasks.jsonl")),
    ("dpo_zh_demo", str(SHARED / "preference/dpo_zh_demo.json")),
    ("oasst1_rm_zh", str(SHARED / "preference/oasst1_rm_zh.shared80.json")),
    ("gne_zh pages", str(SHARED / "web/html/gne_zh/*.html.gz")),
    ("xmu_zh_finance_news pages", str(SHARED / "web/html/xmu_zh_finance_news/*.html.gz")),
    ("cold_train texts (no labels)", str(SHARED / "toxicity/cold_train.csv")),
    ("debian-reference zh-cn", str(DOC / "debian-reference-zh-cn/docs/*.zh-cn.html")),
    ("debian-handbook zh-CN", str(DOC / "debian-handbook/html/zh-CN/*.html")),
    ("debian-edu-doc zh-cn", str(DOC / "debian-edu-doc-zh-cn/*manual.html")),
    ("gimp help zh_CN", "/usr/share/gimp/2.0/help/zh_CN/*.html"),
)
_CJK_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _texts(path: str):
    """The text pieces of one file, whatever its format."""
    if path.endswith(".csv"):
        from filters.classifier_data import load_examples
        yield from (e.text for e in load_examples(path, "TEXT", "label", ["1"]))
    elif path.endswith(".jsonl"):
        with open(path, encoding="utf-8") as f:
            for line in f:
                yield from _strings(json.loads(line))
    elif path.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            yield from _strings(json.load(f))
    else:
        import lxml.html
        raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
        try:  # bytes: an XHTML page's <?xml encoding?> stops lxml parsing a str
            tree = lxml.html.fromstring(raw, parser=lxml.html.HTMLParser(encoding="utf-8"))
        except Exception:  # an empty or broken page adds nothing
            return
        for bad in tree.xpath("//script|//style"):
            bad.drop_tree()
        yield "\n".join(tree.itertext())


def _chinese_lines(text: str):
    for line in text.splitlines():
        line = line.strip()
        if len(_CJK_CHAR.findall(line)) >= max(5, len(line.replace(" ", "")) * 0.3):
            yield line


def build_corpus() -> None:
    """Tokenise every Chinese line of SOURCES (deduplicated) into WORK/corpus.txt."""
    from filters.fasttext_model import Tokenizer
    tokenizer = Tokenizer.for_language("zh")
    WORK.mkdir(parents=True, exist_ok=True)
    seen: set[int] = set()
    counts = {}
    with open(WORK / "corpus.txt", "w", encoding="utf-8") as out:
        for name, pattern in SOURCES:
            lines = chars = 0
            for path in sorted(glob.glob(pattern)):
                for text in _texts(path):
                    for line in _chinese_lines(text):
                        if hash(line) in seen:
                            continue
                        seen.add(hash(line))
                        out.write(" ".join(tokenizer(line).split()) + "\n")
                        lines, chars = lines + 1, chars + len(line)
            counts[name] = {"lines": lines, "chars": chars}
            print(json.dumps({"source": name, **counts[name]}), file=sys.stderr, flush=True)
    (WORK / "corpus.json").write_text(json.dumps(counts, indent=1, ensure_ascii=False))


def vectors(model: str, epoch: int, dim: int) -> Path:
    """Train unsupervised vectors on the corpus; write them as a .vec text file."""
    from filters.fasttext_model import _fasttext
    path = WORK / f"{model}_e{epoch}_d{dim}.vec"
    if path.exists():
        return path
    ft = _fasttext().train_unsupervised(str(WORK / "corpus.txt"), model=model, dim=dim,
                                        epoch=epoch, minCount=2, minn=0, maxn=0, thread=1,
                                        verbose=0)
    words = ft.get_words()
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{len(words)} {dim}\n")
        for w in words:
            f.write(w + " " + " ".join(f"{x:.5f}" for x in ft.get_word_vector(w)) + "\n")
    return path


def run(setting: str, lexicon_rows: bool) -> dict:
    """Setting `MODEL:EPOCHS[:DIM]` (e.g. skipgram:5) or `none` (the baseline)."""
    from filters import lexicon_features
    from filters.classifier_data import Example, is_holdout, load_examples
    from filters.fasttext_model import (Classifier, TrainParams, Tokenizer, best_threshold,
                                        fit, metrics)
    parts = setting.split(":") if setting != "none" else ["", "0"]
    model, epoch, dim = parts[0], parts[1], parts[2] if len(parts) > 2 else "32"
    params = TrainParams.for_language("zh", dim=int(dim))
    if model:
        params.pretrained_vectors = str(vectors(model, int(epoch), int(dim)))
    tokenizer = Tokenizer.for_language("zh")
    cold = load_examples(str(SHARED / "toxicity/cold_train.csv"), "TEXT", "label", ["1"])
    fit_rows = [e for e in cold if not is_holdout(e.text)]
    holdout = [e for e in cold if is_holdout(e.text)]
    extra = [Example(w, True) for w in lexicon_features.rows(tokenizer.lexicon)] if lexicon_rows else []
    classifier: Classifier = fit(fit_rows + extra, tokenizer, params)
    truth = [e.positive for e in holdout]
    scores = classifier.score([e.text for e in holdout])
    threshold = best_threshold(scores, truth)
    result = {"setting": setting, "lexicon_rows": lexicon_rows, "threshold": threshold,
              "cold_holdout": metrics(scores, truth, threshold)}
    for label, path, fields in (("cold_dev", "cold_dev.csv", ("TEXT", "label")),
                                ("toxicn", "toxicn_test.json", ("content", "toxic"))):
        examples = load_examples(str(SHARED / "toxicity" / path), *fields, ["1"])
        result[label] = metrics(classifier.score([e.text for e in examples]),
                                [e.positive for e in examples], threshold)
    return result


def main(argv: list[str]) -> None:
    if argv[:1] == ["corpus"]:
        build_corpus()
    elif argv[:1] == ["run"]:
        rows = "--lexicon-rows" in argv
        for setting in [a for a in argv[1:] if not a.startswith("--")]:
            print(json.dumps(run(setting, rows)), flush=True)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
