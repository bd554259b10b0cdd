"""Best-of-N: prompts in every format, the argmax kept, the KL bound, the missing-EOS penalty,
output independent of --batch-size, and `xiulian bon` end to end on a tiny random policy and
reward model (built here in seconds, no shared data needed)."""
import json
import math

import pytest
import torch

from train.data.sampling_prompts import fit_prompt, read_prompts
from train.model.checkpoint import save
from train.model.tokenizer import train_tokenizer
from train.model.transformer import ModelConfig, Transformer
from train.stages.best_of_n.best_of_n import BestOfNSettings, best_of_n, kl_bound
from train.stages.reward.reward_model import RewardModel

TEXT = ("Paris is the capital of France. Make crepes with flour, eggs and milk. Recycling saves "
        "energy and keeps plastic out of the sea. "
        "北京是中国的首都。你好，有什么可以帮你？")
TINY = dict(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, max_seq_len=64)
QUESTIONS = ["What is the capital of France?", "How do I make crepes?", "Why recycle?", "你好"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """(tokenizer, policy dir, reward-model dir, prompts.jsonl): random weights, fixed seeds."""
    root = tmp_path_factory.mktemp("bon")
    tok = train_tokenizer(iter([TEXT] * 20), root / "tok", 300, progress=False)
    config = ModelConfig(vocab_size=tok.vocab_size, **TINY)
    torch.manual_seed(0)
    save(root / "policy", Transformer(config), tok)
    save(root / "rm", RewardModel(config), tok)
    prompts = root / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": q}, ensure_ascii=False) + "\n" for q in QUESTIONS),
                       encoding="utf-8")
    return tok, root / "policy", root / "rm", prompts


@pytest.fixture(scope="module")
def policy(models):
    from train.model.checkpoint import load_model
    return load_model(models[1]).eval()


@pytest.fixture
def xiulian():
    from corpus.cli import main
    return lambda *args: main([str(a) for a in args])


def answer_length(conversations):
    """A stand-in judge that prefers longer answers."""
    return [float(len(c[-1]["content"])) for c in conversations]


def run(models, policy, reward=answer_length, **options):
    prompts, _ = read_prompts([str(models[3])])
    return best_of_n(policy, models[0], reward, prompts,
                     BestOfNSettings(**{"max_new_tokens": 40, "keep_all": True, **options}))


def test_kl_bound_is_log_n_minus_n_minus_one_over_n():
    assert kl_bound(1) == 0
    assert kl_bound(4) == pytest.approx(math.log(4) - 3 / 4) == pytest.approx(0.6363, abs=1e-4)
    assert kl_bound(16) == pytest.approx(math.log(16) - 15 / 16)
    assert [kl_bound(n) for n in (1, 2, 4, 8)] == sorted(kl_bound(n) for n in (1, 2, 4, 8))


def test_best_answer_is_the_highest_scored_sample(models, policy):
    rows, summary = run(models, policy, n=5)
    assert [r["prompt"] for r in rows] == QUESTIONS
    for row in rows:
        samples = row["samples"]
        assert len(samples) == 5 and len({s["text"] for s in samples}) > 1   # real, different samples
        assert row["reward"] == max(s["reward"] for s in samples) == len(row["answer"])
        assert row["answer"] == max(samples, key=lambda s: s["reward"])["text"]
        assert row["mean_reward"] == pytest.approx(sum(s["reward"] for s in samples) / 5)
    assert summary["mean_best_reward"] > summary["mean_single_reward"]
    assert summary["mean_single_reward"] == pytest.approx(
        sum(s["reward"] for r in rows for s in r["samples"]) / (5 * len(rows)))
    assert summary["kl_bound"] == kl_bound(5) and summary["prompts"] == 4


def test_output_is_the_same_for_any_batch_size_and_changes_with_the_seed(models, policy):
    outputs = [json.dumps(run(models, policy, n=3, max_new_tokens=24, batch_size=size)[0])
               for size in (2, 7, 64)]
    assert outputs[0] == outputs[1] == outputs[2]
    assert json.dumps(run(models, policy, n=3, max_new_tokens=24, seed=1)[0]) != outputs[0]


def test_every_answer_gets_its_own_random_stream_across_sampling_calls(models, policy, tmp_path, monkeypatch):
    import train.stages.best_of_n.best_of_n
    monkeypatch.setattr(train.stages.best_of_n.best_of_n, "ANSWERS_PER_CALL", 6)  # 2 prompts of 3 answers per call
    path = tmp_path / "same.txt"
    path.write_text("How do I make crepes?\n" * 4, encoding="utf-8")
    prompts, _ = read_prompts([str(path)])
    rows, _ = best_of_n(policy, models[0], answer_length, prompts,
                        BestOfNSettings(n=3, max_new_tokens=12, keep_all=True))
    texts = [s["text"] for r in rows for s in r["samples"]]
    assert len(rows) == 4 and len(set(texts)) == 12   # same prompt, twelve different answers


def test_missing_eos_penalty_lowers_unfinished_answers(models, policy):
    flat = lambda conversations: [0.0] * len(conversations)  # noqa: E731 — every answer equal
    rows, summary = run(models, policy, reward=flat, n=6, missing_eos_penalty=2.5)
    samples = [s for r in rows for s in r["samples"]]
    assert 0 < sum(s["finished"] for s in samples) < len(samples)  # this seed gives both kinds
    assert all(s["reward"] == (0.0 if s["finished"] else -2.5) for s in samples)
    for row in rows:  # the first finished sample wins; among equals, the first
        first = next((s for s in row["samples"] if s["finished"]), row["samples"][0])
        assert (row["answer"], row["finished"]) == (first["text"], first["finished"])
    assert summary["missing_eos_penalty"] == 2.5
    assert summary["finished_share"] == sum(s["finished"] for s in samples) / len(samples)


def test_prompts_in_every_format_give_rows_in_order_and_bad_records_are_counted(models, xiulian, tmp_path,
                                                                                capsys):
    system, user = {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}
    records = [{"prompt": "Hi"},
               {"prompt": [system, user], "chosen": "Hello", "rejected": "Go away"},
               {"instruction": "Translate", "input": "你好", "output": "Hello"},
               {"messages": [user, {"role": "assistant", "content": "Hello"}]},   # the reply is dropped
               {"conversations": [{"from": "human", "value": "Why?"}]},
               42, {"text": "no prompt here"}]
    (tmp_path / "p.json").write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "p.txt").write_text("First question?\n\n第二个问题？\n", encoding="utf-8")
    _, policy_dir, rm, _ = models
    assert xiulian("bon", "--policy", policy_dir, "--reward", rm, "--prompts", tmp_path / "p.json",
                   tmp_path / "p.txt", "-n", 1, "--max-new-tokens", 4, "-o", tmp_path / "out.jsonl") == 0
    rows = [json.loads(r) for r in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["prompt"] for r in rows] == ["Hi", [system, user], "Translate\n\n你好", "Hi", "Why?",
                                           "First question?", "第二个问题？"]
    assert all(r["reward"] == r["mean_reward"] for r in rows)   # N = 1: the best is the only one
    assert "(skipped 2 records: " in capsys.readouterr().out


def test_long_prompts_are_cut_at_the_start_or_dropped(models, policy, tmp_path):
    assert fit_prompt(list(range(10)), max_len=64, max_new_tokens=8) == list(range(10))
    assert fit_prompt(list(range(100)), max_len=64, max_new_tokens=8) == [0] + list(range(45, 100))
    assert len(fit_prompt(list(range(100)), max_len=64, max_new_tokens=500)) == 32  # half the context
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps({"prompt": "Hi"}) + "\n" + json.dumps({"prompt": TEXT * 3}) + "\n")
    prompts, _ = read_prompts([str(path)])
    settings = dict(n=2, max_new_tokens=16, keep_all=False)
    rows, summary = best_of_n(policy, models[0], answer_length, prompts, BestOfNSettings(**settings))
    assert ["prompt_truncated" in r for r in rows] == [False, True] and summary["prompts_truncated"] == 1
    rows, summary = best_of_n(policy, models[0], answer_length, prompts,
                              BestOfNSettings(**settings, overlong="drop"))
    assert [r["prompt"] for r in rows] == ["Hi"] and summary["prompts_dropped_overlong"] == 1


def test_bon_command_writes_one_row_per_prompt_and_reports(models, xiulian, tmp_path, capsys):
    _, policy_dir, rm, prompts = models
    common = ["bon", "--policy", policy_dir, "--reward", rm, "--prompts", prompts, "-n", 4,
              "--max-new-tokens", 16, "--device", "cpu"]
    assert xiulian(*common, "-o", tmp_path / "a.jsonl") == 0
    line = capsys.readouterr().out
    rows = [json.loads(r) for r in (tmp_path / "a.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["prompt"] for r in rows] == QUESTIONS and "samples" not in rows[0]
    best = sum(r["reward"] for r in rows) / 4
    single = sum(r["mean_reward"] for r in rows) / 4
    assert f"best-of-4 on 4 prompts: mean reward {best:.4f} (single sample {single:.4f}" in line
    assert "KL bound log 4 - 3/4 = 0.6363 nats" in line and "of answers finished" in line
    assert not list(tmp_path.glob("*.tmp"))

    assert xiulian(*common, "--batch-size", 3, "--keep-all", "-q", "-o", tmp_path / "b.jsonl") == 0
    kept = [json.loads(r) for r in (tmp_path / "b.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [{k: v for k, v in r.items() if k != "samples"} for r in kept] == rows
    assert all(len(r["samples"]) == 4 and r["reward"] == max(s["reward"] for s in r["samples"]) for r in kept)
    assert capsys.readouterr().out == ""

    # A safety model (here the same one) whose every score is below the threshold takes over.
    assert xiulian(*common, "--safety-reward", rm, "--safety-threshold", 1e9, "-o", tmp_path / "c.jsonl") == 0
    assert "the safety score took over for 100.0% of answers" in capsys.readouterr().out
    safe = [json.loads(r) for r in (tmp_path / "c.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(r["safety_took_over"] and r["reward"] == r["safety"] == r["helpful"] for r in safe)
    assert [r["reward"] for r in safe] == [r["reward"] for r in rows]


def test_bad_options_and_inputs_are_one_line_errors(models, xiulian, tmp_path, capsys):
    _, policy_dir, rm, prompts = models
    common = ["bon", "--policy", policy_dir, "--reward", rm, "-o", tmp_path / "out.jsonl"]
    assert xiulian(*common, "--prompts", tmp_path / "missing.jsonl") == 2
    assert xiulian(*common, "--prompts", prompts, "-n", 0) == 2
    assert xiulian(*common, "--prompts", prompts, "--reward", policy_dir) == 2   # not a reward model
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors == [f"xiulian bon: error: no such file: {tmp_path / 'missing.jsonl'}",
                      "xiulian bon: error: -n must be at least 1",
                      errors[2]] and "is not a reward model" in errors[2]
    assert not (tmp_path / "out.jsonl").exists()
