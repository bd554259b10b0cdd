"""How much clean prose the default pipeline's per-document steps remove (dedup not counted),
on every clean prose set in ../shared/data. Chinese must not pay for being Chinese.

Documents are natural units: a Wikipedia paragraph, a chapter or piece of a classic, an answer,
a labelled news text. SFT answers and classics are taken as filters.sh takes LIMA's prose: at
least 800 characters (CJK counting 3, as the length step does) and no ``` code fence; shorter
ones are one or two sentences, which a web filter is right to drop. docs/filters.md
("Clean prose") has the per-set reasons.
"""
import json
from collections import Counter

import pytest

from corpus.config import build_steps, load_config
from corpus.document import Document
from corpus.pipeline import Pipeline
from corpus.scripts import weighted_length


def is_prose(text: str) -> bool:
    return weighted_length(text) >= 800 and "```" not in text


def classics(folder) -> list[str]:
    """Chapters (论语, 孟子), whole books (大学, 中庸), pieces (古文观止), items with comments (幽梦影)."""
    load = lambda name: json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))  # noqa: E731
    texts = ["\n".join(c["paragraphs"]) for name in ("lunyu", "mengzi") for c in load(name)]
    texts += ["\n".join(load(name)["paragraphs"]) for name in ("daxue", "zhongyong")]
    texts += [p["chapter"] + "\n" + "\n".join(p["paragraphs"])
              for volume in load("guwenguanzhi")["content"] for p in volume["content"]]
    texts += [x["content"] + "\n" + "\n".join(x.get("comment") or []) for x in load("youmengying")]
    return texts


def prose_sets(data) -> dict[str, list[str]]:
    read_json = lambda path: json.loads((data / path).read_text(encoding="utf-8"))  # noqa: E731
    lines = lambda path: (data / path).read_text(encoding="utf-8").splitlines()  # noqa: E731
    return {
        "zh_wikipedia": [json.loads(line)["text"] for line in lines("text/zh_wikipedia_cmrc2018_contexts.jsonl")],
        "zh_classics": [t for t in classics(data / "text" / "zh_classics") if is_prose(t)],
        "zh_sft": [t for t in [x["output"] for x in read_json("sft/oasst1_sft_zh.json")]
                   + [x["output"] for x in read_json("sft/alpaca_zh_demo.json")]
                   + [i["output"] for line in lines("sft/belle_zh_seed_tasks.jsonl")
                      for i in json.loads(line)["instances"]] if is_prose(t)],
        "zh_news_gold": [p.read_text(encoding="utf-8") for p in
                         sorted((data / "web/labels/xmu_zh_finance_news").glob("*.txt"))],
        "en_wikipedia": [t for t in lines("text/en_wikipedia_demo.txt") if t.strip()],
        "en_lima": [x["output"] for x in read_json("sft/lima.json")],
    }


@pytest.fixture(scope="module")
def removed(shared_data) -> dict[str, tuple[int, Counter]]:
    """set -> (documents, removal reasons) under the default config's per-document steps."""
    pipeline = Pipeline(build_steps(load_config(None)))  # corpus-wide (dedup) steps set aside
    pipeline.setup()
    out = {}
    for name, texts in prose_sets(shared_data).items():
        verdicts = (pipeline.run(Document(id=str(i), text=t)) for i, t in enumerate(texts))
        out[name] = len(texts), Counter(":".join(v) for v in verdicts if v)
    return out


def share(removed, *names) -> float:
    return sum(sum(removed[n][1].values()) for n in names) / sum(removed[n][0] for n in names)


def test_clean_chinese_prose_is_kept(removed):
    chinese = [n for n in removed if n.startswith("zh_")]
    assert share(removed, *chinese) <= 0.03, {n: removed[n] for n in chinese}  # measured 2.9%
    assert share(removed, "zh_wikipedia") <= 0.02                              # 1.5%
    assert share(removed, "zh_classics") <= 0.02                               # 0.9%
    # A paragraph of Chinese is not "too short": only news flashes under ~67 characters are.
    assert removed["zh_news_gold"][1]["length:too_short"] <= 5


def test_english_prose(removed):
    """At most 15% of LIMA's answers and of English Wikipedia go. Code in Markdown fences is
    judged as code, not prose (52 answers kept), and C4's sentence minimum is 3 (26 kept);
    what is left is mostly answers under 50 words, which every web filter drops
    (docs/filters.md, "Clean prose")."""
    assert share(removed, "en_lima") <= 0.15, removed["en_lima"]      # measured 14.8%
    assert share(removed, "en_wikipedia") <= 0.15, removed["en_wikipedia"]  # 6.7%
    reasons = removed["en_lima"][1]
    assert reasons["c4:curly_bracket"] == 0 and reasons["c4:too_few_sentences"] <= 3
    assert reasons["language:low_score"] <= 9 and reasons["length:too_short"] <= 61
