"""Stage 2: data formats, the chat template, the loss mask, and `xiulian sft` end to end."""
import json
import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT, TINY_TRAIN_TOML, run_cli
from tests.live_server import tiny_checkpoint
from train.data.sft_formats import Skipped, load_conversations, to_messages
from train.model.chat_template import CHAT_TEMPLATE, prompt_ids, render, stop_ids
from train.model.checkpoint import load_model, load_tokenizer
from train.model.tokenizer import Tokenizer
from train.stages.sft.sft import build_examples, collate, token_loss

CONVERSATION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "你好吗？"},
                {"role": "assistant", "content": "很好。"}]


def test_every_format_gives_the_same_conversation(tmp_path):
    alpaca = {"system": "Be brief.", "instruction": "你好吗？", "input": "", "output": "很好。",
              "history": [["Hi", "Hello!"]]}
    messages = {"messages": CONVERSATION}
    sharegpt = {"system": "Be brief.", "conversations": [
        {"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"},
        {"from": "human", "value": "你好吗？"}, {"from": "gpt", "value": "很好。"}]}
    for record in (alpaca, messages, sharegpt):
        assert to_messages(record) == CONVERSATION
    assert to_messages({"instruction": "Sum", "input": "2 + 2", "output": "4"})[0] == \
        {"role": "user", "content": "Sum\n\n2 + 2"}
    # JSON and JSONL files, mixed formats, and bad records counted by reason.
    (tmp_path / "a.json").write_text(json.dumps([alpaca, messages]), encoding="utf-8")
    (tmp_path / "b.jsonl").write_text("\n".join([json.dumps(sharegpt), "{broken", json.dumps(
        {"instruction": "x", "output": ["chosen", "rejected"]}), json.dumps({"text": "plain"})]),
        encoding="utf-8")
    conversations, skipped = load_conversations([str(tmp_path / "a.json"), str(tmp_path / "b.jsonl")])
    assert conversations == [CONVERSATION] * 3
    assert skipped == {"b.jsonl: not a JSON object": 1,
                       "b.jsonl: output is a list (a preference pair, not SFT data)": 1,
                       "b.jsonl: unknown format (no messages, conversations, instruction+output, or question+answer)": 1}
    with pytest.raises(Skipped, match="does not end with an assistant"):
        to_messages({"messages": CONVERSATION[:2]})


def test_shared_sft_files_all_load(shared_data):
    for name in ("alpaca_en_demo.json", "alpaca_zh_demo.json", "lima.json", "oasst1_sft_zh.json"):
        conversations, skipped = load_conversations([str(shared_data / "sft" / name)])
        assert len(conversations) > 500 and sum(skipped.values()) < len(conversations) * 0.01, name
    lima, _ = load_conversations([str(shared_data / "sft" / "lima.json")])
    assert any(len(c) > 2 for c in lima)  # history turns became earlier messages


def test_mask_supervises_exactly_the_assistant_text_and_end_of_turn(tokenizer_dir):
    tok = Tokenizer(tokenizer_dir)
    rendered = render(tok, CONVERSATION)
    s = tok.special
    expected_ids = ([s["bos"], s["system"]] + tok.encode("Be brief.") + [s["end_of_turn"], s["user"]]
                    + tok.encode("Hi") + [s["end_of_turn"], s["assistant"]] + tok.encode("Hello!")
                    + [s["end_of_turn"], s["user"]] + tok.encode("你好吗？") + [s["end_of_turn"], s["assistant"]]
                    + tok.encode("很好。") + [s["end_of_turn"]])
    assert rendered.ids == expected_ids
    supervised = [tok.decode([i], skip_special=False) for i, on in zip(rendered.ids, rendered.supervised) if on]
    assert "".join(supervised) == "Hello!<|end_of_turn|>很好。<|end_of_turn|>"
    last_only = render(tok, CONVERSATION, train_on="last")
    assert tok.decode([i for i, on in zip(last_only.ids, last_only.supervised) if on]) == "很好。"


def test_hf_chat_template_renders_the_same_ids(tokenizer_dir):
    transformers = pytest.importorskip("transformers", reason="the [hf] extra is not installed")
    hf = transformers.AutoTokenizer.from_pretrained(str(tokenizer_dir))
    hf.chat_template = CHAT_TEMPLATE
    ours = render(Tokenizer(tokenizer_dir), CONVERSATION[:2], add_generation_prompt=True).ids
    theirs = hf.apply_chat_template(CONVERSATION[:2], add_generation_prompt=True, tokenize=True,
                                    return_dict=False)
    assert list(theirs) == ours


def test_padding_and_unsupervised_batches_give_finite_zero_loss(tokenizer_dir):
    tok = Tokenizer(tokenizer_dir)
    examples, counts = build_examples([CONVERSATION, CONVERSATION[:3]], tok, 1000, "assistant")
    batch = collate(examples, tok.special["pad"])
    short = batch["lengths"][1]
    assert (batch["targets"][1, short:] == -100).all() and (batch["inputs"][1, short:] == tok.special["pad"]).all()
    from train.model.transformer import ModelConfig, Transformer
    model = Transformer(ModelConfig(vocab_size=2048, dim=32, n_layers=1, n_heads=2, n_kv_heads=1, max_seq_len=64))
    # Right padding changes nothing for the real tokens: causal attention never looks ahead.
    alone = collate(examples[1:], tok.special["pad"])
    with torch.no_grad():
        assert torch.allclose(model(batch["inputs"])[1, :short], model(alone["inputs"])[0], atol=1e-5)
    batch["targets"][:] = -100
    loss = token_loss(model, batch)
    assert loss.item() == 0.0
    loss.backward()  # and no NaN gradients
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.fixture(scope="module")
def base_run(prose_files, tokenizer_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("sftbase")
    (root / "tiny.toml").write_text(TINY_TRAIN_TOML)
    run_cli("pretrain", "--data", *prose_files, "--tokenizer", tokenizer_dir, "--config", root / "tiny.toml",
            "-o", root / "run", "--max-steps", "10", "-q")
    return root / "run"


def test_sft_cli_trains_on_assistant_tokens_and_chats(base_run, shared_data, tmp_path):
    run_cli("sft", "--init", base_run, "--data", shared_data / "sft" / "alpaca_en_demo.json",
            "-o", tmp_path / "sft", "--max-steps", "12", "--eval-every", "6", "-q")
    records = [json.loads(line) for line in (tmp_path / "sft" / "metrics.jsonl").read_text().splitlines()]
    val = [r["val_loss"] for r in records if "val_loss" in r]
    assert len(val) == 2 and val[1] < val[0]
    summary = json.loads((tmp_path / "sft" / "run.json").read_text())
    assert summary["conversations"]["validation"] > 10 and summary["stage"] == "sft"
    out = run_cli("generate", tmp_path / "sft", "--chat", "--prompt", "Name a colour.",
                  "--max-new-tokens", "5", "--temperature", "0").stdout
    assert "<|" not in out  # the reply only, no role markers
    chat = run_cli("chat", tmp_path / "sft", "--max-new-tokens", "4", "--temperature", "0", check=False)
    assert chat.returncode == 0  # stdin is empty: leaves cleanly at EOF


def greedy_reply(model, tokenizer, messages, max_new_tokens):
    """A reply decoded token by token with full forward passes (no KV cache, no streaming),
    less the bytes that form no character (chat drops them; decode shows U+FFFD)."""
    ids, stop, out = prompt_ids(tokenizer, messages), stop_ids(tokenizer), []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            token = int(model(torch.tensor([ids + out]))[0, -1].argmax())
            if token in stop:
                break
            out.append(token)
    return tokenizer.decode(out).replace("\ufffd", "")


def test_chat_through_a_pipe_keeps_the_first_turn_in_context(tokenizer_dir, tmp_path):
    """Two turns on stdin: the second reply is the model's greedy answer to the whole
    conversation (first question, first reply, second question), not to the second alone.
    An untrained model: its greedy answers depend on every token (a briefly trained one
    repeats its most frequent token whatever it is asked)."""
    checkpoint = tiny_checkpoint(tokenizer_dir, tmp_path / "chat")
    turns = ["Tell me about the history of China.", "And what happened next?"]
    proc = subprocess.run([sys.executable, "-m", "corpus.cli", "chat", str(checkpoint), "--max-new-tokens", "12",
                           "--temperature", "0"], input="\n".join(turns) + "\n", capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[:1500] + " ... " + proc.stderr[-1500:]  # the first rank to fail says why early
    replies = [part[:part.rindex("\nyou> ")] for part in proc.stdout.split("bot> ")[1:]]
    assert len(replies) == 2 and proc.stdout.count("you> ") == 3   # a third prompt, then EOF
    tokenizer, model = load_tokenizer(checkpoint), load_model(checkpoint).eval()
    first = [{"role": "user", "content": turns[0]}]
    assert replies[0] == greedy_reply(model, tokenizer, first, 12)
    whole = first + [{"role": "assistant", "content": replies[0]}, {"role": "user", "content": turns[1]}]
    assert replies[1] == greedy_reply(model, tokenizer, whole, 12)
    assert replies[1] != greedy_reply(model, tokenizer, whole[2:], 12)   # the context mattered


def test_lora_trains_under_two_percent_of_a_base_size_model():
    """Rank 8 on all seven projections of the `base` preset (82 M parameters at an 8k vocabulary)."""
    from train.model.lora import apply_lora, trainable_parameters
    from train.model.transformer import PRESETS, ModelConfig, Transformer
    with torch.device("meta"):  # shapes only: nothing is allocated
        model = Transformer(ModelConfig(vocab_size=8192, **PRESETS["base"]))
    apply_lora(model, rank=8)
    trainable, total = trainable_parameters(model)
    assert trainable / total < 0.02
    assert all(("lora_" in n) == p.requires_grad for n, p in model.named_parameters())


def test_a_one_line_jsonl_file_is_one_record(tmp_path):
    from train.data.sft_formats import read_records
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps({"prompt": "Hi", "answers": ["Hello!", "Go away."]}) + "\n")
    assert list(read_records(str(one))) == [{"prompt": "Hi", "answers": ["Hello!", "Go away."]}]
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"version": 1, "data": [{"instruction": "a"}, {"instruction": "b"}]}))
    assert [r["instruction"] for r in read_records(str(wrapped))] == ["a", "b"]
