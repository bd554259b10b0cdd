"""`xiulian judge` (AI feedback): the judging prompt, both orders averaged, the round robin, rows that
`xiulian dpo` reads, the self-rewarding path (--policy), and an imported HF Llama as the judge."""
import argparse
import json
import math

import pytest
import torch

from corpus.errors import UserError
from train.data.preference_formats import load_pairs
from train.model.chat_template import prompt_ids
from train.model.checkpoint import load_model, load_tokenizer, save
from train.model.tokenizer import Tokenizer
from train.model.transformer import ModelConfig, Transformer
from train.stages.judge.cli import add_parsers, judge_files
from train.stages.judge.judge import (DEFAULT_TEMPLATE, Comparison, JudgePrompter, check_template, compare,
                                      fill, judge, judge_many, label_logprobs, question_text, select)

QUESTION = "What is the capital of France?"


@pytest.fixture(scope="module")
def tiny_judge(tokenizer_dir, tmp_path_factory):
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=2048, dim=32, n_layers=2, n_heads=4, n_kv_heads=2, max_seq_len=256))
    return save(tmp_path_factory.mktemp("judge") / "tiny", model.eval(), Tokenizer(tokenizer_dir))


def cli(argv: list[str]) -> int:
    """`xiulian judge ARGS`, parsed and run in this process."""
    from corpus.cli import _command
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"), _command)
    args = parser.parse_args(["judge", *argv])
    return args.run(args)


def write_jsonl(path, records) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return str(path)


def test_the_judging_prompt_is_one_user_turn_answered_by_a_or_b(tokenizer_dir):
    tok = Tokenizer(tokenizer_dir)
    prompt, label_a, label_b = JudgePrompter(tok, 256).ids(QUESTION, "Paris.", "Lyon.")
    text = ("Question:\nWhat is the capital of France?\n\nAnswer A:\nParis.\n\nAnswer B:\nLyon.\n\n"
            "Which answer is better? Reply with A or B.")
    assert prompt == prompt_ids(tok, [{"role": "user", "content": text}])   # ends with <|assistant|>
    assert (label_a, label_b) == (tok.encode("A"), tok.encode("B")) and len(label_a) == 1
    # Placeholders are filled in one pass: an answer quoting one stays as written.
    assert fill(DEFAULT_TEMPLATE, "q", "see {answer_b}", "b").count("see {answer_b}") == 1
    assert question_text([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]) == \
        "System: Be brief.\n\nUser: Hi"
    with pytest.raises(UserError, match=r"lacks \{answer_b\}"):
        check_template("Q: {question} A: {answer_a}")


def test_long_answers_are_cut_so_every_pair_fits_the_context(tokenizer_dir):
    tok = Tokenizer(tokenizer_dir)
    prompter = JudgePrompter(tok, 128)
    long_answer = "The capital of France is Paris, a city on the Seine. " * 20
    question, answers, truncated = prompter.fit(QUESTION, [long_answer, "Paris.", long_answer + "Also Lyon."])
    assert truncated and question == QUESTION and answers[1] == "Paris."   # short parts keep all they have
    assert long_answer.startswith(answers[0]) and len(answers[0]) < len(long_answer)
    for a, b in ((0, 2), (2, 0), (0, 1)):
        assert prompter.fits(prompter.ids(question, answers[a], answers[b])[0])
    assert prompter.fit(QUESTION, ["Paris.", "Lyon."]) == (QUESTION, ["Paris.", "Lyon."], False)


def test_both_orders_are_averaged_to_cancel_the_position_bias(tiny_judge):
    model, tok = load_model(tiny_judge).eval(), load_tokenizer(tiny_judge)
    prompter = JudgePrompter(tok, model.config.max_seq_len)

    def p_a(first: str, second: str) -> float:  # P(A) / (P(A) + P(B)), straight from the logits
        prompt, label_a, label_b = prompter.ids(QUESTION, first, second)
        with torch.no_grad():
            logp = model(torch.tensor([prompt]))[0, -1].log_softmax(-1)
        return 1 / (1 + math.exp(logp[label_b[0]] - logp[label_a[0]]))

    x, y = "Paris.", "I do not know, maybe Lyon or Marseille."
    verdict = judge(model, prompter, QUESTION, [x, y])
    c = verdict.comparisons[0]
    assert c.p_first == pytest.approx((p_a(x, y) + 1 - p_a(y, x)) / 2, abs=1e-5)
    assert c.position_bias == pytest.approx((p_a(x, y) + p_a(y, x)) / 2 - 0.5, abs=1e-5)
    assert verdict.chosen == (0 if c.p_first > 0.5 else 1) and verdict.comparison.p_first >= 0.5
    # Swapping the inputs gives the complementary verdict: the order shown cannot matter.
    swapped = judge(model, prompter, QUESTION, [y, x]).comparisons[0]
    assert swapped.p_first == pytest.approx(1 - c.p_first, abs=1e-5)
    assert swapped.position_bias == pytest.approx(c.position_bias, abs=1e-5)
    # Batched with a longer task (right padding) or alone: the same probabilities.
    both = judge_many(model, prompter, [("A much longer question " * 10, ["yes", "no"]), (QUESTION, [x, y])])
    assert both[1].comparisons[0].p_first == pytest.approx(c.p_first, abs=1e-5)


def test_labels_split_where_their_encodings_part():
    from train.stages.judge.judge import _split_labels
    assert _split_labels([1, 2, 3, 9], [1, 2, 3, 10]) == ([1, 2, 3], [9], [10])
    # SentencePiece may encode " A" as "▁" + "A": the shared "▁" (id 5) joins the prompt.
    assert _split_labels([1, 2, 5, 6], [1, 2, 5, 7, 8]) == ([1, 2, 5], [6], [7, 8])
    with pytest.raises(UserError, match="same tokens"):
        _split_labels([1, 2, 3], [1, 2, 3])


def test_multi_token_labels_sum_their_log_probs(tiny_judge):
    model = load_model(tiny_judge).eval()
    prompt, label_a, label_b = [0, 11, 12, 13], [40, 41, 42], [50]
    ((logp_a, logp_b),) = label_logprobs(model, [(prompt, label_a, label_b)])
    with torch.no_grad():
        logits = model(torch.tensor([prompt + label_a])).log_softmax(-1)[0]
    expected_a = sum(logits[len(prompt) - 1 + k, t].item() for k, t in enumerate(label_a))
    assert logp_a == pytest.approx(expected_a, abs=1e-5)
    assert logp_b == pytest.approx(logits[len(prompt) - 1, 50].item(), abs=1e-5)


def verdicts(table: dict) -> dict:
    return {pair: Comparison(p, 0.0, True, 1.0) for pair, p in table.items()}


def test_round_robin_chooses_most_wins_and_rejects_fewest():
    # 1 beats everyone, 3 loses to everyone: 1 is chosen, 3 rejected.
    table = {(0, 1): 0.2, (0, 2): 0.6, (0, 3): 0.7, (1, 2): 0.9, (1, 3): 0.8, (2, 3): 0.55}
    assert select(4, verdicts(table)) == (1, 3)
    # A cycle 0 > 1 > 2 > 0, one win each: summed probability decides (0: .9 + .4, 1: .1 + .7, 2: .3 + .6).
    assert select(3, verdicts({(0, 1): 0.9, (1, 2): 0.7, (0, 2): 0.4})) == (0, 1)
    # A draw is half a win each; a full tie goes to position (earlier chosen, later rejected).
    assert select(2, verdicts({(0, 1): 0.5})) == (0, 1)
    assert select(2, verdicts({(0, 1): 0.3})) == (1, 0)
    assert compare((-1.0, -2.0), (-1.0, -2.0)).consistent is False   # "A" both times: position, not content


RECORDS = [
    {"prompt": QUESTION, "answers": ["Paris.", "Lyon, I think.", "Paris."]},        # a repeat: two answers
    {"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}],
     "samples": [{"text": "Blue.", "reward": 0.1}, {"text": "Green."}, {"text": "Seven."},
                 {"text": "Red, green and", "finished": False}]},      # as `xiulian bon --keep-all` writes
    {"instruction": "Translate to French:", "input": "cat", "answer_a": "chat", "answer_b": "chien"},
    {"prompt": "你好", "chosen": "你好！有什么可以帮你？", "rejected": "走开。"},  # labelled by people
    {"prompt": "Say one thing.", "answers": ["one", "  "]},
    {"prompt": "No answers here."},
    {"prompt": "Bad answers.", "answers": "not a list"},
]


def test_judge_writes_pairs_that_dpo_reads_the_same_on_every_run(tiny_judge, tmp_path, capsys):
    data = write_jsonl(tmp_path / "answers.jsonl", RECORDS)
    out = tmp_path / "prefs.jsonl"
    assert cli(["--judge", str(tiny_judge), "--data", data, "-o", str(out), "--min-confidence", "0", "-q"]) == 0
    printed = capsys.readouterr().out
    assert "judge: 7 records, 4 judged, 4 pairs written" in printed
    assert "1 answers.jsonl: no answers to compare" in printed and "1 fewer than two different answers" in printed
    dropped = next(line for line in printed.splitlines() if "answers dropped:" in line)
    assert all(part in dropped for part in ("1 duplicate", "1 empty", '1 unfinished ("finished": false)'))
    assert "position bias" in printed
    assert "of 1 labelled pairs" in printed
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [row["prompt"] for row in rows] == [QUESTION, RECORDS[1]["prompt"], "Translate to French:\n\ncat", "你好"]
    for row, answers in zip(rows, [["Paris.", "Lyon, I think."], ["Blue.", "Green.", "Seven."], ["chat", "chien"],
                                   ["你好！有什么可以帮你？", "走开。"]]):
        assert row["chosen"] in answers and row["rejected"] in answers and row["chosen"] != row["rejected"]
        assert row["judge"]["model"] == str(tiny_judge.resolve()) and 0 <= row["judge"]["p_chosen"] <= 1
    pairs, skipped = load_pairs([out])
    assert len(pairs) == 4 and not skipped
    assert pairs[1].prompt[0] == {"role": "system", "content": "Be brief."} and pairs[1].chosen == rows[1]["chosen"]
    first = out.read_bytes()
    cli(["--judge", str(tiny_judge), "--data", data, "-o", str(out), "--min-confidence", "0", "-q"])
    assert out.read_bytes() == first
    # A pair is kept only when the judge is sure enough: P(chosen better) >= --min-confidence.
    summary = judge_files(str(tiny_judge), str(tmp_path / "sure.jsonl"), data=[data], min_confidence=0.9,
                          progress=False)
    assert summary["skipped"]["below --min-confidence"] == 4 - summary["pairs"]
    assert all(json.loads(line)["judge"]["p_chosen"] >= 0.9 for line in open(tmp_path / "sure.jsonl"))


def test_custom_template_and_bad_options_are_one_line_errors(tiny_judge, tmp_path):
    data = write_jsonl(tmp_path / "answers.jsonl", RECORDS[:2])
    template = tmp_path / "judge.txt"
    template.write_text("Q: {question}\n1) {answer_a}\n2) {answer_b}\nIs 1) or 2) better? Say A for 1), B for 2).\n")
    custom = template.read_text().rstrip("\n")
    prompter = JudgePrompter(load_tokenizer(tiny_judge), 256, custom)
    filled = "Q: Hi?\n1) yes\n2) no\nIs 1) or 2) better? Say A for 1), B for 2)."
    assert prompter.ids("Hi?", "yes", "no")[0] == prompt_ids(prompter.tokenizer, [{"role": "user", "content": filled}])
    summary = judge_files(str(tiny_judge), str(tmp_path / "t.jsonl"), data=[data], min_confidence=0,
                          template=custom, progress=False)
    assert summary["pairs"] == 2
    template.write_text("Q: {question}\n1) {answer_a}\n")
    with pytest.raises(UserError, match="lacks"):
        cli(["--judge", str(tiny_judge), "--data", data, "-o", str(tmp_path / "x.jsonl"), "--template", str(template)])
    with pytest.raises(UserError, match="no prompts with answers to judge"):
        cli(["--judge", str(tiny_judge), "--data", write_jsonl(tmp_path / "none.jsonl", RECORDS[5:]),
             "-o", str(tmp_path / "x.jsonl")])
    with pytest.raises(SystemExit):
        cli(["--judge", str(tiny_judge), "--prompts", data, "-o", str(tmp_path / "x.jsonl")])   # no --policy


def test_self_rewarding_round_samples_with_the_policy_and_judges(tiny_judge, tmp_path):
    from train.model.chat_template import stop_ids
    from train.serve.rollout import sample_answers
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": "Describe a process of making crepes."},
                                                       {"instruction": "Name a colour."}, {"nothing": 1}])
    out = tmp_path / "round1.jsonl"
    args = ["--judge", str(tiny_judge), "--policy", str(tiny_judge), "--prompts", prompts, "-n", "3",
            "--max-new-tokens", "6", "--temperature", "1", "--seed", "3", "-o", str(out), "--min-confidence", "0", "-q"]
    cli(args + ["--keep-unfinished"])
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [row["prompt"] for row in rows] == ["Describe a process of making crepes.", "Name a colour."]
    # The answers are the policy's samples: sample_answers with the same seed gives the same texts.
    model, tok = load_model(tiny_judge).eval(), load_tokenizer(tiny_judge)
    ids = [prompt_ids(tok, [{"role": "user", "content": row["prompt"]}]) for row in rows for _ in range(3)]
    sampled = [tok.decode(a.ids).strip() for a in sample_answers(model, ids, 6, 1.0, stop=stop_ids(tok), seed=3)]
    for k, row in enumerate(rows):
        assert {row["chosen"], row["rejected"]} <= set(sampled[3 * k:3 * k + 3])
        assert row["policy"] == row["judge"]["model"]
    assert len(load_pairs([out])[0]) == 2
    first = out.read_bytes()
    cli(args + ["--keep-unfinished"])
    assert out.read_bytes() == first
    # By default an answer cut off at --max-new-tokens is not a candidate (a random model rarely stops).
    summary = judge_files(str(tiny_judge), str(out), prompts=[prompts], policy=str(tiny_judge), num_answers=3,
                          sampling={"max_new_tokens": 6, "temperature": 1.0, "seed": 3}, progress=False)
    cut = summary["answers_dropped"]["cut off at --max-new-tokens"]
    unknown = "prompts.jsonl: unknown format (no prompt, instruction, messages or conversations)"
    assert cut > 0 and summary["records"] == 3 and summary["skipped"][unknown] == 1


def sentencepiece_like_llama(folder):
    """A Hugging Face Llama whose tokenizer has no chat tokens: Metaspace BPE as in Llama 2, <s> and </s>."""
    transformers = pytest.importorskip("transformers", reason="the [hf] extra is not installed")
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers
    tok = HFTokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer, tok.decoder = pre_tokenizers.Metaspace(), decoders.Metaspace()
    texts = [DEFAULT_TEMPLATE, "Better answer:", QUESTION, "Paris is the capital of France.", "Lyon is a city."] * 5
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=200, special_tokens=["<unk>", "<s>", "</s>"]))
    folder.mkdir()
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}))
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, intermediate_size=64,
                                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                      max_position_embeddings=256, tie_word_embeddings=False)
    llama = transformers.LlamaForCausalLM(config).eval()
    llama.save_pretrained(folder)
    return llama, transformers.AutoTokenizer.from_pretrained(folder)


def test_an_imported_hf_llama_judges_with_a_plain_text_prompt(tmp_path):
    from train.model.hf import import_hf
    llama, hf_tok = sentencepiece_like_llama(tmp_path / "llama")
    imported = import_hf(str(tmp_path / "llama"), str(tmp_path / "imported"))
    prompter = JudgePrompter(load_tokenizer(imported), 256)
    assert prompter.style == "plain"
    prompt, label_a, label_b = prompter.ids(QUESTION, "Paris.", "Lyon.")
    text = fill(DEFAULT_TEMPLATE, QUESTION, "Paris.", "Lyon.") + "\n\nBetter answer:"
    # The labels are what " A" and " B" add after the shared text, as HF's tokenizer encodes the whole.
    assert [hf_tok.bos_token_id] + hf_tok(text + " A", add_special_tokens=False).input_ids == prompt + label_a
    assert [hf_tok.bos_token_id] + hf_tok(text + " B", add_special_tokens=False).input_ids == prompt + label_b
    ((logp_a, logp_b),) = label_logprobs(load_model(imported).eval(), [(prompt, label_a, label_b)])
    with torch.no_grad():
        theirs = llama(torch.tensor([prompt + label_a])).logits.log_softmax(-1)[0]
    assert logp_a == pytest.approx(sum(theirs[len(prompt) - 1 + k, t].item() for k, t in enumerate(label_a)), abs=1e-4)
    data = write_jsonl(tmp_path / "answers.jsonl", RECORDS[:3])
    summary = judge_files(str(imported), str(tmp_path / "prefs.jsonl"), data=[data], min_confidence=0, progress=False)
    assert summary["pairs"] == 3 and summary["prompt_style"] == "plain"
    assert len(load_pairs([tmp_path / "prefs.jsonl"])[0]) == 3
