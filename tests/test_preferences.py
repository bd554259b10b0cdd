"""Stage 3: the Bradley–Terry, DPO and KTO losses against TRL's formulas, the reward head, the
DPO reference (LoRA adapters off, kept in the run), and `xiulian reward|dpo|kto` end to end."""
import json
import math

import numpy as np
import pytest
import torch

from corpus.errors import UserError
from tests.conftest import TINY_TRAIN_TOML, run_cli
from train.data.preference_batches import (PreferenceDataConfig, collate, fit, pair_examples, sequence_logps,
                                           split_by_prompt)
from train.data.preference_formats import PreferencePair, load_judged, load_pairs, to_judged
from train.model.chat_template import render
from train.model.checkpoint import load_model, save
from train.model.lora import adapters_disabled, apply_lora
from train.model.tokenizer import Tokenizer
from train.model.transformer import ModelConfig, Transformer
from train.stages.dpo.dpo import DPOConfig, DPOStage, KTOConfig, KTOStage, dpo_loss, judged_examples, kto_loss
from train.stages.preference_run import PREFERENCE_TRAIN_DEFAULTS
from train.stages.dpo.reference_logprobs import REFERENCE_FILE, compute_reference, reference_logps
from train.stages.reward.reward_model import (RewardModel, RewardStage, bradley_terry_loss, load_reward_model,
                                              score)

TINY = dict(vocab_size=2048, dim=32, n_layers=2, n_heads=4, n_kv_heads=2, max_seq_len=64)
PROMPT = [{"role": "user", "content": "What is the capital of France?"}]
PAIRS = [PreferencePair(PROMPT, "Paris.", "I do not know, maybe Lyon or Marseille."),
         PreferencePair([{"role": "user", "content": "你好"}], "你好！有什么可以帮你？", "走开。")]


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


# Fixed tensors for the losses: policy and reference log-probs of four pairs / answers.
POLICY_C, POLICY_R = [-12.0, -30.5, -7.25, -50.0], [-14.0, -29.0, -9.0, -41.0]
REF_C, REF_R = [-13.0, -30.0, -8.0, -48.0], [-13.5, -30.0, -8.5, -44.0]


def t(values):
    return torch.tensor(values, dtype=torch.float64)


def test_bradley_terry_loss_matches_trl():
    chosen, rejected, margin = [1.5, -0.2, 0.3, 2.0], [0.5, 0.4, 0.3, -1.0], [0.0, 1.0, 0.5, 0.25]
    plain = -sum(log_sigmoid(c - r) for c, r in zip(chosen, rejected)) / 4
    with_margin = -sum(log_sigmoid(c - r - m) for c, r, m in zip(chosen, rejected, margin)) / 4
    centred = with_margin + 0.01 * sum((c + r) ** 2 for c, r in zip(chosen, rejected)) / 4
    assert bradley_terry_loss(t(chosen), t(rejected)).item() == pytest.approx(plain, abs=1e-6)
    assert bradley_terry_loss(t(chosen), t(rejected), t(margin)).item() == pytest.approx(with_margin, abs=1e-6)
    assert bradley_terry_loss(t(chosen), t(rejected), t(margin), 0.01).item() == pytest.approx(centred, abs=1e-6)


@pytest.mark.parametrize("beta, smoothing", [(0.1, 0.0), (0.5, 0.2)])
def test_dpo_loss_matches_trl(beta, smoothing):
    losses, chosen_rewards, rejected_rewards = dpo_loss(t(POLICY_C), t(POLICY_R), t(REF_C), t(REF_R), beta, smoothing)
    for i in range(4):
        h = (POLICY_C[i] - POLICY_R[i]) - (REF_C[i] - REF_R[i])
        expected = -(1 - smoothing) * log_sigmoid(beta * h) - smoothing * log_sigmoid(-beta * h)
        assert losses[i].item() == pytest.approx(expected, abs=1e-6)
        assert chosen_rewards[i].item() == pytest.approx(beta * (POLICY_C[i] - REF_C[i]), abs=1e-6)
        assert rejected_rewards[i].item() == pytest.approx(beta * (POLICY_R[i] - REF_R[i]), abs=1e-6)


@pytest.mark.parametrize("mismatched_shift", [+1.5, -3.0])  # a negative KL estimate is clamped to 0
def test_kto_loss_matches_trl(mismatched_shift):
    beta, w_good, w_bad = 0.1, 1.0, 1.33
    policy, reference, desirable = POLICY_C, REF_C, [True, False, True, False]
    policy_mismatched = [r + mismatched_shift + 0.1 * i for i, r in enumerate(REF_R)]
    kl = max(0.0, sum(p - r for p, r in zip(policy_mismatched, REF_R)) / 4)
    expected = [w_good * (1 - sigmoid(beta * (p - r - kl))) if good else w_bad * (1 - sigmoid(beta * (kl - (p - r))))
                for p, r, good in zip(policy, reference, desirable)]
    mismatched = t(policy_mismatched).requires_grad_()
    losses, rewards, got_kl = kto_loss(t(policy), t(reference), mismatched, t(REF_R), torch.tensor(desirable),
                                       beta, w_good, w_bad)
    assert got_kl.item() == pytest.approx(kl, abs=1e-6) and not got_kl.requires_grad  # detached
    assert losses.tolist() == pytest.approx(expected, abs=1e-6)
    assert losses.mean().item() == pytest.approx(sum(expected) / 4, abs=1e-6)  # TRL: mean over answers
    assert rewards.tolist() == pytest.approx([beta * (p - r) for p, r in zip(policy, reference)], abs=1e-6)


def tiny(cls=Transformer):
    torch.manual_seed(0)
    return cls(ModelConfig(**TINY)).eval()


def test_examples_render_as_the_chat_template_with_the_answer_supervised(tokenizer_dir):
    tok = Tokenizer(tokenizer_dir)
    examples, counts = pair_examples(PAIRS, tok, max_len=1000, overlong="truncate")
    batch = collate(examples, tok.special["pad"])
    for row, (pair, answer) in enumerate([(PAIRS[0], "chosen"), (PAIRS[1], "chosen"),
                                          (PAIRS[0], "rejected"), (PAIRS[1], "rejected")]):
        rendered = render(tok, pair.prompt + [{"role": "assistant", "content": getattr(pair, answer)}], train_on="last")
        length = batch["lengths"][row]
        assert batch["ids"][row, :length].tolist() == rendered.ids
        assert batch["answer_mask"][row, :length].tolist() == rendered.supervised
        assert not batch["answer_mask"][row, length:].any() and (batch["ids"][row, length:] == tok.special["pad"]).all()
    # Too long: the prompt keeps its first token and its end, answers lose their ends.
    prompt, answers = fit(list(range(100)), [list(range(500, 520)), list(range(600, 690))], max_len=64)
    assert prompt == [0] + list(range(69, 100)) and answers == [list(range(500, 520)), list(range(600, 632))]
    _, counts = pair_examples(PAIRS, tok, max_len=12, overlong="drop")
    assert counts == {"dropped_overlong": 2}


def test_hidden_states_are_what_the_lm_head_reads():
    model, ids = tiny(), torch.randint(0, 2048, (2, 10), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(model.lm_head(model.hidden_states(ids)), model(ids), atol=1e-6)


def test_reward_is_read_at_the_last_real_token_whatever_the_padding(tokenizer_dir):
    tok, model = Tokenizer(tokenizer_dir), tiny(RewardModel)
    examples, _ = pair_examples(PAIRS, tok, 1000, "truncate")
    batch = collate(examples, tok.special["pad"])
    with torch.no_grad():
        rewards = model(batch["ids"], batch["lengths"])
        for row in range(4):
            alone = batch["ids"][row:row + 1, :batch["lengths"][row]]
            hidden = model.hidden_states(alone)[0, -1]
            assert rewards[row].item() == pytest.approx((hidden @ model.reward_head.weight[0]).item(), abs=1e-5)
    conversations = [p.prompt + [{"role": "assistant", "content": a}] for p in PAIRS for a in (p.chosen, p.rejected)]
    by_score = score(model, tok, conversations, batch_size=3)
    assert by_score == pytest.approx([rewards[i].item() for i in (0, 2, 1, 3)], abs=1e-5)
    with pytest.raises(UserError, match="must end with an assistant answer"):
        score(model, tok, [PROMPT])


def test_reward_head_matches_transformers_sequence_classification(tokenizer_dir, tmp_path):
    transformers = pytest.importorskip("transformers", reason="the [hf] extra is not installed")
    from train.model.hf import export_hf
    tok, model = Tokenizer(tokenizer_dir), tiny(RewardModel)
    save(tmp_path / "rm", model, tok)
    export_hf(str(tmp_path / "rm"), str(tmp_path / "hf"))
    hf = transformers.LlamaForSequenceClassification.from_pretrained(tmp_path / "hf", num_labels=1).eval()
    hf.score.weight.data.copy_(model.reward_head.weight)
    batch = collate(pair_examples(PAIRS, tok, 1000, "truncate")[0], tok.special["pad"])
    with torch.no_grad():
        theirs = hf(input_ids=batch["ids"]).logits[:, 0]
        ours = model(batch["ids"], batch["lengths"])
    assert torch.allclose(ours, theirs, atol=1e-4)


@pytest.mark.parametrize("lora", [False, True])
def test_reward_checkpoint_keeps_its_head_and_loads_as_a_language_model(lora, tokenizer_dir, tmp_path):
    tok, base = Tokenizer(tokenizer_dir), tiny()
    save(tmp_path / "base", base, tok)
    model = RewardModel.from_language_model(load_model(tmp_path / "base"))
    if lora:
        apply_lora(model, rank=2)
        for name, p in model.named_parameters():
            if ".lora_B." in name:
                p.data.normal_(std=0.1)
    torch.nn.init.normal_(model.reward_head.weight)
    save(tmp_path / "rm", model, tok, {"init": str(tmp_path / "base")})
    assert json.loads((tmp_path / "rm" / "config.json").read_text())["heads"] == ["reward_head"]
    conversations = [p.prompt + [{"role": "assistant", "content": p.chosen}] for p in PAIRS]
    assert score(load_reward_model(tmp_path / "rm"), tok, conversations) == pytest.approx(
        score(model, tok, conversations), abs=1e-5)
    as_language_model = load_model(tmp_path / "rm")  # the transformer under the head
    ids = torch.tensor([tok.encode("Paris")])
    with torch.no_grad():
        assert torch.allclose(as_language_model.eval()(ids), Transformer.forward(model.eval(), ids), atol=1e-5)
    with pytest.raises(UserError, match="not a reward model"):
        load_reward_model(tmp_path / "base")


def test_dpo_reference_is_the_base_with_lora_adapters_off(tokenizer_dir):
    tok, model = Tokenizer(tokenizer_dir), tiny()
    examples, _ = pair_examples(PAIRS, tok, 1000, "truncate")
    pad, device, no_autocast = tok.special["pad"], torch.device("cpu"), torch.autocast("cpu", enabled=False)
    base = compute_reference(model, examples, 1, pad, device, no_autocast)
    apply_lora(model, rank=4)
    for name, p in model.named_parameters():
        if ".lora_B." in name:
            p.data.normal_(std=0.2)  # adapters that have learned something
    batch = collate(examples, pad)
    with torch.no_grad():
        adapted = sequence_logps(model, batch["ids"], batch["answer_mask"])
        with adapters_disabled(model):
            plain = sequence_logps(model, batch["ids"], batch["answer_mask"])
    assert not np.allclose(adapted.view(2, -1).T.numpy(), base, atol=1e-3)
    assert np.allclose(plain.view(2, -1).T.numpy(), base, atol=1e-4)
    assert np.allclose(compute_reference(model, examples, 2, pad, device, no_autocast), base, atol=1e-4)
    # A hand check of one log-prob: the sum over the answer tokens of log softmax.
    with torch.no_grad(), adapters_disabled(model):
        log_probs = model(batch["ids"][:1, :-1]).log_softmax(-1)[0]
    mask, targets = batch["answer_mask"][0, 1:], batch["ids"][0, 1:]
    by_hand = sum(log_probs[i, targets[i]].item() for i in range(len(targets)) if mask[i])
    assert base[0, 0] == pytest.approx(by_hand, abs=1e-4)


def test_reference_is_kept_in_the_run_and_guards_against_other_data(tokenizer_dir, tmp_path):
    tok, model = Tokenizer(tokenizer_dir), tiny()
    examples, _ = pair_examples(PAIRS, tok, 1000, "truncate")
    args = (1, tok.special["pad"], torch.device("cpu"), torch.autocast("cpu", enabled=False))
    first = reference_logps(tmp_path, model, {"train": examples, "validation": []}, *args)
    assert (tmp_path / REFERENCE_FILE).is_file() and first["validation"].shape == (0, 2)
    with torch.no_grad():
        model.norm.weight.mul_(3)  # "trained": a resumed run must not recompute with these weights
    again = reference_logps(tmp_path, model, {"train": examples, "validation": []}, *args)
    assert np.array_equal(first["train"], again["train"])
    with pytest.raises(UserError, match="other data"):
        reference_logps(tmp_path, model, {"train": examples[:1], "validation": []}, *args)


def stage_for(kind: str, tok, model):
    """A stage over PAIRS (KTO: their four judged answers), reference log-probs attached."""
    pad = tok.special["pad"]
    if kind == "reward":
        examples, _ = pair_examples(PAIRS, tok, 1000, "truncate")
        return RewardStage(examples, [], 4, 0, pad)
    if kind == "dpo":
        examples, _ = pair_examples(PAIRS, tok, 1000, "truncate")
        names, stage = ("ref_chosen", "ref_rejected"), DPOStage
    else:
        judged = [j for p in PAIRS for j in to_judged({"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected})]
        examples, _ = judged_examples(judged, tok, 1000, "truncate", seed=0)
        names, stage = ("ref_completion", "ref_mismatched"), KTOStage
    reference = compute_reference(model, examples, 4, pad, torch.device("cpu"), torch.autocast("cpu", enabled=False))
    for example, row in zip(examples, reference):
        example.values.update(zip(names, map(float, row)))
    return stage(examples, [], 4, 0, pad, options=DPOConfig() if kind == "dpo" else KTOConfig())


@pytest.mark.parametrize("kind", ["reward", "dpo", "kto"])
def test_each_loss_learns_its_training_preferences(kind, tokenizer_dir):
    tok = Tokenizer(tokenizer_dir)
    model = tiny(RewardModel if kind == "reward" else Transformer).train()
    stage = stage_for(kind, tok, model)
    batch = stage.next_batches(1, 0, 1)[0]
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses, metrics = [], []
    for _ in range(8):
        loss, extra = stage.loss(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        metrics.append(extra)
    assert losses[-1] < losses[0]
    assert metrics[-1]["accuracy"] == 1.0
    if kind == "dpo":  # at step one the policy is the reference: every implicit reward is 0
        assert metrics[0]["margin"] == pytest.approx(0, abs=1e-4) and losses[0] == pytest.approx(math.log(2), abs=1e-4)
        assert metrics[-1]["margin"] > 0


# ---- the commands, on the shared data ---------------------------------------------------------

@pytest.fixture
def xiulian():
    """`xiulian` in this process. Returns main's exit code."""
    from corpus.cli import main
    return lambda *args: main([str(a) for a in args])


@pytest.fixture(scope="module")
def base_run(prose_files, tokenizer_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("prefbase")
    (root / "tiny.toml").write_text(TINY_TRAIN_TOML)
    run_cli("pretrain", "--data", *prose_files, "--tokenizer", tokenizer_dir, "--config", root / "tiny.toml",
            "-o", root / "run", "--max-steps", "4", "-q")
    return root / "run"


def val_record(run) -> dict:
    return [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "val_loss" in r][-1]


# The validation items the loop reads: its eval_batches x --batch-size 4 (here: all of them).
EVALUATED = PREFERENCE_TRAIN_DEFAULTS["eval_batches"] * 4


def assert_accuracy(reported: float, differences: np.ndarray, noise: float = 2e-5) -> None:
    """`reported` is the share of pairs whose chosen answer scores higher, recomputed here; a
    pair closer than `noise` (batches padded differently) may count either way."""
    low, high = (differences > noise).mean(), (differences > -noise).mean()
    assert low - 1e-6 <= reported <= high + 1e-6, (reported, low, high)
    assert high - low <= 2 / len(differences)    # the known answer is sharp to a pair or two


def evaluated_items(items):
    """The held-out items the loop evaluates, in its order (the first validation batches)."""
    return split_by_prompt(items, PreferenceDataConfig())[1][:EVALUATED]


def test_reward_command_trains_reports_accuracy_and_scores(xiulian, base_run, shared_data, tmp_path, capsys):
    data = shared_data / "preference" / "hh_rlhf_harmless_base_test.shared80.jsonl.gz"
    assert xiulian("reward", "--init", base_run, "--data", data, "-o", tmp_path / "rm", "--max-steps", "3",
                   "--batch-size", "4", "-q") == 0
    summary = json.loads((tmp_path / "rm" / "run.json").read_text())
    assert summary["pairs"]["validation"] > 100 and summary["pairs"]["train"] + summary["pairs"]["validation"] == 1858
    # The known answer: the saved reward model, loaded afresh, on the evaluated held-out pairs.
    model = load_reward_model(tmp_path / "rm")
    tok = Tokenizer(base_run / "checkpoint")
    examples, _ = pair_examples(evaluated_items(load_pairs([str(data)])[0]), tok, model.config.max_seq_len,
                                "truncate")
    batch = collate(examples, tok.special["pad"])
    with torch.no_grad():
        chosen, rejected = model(batch["ids"], batch["lengths"]).chunk(2)
    val = val_record(tmp_path / "rm")
    assert_accuracy(val["val_accuracy"], (chosen - rejected).numpy())
    assert val["val_margin"] == pytest.approx((chosen - rejected).mean().item(), abs=1e-4)
    capsys.readouterr()
    assert xiulian("reward", "score", tmp_path / "rm", "--data", shared_data / "preference" / "kto_en_demo.json",
                   "-o", tmp_path / "scored.jsonl") == 0
    scored = [json.loads(line) for line in (tmp_path / "scored.jsonl").read_text().splitlines()]
    assert len(scored) == 300 and all(isinstance(r["reward"], float) and "messages" in r for r in scored)
    assert "scored 300 records" in capsys.readouterr().out
    # judge's input shape, {prompt, answers}: one reward per answer, each as the single record scores it.
    (tmp_path / "answers.jsonl").write_text(json.dumps({"prompt": "Say hi.", "answers": ["Hi!", "", "Go away."]})
                                            + "\n" + json.dumps({"prompt": "x", "answers": []}) + "\n")
    (tmp_path / "single.jsonl").write_text(json.dumps({"prompt": "Say hi.", "completion": "Go away."}) + "\n")
    for name in ("answers", "single"):
        assert xiulian("reward", "score", tmp_path / "rm", "--data", tmp_path / f"{name}.jsonl",
                       "-o", tmp_path / f"{name}_scored.jsonl") == 0
    [several] = [json.loads(line) for line in (tmp_path / "answers_scored.jsonl").read_text().splitlines()]
    [single] = [json.loads(line) for line in (tmp_path / "single_scored.jsonl").read_text().splitlines()]
    rewards = several["rewards"]  # one per answer, in order; the empty one unscored
    assert len(rewards) == 3 and rewards[1] is None and rewards[2] == pytest.approx(single["reward"], abs=1e-5)
    assert "1 skipped" in capsys.readouterr().out
    (tmp_path / "empty.jsonl").write_text("")
    assert xiulian("reward", "score", tmp_path / "rm", "--data", tmp_path / "empty.jsonl") == 2
    assert "no record to score" in capsys.readouterr().err


def test_dpo_command_moves_the_policy_and_resumes_without_recomputing(xiulian, base_run, shared_data, tmp_path):
    data = shared_data / "preference" / "oasst1_rm_zh.shared80.json"  # Chinese, ranked, with history
    run = tmp_path / "dpo"
    assert xiulian("dpo", "--init", base_run, "--data", data, "-o", run, "--max-steps", "2", "--batch-size", "4",
                   "--lora-rank", "2", "-q") == 0
    reference = (run / REFERENCE_FILE).read_bytes()
    assert xiulian("dpo", "--init", base_run, "--data", data, "-o", run, "--max-steps", "4", "--batch-size", "4",
                   "--lora-rank", "2", "-q") == 0
    assert (run / REFERENCE_FILE).read_bytes() == reference
    val = val_record(run)
    assert val["step"] == 4 and val["val_margin"] != 0
    assert val["val_reward_chosen"] - val["val_reward_rejected"] == pytest.approx(val["val_margin"], abs=1e-5)
    assert json.loads((run / "checkpoint" / "config.json").read_text())["lora"]["rank"] == 2
    # The known answer: implicit rewards β (log π − log π_ref) of the evaluated held-out pairs,
    # from the saved policy and the starting checkpoint, loaded afresh.
    tok = Tokenizer(base_run / "checkpoint")
    policy, reference = load_model(run / "checkpoint").eval(), load_model(base_run).eval()
    examples, _ = pair_examples(evaluated_items(load_pairs([str(data)])[0]), tok,
                                policy.config.max_seq_len + 1, "truncate")
    batch = collate(examples, tok.special["pad"])
    with torch.no_grad():
        log_ratio = 0.1 * (sequence_logps(policy, batch["ids"], batch["answer_mask"])
                           - sequence_logps(reference, batch["ids"], batch["answer_mask"]))
    chosen, rejected = log_ratio.chunk(2)
    assert_accuracy(val["val_accuracy"], (chosen - rejected).numpy())
    assert val["val_margin"] == pytest.approx((chosen - rejected).mean().item(), abs=1e-4)


def test_kto_command_weighs_undesirable_answers_and_starts_at_the_reference(xiulian, base_run, shared_data,
                                                                              tmp_path):
    """With a learning rate of 0 the policy stays the reference: every implicit reward and the
    KL estimate are 0, so each held-out answer's loss is its weight λ times 1 − σ(0) = λ/2."""
    run, data = tmp_path / "kto", shared_data / "preference" / "kto_en_demo.json"
    assert xiulian("kto", "--init", base_run, "--data", data, "-o", run, "--max-steps", "1",
                   "--batch-size", "4", "--lr", "0", "--undesirable-weight", "1.2", "-q") == 0
    val = val_record(run)
    assert val["val_kl"] == pytest.approx(0, abs=1e-4)
    assert val["val_signed_reward"] == pytest.approx(0, abs=1e-4)
    desirable = np.array([j.desirable for j in evaluated_items(load_judged([str(data)])[0])])
    assert 0 < desirable.sum() < len(desirable)
    assert val["val_loss"] == pytest.approx(np.where(desirable, 1.0, 1.2).mean() / 2, abs=1e-4)
    assert json.loads((run / "run.json").read_text())["answers"]["validation"] == len(desirable)


def test_missing_options_and_bad_data_are_one_line_errors(xiulian, base_run, tmp_path, capsys):
    with pytest.raises(SystemExit):
        xiulian("dpo", "--data", "x.json", "-o", tmp_path / "run")
    assert "required: --init" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        xiulian("reward", "--init", base_run, "--data", "x.json")
    assert "required: -o/--output" in capsys.readouterr().err
    (tmp_path / "sft.json").write_text(json.dumps([{"instruction": "Hi", "output": "Hello"}]))
    assert xiulian("dpo", "--init", base_run, "--data", tmp_path / "sft.json", "-o", tmp_path / "run", "-q") == 2
    assert "no usable preference pairs" in capsys.readouterr().err


def test_max_train_keeps_a_stable_part_of_the_training_prompts_and_the_same_validation():
    pairs = [PreferencePair([{"role": "user", "content": f"question {i}"}], "yes", "no") for i in range(200)]
    train, validation = split_by_prompt(pairs, PreferenceDataConfig())
    small_train, small_validation = split_by_prompt(pairs, PreferenceDataConfig(max_train=30))
    assert small_validation == validation and len(train) + len(validation) == 200
    assert len(small_train) == 30 and all(p in train for p in small_train)
    assert split_by_prompt(pairs, PreferenceDataConfig(max_train=30))[0] == small_train  # stable
    with pytest.raises(UserError):
        PreferenceDataConfig(max_train=0)
