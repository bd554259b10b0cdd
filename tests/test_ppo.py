"""PPO: the losses, GAE, whitening, the KL penalty and its controller against TRL's formulas on
fixed tensors; prompt files in every accepted shape; `xiulian ppo` end to end on a tiny model,
with a resumed run logging exactly what an uninterrupted one logs."""
import json
import math

import pytest
import torch

from train.data.sampling_prompts import read_prompts
from train.model.checkpoint import load_model, save
from train.model.tokenizer import Tokenizer
from train.model.transformer import ModelConfig, Transformer
from train.stages.ppo import arithmetic as P
from train.stages.ppo.stage import PolicyWithValue, PPOConfig
from train.stages.reward.reward_model import RewardModel

# Two answers over four token slots: the first four tokens long, the second two.
MASK = torch.tensor([[True, True, True, True], [True, True, False, False]])
REAL = [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1)]
NEW = [[-1.0, -2.0, -0.5, -3.0], [-1.5, -0.2, 9.0, 9.0]]     # padding slots hold junk on purpose
OLD = [[-1.1, -1.5, -0.5, -3.5], [-1.0, -0.3, 0.0, 0.0]]
ADVANTAGES = [[1.0, -0.5, 2.0, 0.3], [-1.0, 0.7, 5.0, 5.0]]


def t(rows):
    return torch.tensor(rows, dtype=torch.float64)


def close(tensor, rows) -> bool:
    return torch.allclose(tensor.double(), t(rows), rtol=0, atol=1e-9)


def mean_over_real(values) -> float:
    return sum(values[i][j] for i, j in REAL) / len(REAL)


def test_policy_loss_is_the_clipped_surrogate():
    eps = 0.2
    per_token, clipped_count = [[0.0] * 4 for _ in range(2)], 0
    for i, j in REAL:
        ratio = math.exp(NEW[i][j] - OLD[i][j])
        unclipped = -ADVANTAGES[i][j] * ratio
        clipped = -ADVANTAGES[i][j] * min(max(ratio, 1 - eps), 1 + eps)
        per_token[i][j] = max(unclipped, clipped)
        clipped_count += clipped > unclipped
    loss, stats = P.policy_loss(t(NEW), t(OLD), t(ADVANTAGES), MASK, eps)
    assert loss.item() == pytest.approx(mean_over_real(per_token), abs=1e-6)
    assert stats["clipfrac"] == pytest.approx(clipped_count / 6, abs=1e-6) and 0 < clipped_count < 6
    squared = [[0.5 * (n - o) ** 2 for n, o in zip(rn, ro)] for rn, ro in zip(NEW, OLD)]
    assert stats["approx_kl"] == pytest.approx(mean_over_real(squared), abs=1e-6)


def test_value_loss_is_clipped_around_the_old_values():
    values = [[0.5, 2.0, -1.0, 0.1], [0.0, 0.3, 7.0, 7.0]]
    old = [[0.4, 0.0, -0.5, 0.1], [0.2, 0.3, 0.0, 0.0]]
    returns = [[1.0, 2.0, 0.0, -0.2], [0.1, 0.9, 0.0, 0.0]]
    expected = [[0.0] * 4 for _ in range(2)]
    for i, j in REAL:
        clipped_value = old[i][j] + min(max(values[i][j] - old[i][j], -0.2), 0.2)
        expected[i][j] = 0.5 * max((values[i][j] - returns[i][j]) ** 2, (clipped_value - returns[i][j]) ** 2)
    v = t(values).requires_grad_()
    loss, stats = P.value_loss(v, t(old), t(returns), MASK, 0.2)
    assert loss.item() == pytest.approx(mean_over_real(expected), abs=1e-6)
    # Token (0, 1): the value jumped from 0 to exactly its return 2; clipped to 0.2 it still
    # pays 0.5 * 1.8², and no gradient pushes it further.
    assert expected[0][1] == pytest.approx(0.5 * 1.8 ** 2) and stats["value_clipfrac"] > 0
    loss.backward()
    assert v.grad[0, 1].item() == 0 and v.grad[0, 0].item() != 0


def test_kl_penalty_at_every_answer_token_and_the_score_at_the_last():
    logps = t([[-1.0, -2.0, -0.5, -3.0], [-1.5, -0.2, 0.0, 0.0]])
    ref = t([[-1.2, -1.0, -0.5, -2.0], [-1.0, -0.4, 0.0, 0.0]])
    rewards, kl = P.per_token_rewards(logps, ref, MASK, t([1.5, -0.5]), kl_coef=0.1)
    assert close(kl, [[0.2, -1.0, 0.0, -1.0], [-0.5, 0.2, 0.0, 0.0]])
    assert close(rewards, [[-0.02, 0.1, 0.0, 0.1 + 1.5], [0.05, -0.02 - 0.5, 0.0, 0.0]])


def test_missing_eos_penalty_only_hits_unfinished_answers():
    scores = P.apply_missing_eos_penalty(t([1.0, 2.0, -0.5]), torch.tensor([True, False, False]), 1.0)
    assert scores.tolist() == [1.0, 1.0, -1.5]


def test_gae_on_a_hand_computed_example():
    rewards = t([[0.0, 0.0, 1.0], [0.0, 2.0, 99.0]])
    values = t([[0.5, 0.2, 0.3], [1.0, 0.5, 99.0]])  # row 2's third slot is padding
    advantages, returns = P.gae(rewards, values, torch.tensor([[1, 1, 1], [1, 1, 0]]), gamma=1.0, lam=0.95)
    # Row 1: δ = (1 − 0.3, 0 + 0.3 − 0.2, 0 + 0.2 − 0.5) from the end; A_t = δ_t + 0.95 A_{t+1}.
    a2 = 0.7
    a1 = 0.1 + 0.95 * a2
    a0 = -0.3 + 0.95 * a1
    # Row 2 ends at its second token, which bootstraps from nothing: δ = 2 − 0.5, then 0 + 0.5 − 1.
    b1 = 1.5
    b0 = -0.5 + 0.95 * b1
    assert close(advantages, [[a0, a1, a2], [b0, b1, 0.0]])
    assert close(returns, [[a0 + 0.5, a1 + 0.2, a2 + 0.3], [b0 + 1.0, b1 + 0.5, 0.0]])


def test_whitening_uses_only_the_real_tokens():
    values = t(NEW)
    real = torch.tensor([NEW[i][j] for i, j in REAL], dtype=torch.float64)
    whitened = P.masked_whiten(values, MASK)
    expected = (values - real.mean()) / torch.sqrt(real.var(unbiased=True) + 1e-8)
    assert torch.allclose(whitened[MASK], expected[MASK], atol=1e-9)
    assert whitened[MASK].mean().item() == pytest.approx(0, abs=1e-9)
    assert whitened[MASK].std(unbiased=True).item() == pytest.approx(1, abs=1e-6)
    junk = values.clone()
    junk[~MASK] = -1e6
    assert torch.equal(P.masked_whiten(junk, MASK)[MASK], whitened[MASK])
    assert torch.allclose(P.masked_whiten(values, MASK, shift_mean=False)[MASK], expected[MASK] + real.mean())


def test_adaptive_kl_controller_steers_towards_its_target():
    control = P.KLController(0.2, target=6.0, horizon=10000)
    control.update(12.0, 256)   # twice the target: the error is clipped to +0.2
    assert control.value == pytest.approx(0.2 * (1 + 0.2 * 256 / 10000))
    before = control.value
    control.update(6.6, 256)    # 10 % over
    assert control.value == pytest.approx(before * (1 + 0.1 * 256 / 10000))
    before = control.value
    control.update(0.0, 256)    # far under: clipped to −0.2, the penalty relaxes
    assert control.value == pytest.approx(before * (1 - 0.2 * 256 / 10000))
    fixed = P.KLController(0.05)
    fixed.update(100.0, 256)
    assert fixed.value == 0.05
    assert PPOConfig(kl_target=0).kl_target is None  # 0 means "no target", as leaving it unset


def test_prompt_files_in_every_accepted_shape(tmp_path):
    records = [{"prompt": "Name a colour."},
               {"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]},
               {"instruction": "Translate", "input": "你好", "output": "Hello"},
               {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]},
               {"conversations": [{"from": "human", "value": "Why?"}]},
               {"chosen": "a", "rejected": "b"}]
    (tmp_path / "p.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records))
    (tmp_path / "p.txt").write_text("first prompt\n\n  second prompt  \n")
    prompts, skipped = read_prompts([str(tmp_path / "p.jsonl"), str(tmp_path / "p.txt")])
    assert prompts == [[{"role": "user", "content": "Name a colour."}],
                       [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                       [{"role": "user", "content": "Translate\n\n你好"}],
                       [{"role": "user", "content": "2+2?"}],   # the reply is dropped
                       [{"role": "user", "content": "Why?"}],
                       [{"role": "user", "content": "first prompt"}], [{"role": "user", "content": "second prompt"}]]
    assert sum(skipped.values()) == 1 and "unknown format" in next(iter(skipped))


def test_value_head_shares_the_trunk_and_leaves_the_logits_alone():
    torch.manual_seed(0)
    base = Transformer(ModelConfig(vocab_size=64, dim=16, n_layers=1, n_heads=2, n_kv_heads=1, max_seq_len=16))
    policy = PolicyWithValue.from_language_model(base)
    ids = torch.randint(0, 64, (2, 7))
    with torch.no_grad():
        logits, values = policy(ids, values=True)
        assert torch.allclose(logits, base(ids), atol=1e-5) and torch.allclose(policy(ids), base(ids), atol=1e-5)
        assert torch.allclose(values, policy.value_head(base.hidden_states(ids)).squeeze(-1), atol=1e-6)


# ---- the command ------------------------------------------------------------------------------

CONSTANT_LR = "[train]\nwarmup_steps = 0\nmin_lr_ratio = 1.0\nlr = 0.003\n"


@pytest.fixture(scope="module")
def models(tokenizer_dir, tmp_path_factory):
    """A random tiny language model and reward model (the 2,048-token tokenizer, 64-token context)."""
    root = tmp_path_factory.mktemp("ppo")
    tok = Tokenizer(tokenizer_dir)
    config = ModelConfig(vocab_size=2048, dim=32, n_layers=2, n_heads=4, n_kv_heads=2, max_seq_len=64)
    torch.manual_seed(0)
    save(root / "init", Transformer(config), tok)
    save(root / "rm", RewardModel(config), tok)
    prompts = ["What is the capital of France?", "Write a haiku about rain.", "你好，介绍一下你自己。",
               "List three fruits.", "Why is the sky blue?", "Say hi."]
    (root / "prompts.jsonl").write_text("\n".join(json.dumps({"prompt": p}, ensure_ascii=False) for p in prompts))
    (root / "constant_lr.toml").write_text(CONSTANT_LR)
    return root


@pytest.fixture
def xiulian():
    from corpus.cli import main
    return lambda *args: main([str(a) for a in args])


def ppo_args(models, run, steps, *extra):
    # Rollouts of 4 answers (2 minibatches of 2), 2 epochs: 4 steps per rollout.
    return ("ppo", "--init", models / "init", "--reward", models / "rm", "--prompts", models / "prompts.jsonl",
            "-o", run, "--max-steps", steps, "--batch-size", 2, "--minibatches", 2, "--ppo-epochs", 2,
            "--max-new-tokens", 6, "--config", models / "constant_lr.toml", "-q", *extra)


def logged(run) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("tokens_per_s", "mfu")}
            for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]


def test_ppo_command_trains_logs_and_resumes_exactly(xiulian, models, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    extra = ("--gold-reward", models / "rm", "--kl-target", 0.5, "--kl-horizon", 8)
    assert xiulian(*ppo_args(models, straight, 6, *extra)) == 0
    assert xiulian(*ppo_args(models, resumed, 2, *extra)) == 0   # stops mid-rollout
    assert xiulian(*ppo_args(models, resumed, 6, *extra)) == 0
    records = logged(straight)
    assert records == logged(resumed) and [r["step"] for r in records] == list(range(1, 7))
    first, last = records[0], records[-1]
    assert [r["rollout"] for r in records] == [1, 1, 1, 1, 2, 2]
    # Rollout 1 samples from the starting model, and step 1 takes the first step away from it.
    assert first["kl"] == 0 and first["approx_kl"] == 0 and first["clipfrac"] == 0
    assert first["kl_coef"] == 0.05 and last["kl_coef"] == pytest.approx(0.05 * (1 - 0.2 * 4 / 8))  # KL 0 < 0.5
    assert last["kl"] != 0 and last["gold_reward"] == pytest.approx(last["reward"], abs=1e-6)  # the same RM
    assert first["score"] == pytest.approx(first["reward"] - (1 - first["finished"]), abs=1e-6)
    for name in ("objective", "entropy", "answer_length", "value_loss", "clipfrac", "value_clipfrac"):
        assert name in last
    # The checkpoint is a plain language model with the value head beside it.
    checkpoint = straight / "checkpoint"
    assert json.loads((checkpoint / "config.json").read_text())["heads"] == ["value_head"]
    assert (checkpoint / "value_head.safetensors").is_file() and (straight / "ppo.png").is_file()
    assert type(load_model(straight)) is Transformer
    assert json.loads((straight / "run.json").read_text())["options"]["kl_target"] == 0.5


def test_ppo_with_lora_uses_the_base_as_reference(xiulian, models, tmp_path, capsys):
    run = tmp_path / "lora"
    # A safety model whose threshold no score reaches takes over every answer (Llama 2's rule).
    args = [a for a in ppo_args(models, run, 1, "--lora-rank", 2, "--safety-reward", models / "rm",
                                "--safety-threshold", 1e9) if a != "-q"]
    assert xiulian(*args) == 0
    out = capsys.readouterr().out
    assert "ppo: 6 prompts" in out and "rollouts of 4 answers, 4 steps each" in out and "LoRA rank 2" in out
    assert "step 1: reward" in out and "over the last 1;" in out
    (record,) = logged(run)
    assert record["kl"] == 0 and record["approx_kl"] == 0  # adapters start at B = 0: policy = reference
    assert record["safety_took_over"] == 1
    saved = json.loads((run / "checkpoint" / "config.json").read_text())
    assert saved["lora"]["rank"] == 2 and saved["heads"] == ["value_head"]
    assert type(load_model(run)) is Transformer


def test_missing_options_and_bad_inputs_are_one_line_errors(xiulian, models, tmp_path, capsys):
    with pytest.raises(SystemExit):
        xiulian("ppo", "--init", models / "init", "--prompts", models / "prompts.jsonl", "-o", tmp_path / "run")
    assert "--reward" in capsys.readouterr().err
    (tmp_path / "empty.json").write_text(json.dumps([{"output": "no prompt here"}]))
    assert xiulian("ppo", "--init", models / "init", "--reward", models / "rm", "--prompts", tmp_path / "empty.json",
                   "-o", tmp_path / "run", "-q") == 2
    assert "no usable prompts" in capsys.readouterr().err
    assert xiulian("ppo", "--init", models / "init", "--reward", models / "init", "--prompts", models / "prompts.jsonl",
                   "-o", tmp_path / "run", "-q") == 2
    assert "not a reward model" in capsys.readouterr().err
