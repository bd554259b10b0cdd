"""Stage 3 data: every preference format gives the same pair, KTO data gives judged answers,
and the shared files (hh-rlhf transcripts, LLaMA-Factory's DPO/KTO demos, Chinese oasst1) load."""
import gzip
import json

import pytest

from train.data.preference_formats import (JudgedAnswer, PreferencePair, load_judged, load_pairs,
                                           parse_transcript, to_judged, to_pair)
from train.data.sft_formats import Skipped

PROMPT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
          {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "你好吗？"}]
PAIR = PreferencePair(PROMPT, "很好。", "走开。")


def as_messages(prompt, answer):
    return prompt + [{"role": "assistant", "content": answer}]


def test_every_pair_format_gives_the_same_pair():
    explicit_strings = {"system": "Be brief.", "prompt": PROMPT[1:], "chosen": "很好。", "rejected": "走开。"}
    explicit_messages = {"prompt": PROMPT, "chosen": [{"role": "assistant", "content": "很好。"}],
                         "rejected": [{"role": "assistant", "content": "走开。"}]}
    implicit = {"chosen": as_messages(PROMPT, "很好。"), "rejected": as_messages(PROMPT, "走开。")}
    llama_factory = {"system": "Be brief.", "instruction": "你好吗？", "input": "",
                     "output": ["很好。", "走开。"], "history": [["Hi", "Hello!"]]}
    llama_factory_columns = {**{k: v for k, v in llama_factory.items() if k != "output"},
                             "chosen": "很好。", "rejected": "走开。"}
    sharegpt = {"system": "Be brief.", "conversations": [
        {"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}, {"from": "human", "value": "你好吗？"}],
        "chosen": {"from": "gpt", "value": "很好。"}, "rejected": {"from": "gpt", "value": "走开。"}}
    for record in (explicit_strings, explicit_messages, implicit, llama_factory, llama_factory_columns, sharegpt):
        assert to_pair(record) == PAIR, record
    # A ranked list gives its first two answers, as LLaMA-Factory reads it; a margin is kept.
    ranked = to_pair({"instruction": "2+2?", "output": ["4", "5", "22"], "margin": 2})
    assert (ranked.chosen, ranked.rejected, ranked.margin) == ("4", "5", 2.0)
    assert to_pair({"prompt": "Hi", "chosen": "Hello", "rejected": "Go"}).prompt == [{"role": "user", "content": "Hi"}]


def test_hh_rlhf_transcripts_split_off_the_shared_conversation():
    chosen = "\n\nHuman: What is 2+2?\n\nAssistant: 4\n\nHuman: Sure?\n\nAssistant: Yes, 4."
    rejected = "\n\nHuman: What is 2+2?\n\nAssistant: 4\n\nHuman: Sure?\n\nAssistant: No idea."
    pair = to_pair({"chosen": chosen, "rejected": rejected})
    assert pair.prompt == [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"},
                           {"role": "user", "content": "Sure?"}]
    assert (pair.chosen, pair.rejected) == ("Yes, 4.", "No idea.")
    assert parse_transcript("\n\nHuman: a\nb\n\nAssistant: c") == [
        {"role": "user", "content": "a\nb"}, {"role": "assistant", "content": "c"}]


@pytest.mark.parametrize("record, reason", [
    ({"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: a\n\nAssistant: b"}, "the same"),
    ({"chosen": "\n\nHuman: a\n\nAssistant: b\n\nHuman: c\n\nAssistant: d",
      "rejected": "\n\nHuman: a\n\nAssistant: x"}, "differ before their last answer"),
    ({"chosen": "\n\nHuman: a\n\nAssistant:", "rejected": "\n\nHuman: a\n\nAssistant: b"}, "empty assistant reply"),
    ({"chosen": "plain", "rejected": "text"}, "without a prompt"),
    ({"instruction": "x", "output": ["only one"]}, "at least two answers"),
    ({"prompt": "x", "chosen": "a", "rejected": "b", "margin": "big"}, "margin is not a number"),
    ({"messages": as_messages(PROMPT, "ok"), "label": True}, "KTO data"),
    ({"text": "plain"}, "unknown format"),
])
def test_unusable_pairs_are_skipped_with_a_reason(record, reason):
    with pytest.raises(Skipped, match=reason):
        to_pair(record)


def test_judged_answers_from_every_kto_format_and_from_pairs(tmp_path):
    expected = JudgedAnswer(PROMPT[1:2], "Hello!", True)
    assert to_judged({"prompt": "Hi", "completion": "Hello!", "label": True}) == [expected]
    assert to_judged({"prompt": PROMPT[1:2], "completion": [{"role": "assistant", "content": "Hello!"}],
                      "label": True}) == [expected]
    assert to_judged({"messages": PROMPT[1:3], "label": True}) == [expected]
    assert to_judged({"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}],
                      "kto_tag": False}) == [JudgedAnswer(PROMPT[1:2], "Hello!", False)]
    assert to_judged({"prompt": PROMPT, "chosen": "很好。", "rejected": "走开。"}) == [
        JudgedAnswer(PROMPT, "很好。", True), JudgedAnswer(PROMPT, "走开。", False)]
    with pytest.raises(Skipped, match="label is not true or false"):
        to_judged({"prompt": "Hi", "completion": "Hello!", "label": "yes"})
    # Files mix formats; every bad record is counted by reason, nothing silently.
    (tmp_path / "mixed.jsonl").write_text("\n".join([
        json.dumps({"prompt": "Hi", "completion": "Hello!", "label": True}), "{broken",
        json.dumps({"prompt": "Hi", "chosen": "a", "rejected": "b"}), json.dumps({"text": "x"})]), encoding="utf-8")
    judged, skipped = load_judged([tmp_path / "mixed.jsonl"])
    assert [j.desirable for j in judged] == [True, True, False]
    assert skipped == {"mixed.jsonl: not a JSON object": 1,
                       "mixed.jsonl: unknown format (no label, and not a pair)": 1}


def test_shared_hh_rlhf_file_loads_with_prefixes_split(shared_data):
    path = shared_data / "preference" / "hh_rlhf_harmless_base_test.shared80.jsonl.gz"
    pairs, skipped = load_pairs([path])
    assert len(pairs) == 1858 and sum(skipped.values()) == 8  # 1866 rows
    assert skipped[f"{path.name}: chosen and rejected differ before their last answer"] == 4
    first = json.loads(gzip.open(path, "rt", encoding="utf-8").readline())
    assert pairs[0].prompt[0] == {"role": "user", "content": "what are some pranks with a pen i can do?"}
    assert len(pairs[0].prompt) == 5 and pairs[0].prompt[-1]["role"] == "user"
    assert first["chosen"].endswith(pairs[0].chosen) and first["rejected"].endswith(pairs[0].rejected)
    assert all(p.prompt[-1]["role"] == "user" and p.chosen != p.rejected for p in pairs)


def test_shared_llama_factory_files_load(shared_data):
    folder = shared_data / "preference"
    oasst, skipped = load_pairs([folder / "oasst1_rm_zh.shared80.json"])
    assert len(oasst) == 629 and skipped == {"oasst1_rm_zh.shared80.json: chosen and rejected are the same": 2}
    raw = json.loads((folder / "oasst1_rm_zh.shared80.json").read_text(encoding="utf-8"))[0]
    assert oasst[0] == PreferencePair([{"role": "user", "content": raw["instruction"]}], *raw["output"][:2])
    assert "布洛芬" in oasst[0].prompt[0]["content"]
    assert any(len(p.prompt) > 1 for p in oasst)  # history turns became earlier messages
    for name in ("dpo_en_demo.json", "dpo_zh_demo.json"):
        pairs, skipped = load_pairs([folder / name])
        assert len(pairs) == 300 and not skipped, name
    judged, skipped = load_judged([folder / "kto_en_demo.json"])
    assert len(judged) == 300 and sum(j.desirable for j in judged) == 150 and not skipped
