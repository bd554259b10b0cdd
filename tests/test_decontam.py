"""The decontam step on real text: planted benchmark items are found, clean prose is left alone."""
import json
import random
import re

import pytest

from corpus.decontam import Decontaminate
from corpus.decontam.benchmarks import read_records
from corpus.document import Document

BENCHMARKS = ("arc_challenge_test.jsonl", "cmmlu_test.csv", "gsm8k_test.jsonl",
              "hellaswag_val.jsonl.gz", "humaneval.jsonl.gz", "mmlu_test.csv.gz")


@pytest.fixture(scope="module")
def step(shared_data):
    """One index of every shared benchmark (built once: ~2 s)."""
    s = Decontaminate(benchmarks=[str(shared_data / "benchmarks" / b) for b in BENCHMARKS])
    s.setup()
    return s


def texts(path, field="text"):
    return [json.loads(line)[field] for line in open(path, encoding="utf-8")]


def records(shared_data, name):
    return list(enumerate(read_records(str(shared_data / "benchmarks" / name)), 1))


def verdict(step, text):
    return step.apply(Document("d", text))


def plant(host, item, rng):
    paragraphs = host.split("\n")
    k = rng.randint(0, len(paragraphs))
    return "\n".join(paragraphs[:k] + [item] + paragraphs[k:])


# ---- three ways an item shows up on the web: as is, reformatted, wrapped as Q/A ----

def reformat_en(text, rng):
    """Other punctuation and spacing, curly quotes, a capitalised first line."""
    text = text.replace("'", "’").replace(",", " ,").replace("?", " ?!")
    text = re.sub(r"\. ", lambda m: rng.choice([".  ", ".\n", "; "]), text)
    return text[:1].upper() + text[1:]


def reformat_zh(text, rng):
    """Half-width punctuation, spaces between some characters, full-width digits."""
    text = text.replace("，", ", ").replace("。", ". ").replace("（", "(").replace("）", ")")
    text = "".join(c + " " if rng.random() < 0.2 else c for c in text)
    return text.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})


def en_items(shared_data, rng):
    """(label, question, answer text) from four English benchmarks, questions of 13+ words."""
    out = []
    for n, r in records(shared_data, "gsm8k_test.jsonl"):
        out.append((f"gsm8k_test.jsonl#{n}", r["question"], r["answer"]))
    for n, r in records(shared_data, "mmlu_test.csv.gz"):
        choices = "\n".join(f"{k}. {r[k]}" for k in "ABCD")
        out.append((f"mmlu_test.csv.gz#{n}", r["question"], f"{choices}\nAnswer: {r['answer']}"))
    for n, r in records(shared_data, "arc_challenge_test.jsonl"):
        choices = " ".join(f"({c['label']}) {c['text']}" for c in r["question"]["choices"])
        out.append((f"arc_challenge_test.jsonl#{n}", r["question"]["stem"], choices))
    for n, r in records(shared_data, "hellaswag_val.jsonl.gz"):
        out.append((f"hellaswag_val.jsonl.gz#{n}", r["ctx"], r["endings"][r["label"]]))
    out = [o for o in out if len(o[1].split()) >= 13]
    return rng.sample(out, 90)


def zh_items(shared_data, rng):
    out = [(f"cmmlu_test.csv#{n}", r["question"], r[r["answer"]])
           for n, r in records(shared_data, "cmmlu_test.csv") if len(r["question"]) >= 15]
    return rng.sample(out, 60)


def planted(items, hosts, reformat, wrap, rng):
    docs = []
    for i, (label, question, answer) in enumerate(items):
        item = [f"{question}\n{answer}", reformat(f"{question} {answer}", rng),
                wrap.format(q=question, a=answer)][i % 3]
        docs.append((label, plant(hosts[i], item, rng)))
    return docs


def found_and_named(step, docs, name):
    """Print and return (found, named exactly, the misnamed (planted, reported) pairs)."""
    reasons = [verdict(step, text) for _, text in docs]
    found = sum(r is not None for r in reasons)
    misnamed = [(label, r) for r, (label, _) in zip(reasons, docs) if r is not None and r != label]
    print(f"{name}: {found}/{len(docs)} found, {found - len(misnamed)} named exactly, "
          f"misnamed {misnamed}")
    return found, found - len(misnamed), misnamed


def words(text):
    return " ".join(re.findall(r"\w+", text.lower()))


def hellaswag_strings(shared_data, label):
    item = records(shared_data, "hellaswag_val.jsonl.gz")[int(label.split("#")[1]) - 1][1]
    return [item["ctx"], *item["endings"]]


def test_planted_english_items_are_found(step, shared_data):
    """docs/decontam.md, Measured: 90/90 found, 87 named exactly; the other 3 are HellaSwag
    items named as another item that is in the document too (HellaSwag cuts consecutive
    clips of one video; two of its items are the same question)."""
    rng = random.Random(7)
    hosts = texts(shared_data / "text" / "c4_demo.jsonl")
    docs = planted(en_items(shared_data, rng), hosts, reformat_en, "Q: {q}\nA: {a}", rng)
    found, named, misnamed = found_and_named(step, docs, "English items planted in C4")
    assert (found, named) == (90, 87)
    texts_by_label = dict(docs)
    for planted_label, reported in misnamed:
        assert planted_label.startswith("hellaswag") and reported.startswith("hellaswag")
        document = words(texts_by_label[planted_label])
        assert any(len(s.split()) >= 8 and words(s) in document
                   for s in hellaswag_strings(shared_data, reported))


def test_planted_chinese_items_are_found(step, shared_data):
    """docs/decontam.md, Measured: 60/60 found and named."""
    rng = random.Random(8)
    hosts = texts(shared_data / "text" / "zh_wikipedia_cmrc2018_contexts.jsonl")
    docs = planted(zh_items(shared_data, rng), hosts, reformat_zh, "问：{q}\n答：{a}", rng)
    assert found_and_named(step, docs, "CMMLU items planted in Chinese Wikipedia")[:2] == (60, 60)


def test_clean_prose_is_not_flagged(step, shared_data):
    """docs/decontam.md, Measured: c4 0/300, Chinese Wikipedia 0/1104, LIMA answers 1/1029
    (ARC #473's whole 9-word question) + 12 real overlaps.

    LIMA's wikiHow answers ("How to ...") quote the wikiHow articles that HellaSwag's contexts
    were cut from, sharing 13-71 13-grams with one item each: real overlap, not a false alarm.
    """
    lima = json.loads((shared_data / "sft" / "lima.json").read_text(encoding="utf-8"))
    corpora = {"c4": [(t, "") for t in texts(shared_data / "text" / "c4_demo.jsonl")],
               "Chinese Wikipedia": [(t, "") for t in texts(
                   shared_data / "text" / "zh_wikipedia_cmrc2018_contexts.jsonl")],
               "LIMA answers": [(r["output"], r["instruction"]) for r in lima]}
    false_alarms, wikihow = {}, 0
    for name, docs in corpora.items():
        false_alarms[name] = []
        for text, instruction in docs:
            reason = verdict(step, text)
            if reason and reason.startswith("hellaswag") and instruction.startswith("How to"):
                wikihow += 1
            elif reason:
                false_alarms[name].append(reason)
        print(f"{name}: {len(false_alarms[name])}/{len(docs)} flagged {false_alarms[name]}")
    print(f"LIMA wikiHow answers quoting HellaSwag's source articles: {wikihow}")
    assert false_alarms == {"c4": [], "Chinese Wikipedia": [],
                            "LIMA answers": ["arc_challenge_test.jsonl#473"]}
    assert wikihow == 12


def test_short_items_match_whole_and_generic_phrases_do_not(step):
    # ARC #473's question has 9 words: too short for a 13-gram, long enough to match whole.
    assert verdict(step, "Quiz time. What is the largest organ in the human body? Skin!") == \
        "arc_challenge_test.jsonl#473"
    assert verdict(step, "The skin is the largest organ in the human body, they say.") is None
    # An 8-character institution name is a CMMLU choice, and ordinary encyclopedic prose.
    assert verdict(step, "第十届全国人民代表大会第一次会议于北京召开。") is None


def test_templates_shared_by_many_items_are_not_evidence(step):
    # MMLU's moral_scenarios question stem is the same in 895 items.
    stem = ("For which of these two scenarios does the main character (who uses I/me/my) do "
            "something clearly morally wrong, according to ordinary moral standards in the US as of 2020?")
    assert verdict(step, f"A classic exam prompt reads: {stem} Discuss.") is None
    mmlu = next(s for s in step.index.sources if s.label == "mmlu_test.csv.gz")
    assert mmlu.templates_dropped > 0 and mmlu.skipped_short > 0


@pytest.fixture(scope="module")
def gsm8k(shared_data):
    return str(shared_data / "benchmarks" / "gsm8k_test.jsonl")


def test_cut_keeps_the_document_without_the_item(gsm8k, shared_data):
    step = Decontaminate(benchmarks=[gsm8k], action="cut")
    step.setup()
    question = next(read_records(gsm8k))["question"]
    host = texts(shared_data / "text" / "c4_demo.jsonl")[0]
    doc = Document("d", f"{host}\nQ: {question}\nA: 18 dollars\n{host}")
    assert step.apply(doc) is None
    assert "Janet" not in doc.text and "Q:" not in doc.text
    assert doc.text.startswith(host) and doc.text.endswith(host) and "A: 18 dollars" in doc.text
    assert step.take_counts() == {"cut": 1, "hit:gsm8k_test.jsonl": 1}


def test_holdout_removes_training_text_that_overlaps_the_validation_set(shared_data, tmp_path):
    c4 = texts(shared_data / "text" / "c4_demo.jsonl")
    valid = tmp_path / "valid.jsonl"
    valid.write_text("".join(json.dumps({"text": t}) + "\n" for t in c4[:20]))
    step = Decontaminate(holdout_from=[str(valid)])
    step.setup()
    sentence = next(s for s in c4[3].split(". ") if len(s.split()) >= 20)
    assert verdict(step, c4[100] + "\n" + sentence) == "valid.jsonl#4"
    assert [verdict(step, t) for t in c4[20:120]] == [None] * 100


def test_report_names_each_benchmark_with_its_counts(gsm8k, shared_data, tmp_path):
    humaneval = str(shared_data / "benchmarks" / "humaneval.jsonl.gz")
    step = Decontaminate(benchmarks=[gsm8k, humaneval])
    step.setup()
    question = next(read_records(gsm8k))["question"]
    assert verdict(step, f"Homework help: {question}") == "gsm8k_test.jsonl#1"
    step.write_report(str(tmp_path), step.take_counts())
    report = json.loads((tmp_path / "decontam.json").read_text())
    gsm, human = report["benchmarks"]
    assert (gsm["label"], gsm["items"], gsm["items_indexed"], gsm["documents_hit"]) == \
        ("gsm8k_test.jsonl", 1319, 1319, 1)
    assert (human["items"], human["documents_hit"]) == (164, 0)
    assert report["settings"]["ngram"] == 13 and report["action"] == "drop"


@pytest.mark.parametrize("options, message", [
    ({"benchmarks": []}, "at least one file"),
    ({"benchmarks": ["missing.jsonl"]}, "file not found"),
    ({"action": "shred"}, "action must be one of"),
    ({"ngram": 5, "min_tokens": 8}, "min_tokens must be <= ngram"),
    ({"fields": []}, "fields must be"),
])
def test_bad_options_are_one_line_errors(gsm8k, options, message):
    with pytest.raises(ValueError, match=message):
        Decontaminate(**{"benchmarks": [gsm8k], **options})


def test_empty_and_symbol_only_documents_are_kept(step):
    for text in ("", "   \n", "…… ※ ★★★ ½", "短"):
        assert verdict(step, text) is None
