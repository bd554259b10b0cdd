"""`xiulian eval --tasks`: the harness's prompts, its scoring, and one-line errors for bad input."""
from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import run_cli
from train.eval.benchmark_tasks import fewshot_context, load_docs, task_file
from train.eval.benchmarks import evaluate_tasks, hash_number, last_number, normalise_answer


def _random_model(tokenizer_dir, folder, max_seq_len: int):
    """A seeded, untrained model with the shared-prose tokenizer: scores are arbitrary but exact,
    which is all a comparison of two scorers needs."""
    from train.model.checkpoint import save
    from train.model.tokenizer import Tokenizer
    from train.model.transformer import ModelConfig, Transformer
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=2048, dim=64, n_layers=2, n_heads=4, n_kv_heads=2,
                                    max_seq_len=max_seq_len))
    return save(folder / "ckpt", model, Tokenizer(tokenizer_dir))


@pytest.fixture(scope="module")
def random_model(tokenizer_dir, tmp_path_factory):
    return _random_model(tokenizer_dir, tmp_path_factory.mktemp("bench_model"), 256)


def test_mmlu_prompt_is_the_harness_prompt(shared_data, monkeypatch):
    monkeypatch.setenv("SHARED", str(shared_data))
    docs = load_docs("mmlu", task_file("mmlu", {}))
    first, second = docs[0], docs[1]
    assert fewshot_context(first, docs, 0) == (
        "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
        "Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.\n"
        "A. 0\nB. 4\nC. 2\nD. 6\nAnswer:")
    assert first.gold == 1 and first.choices == ["A", "B", "C", "D"]
    # first_n few-shot: the first k of the subject, the item itself left out.
    two_shot = fewshot_context(second, docs, 2)
    assert two_shot.count("Answer:") == 3 and first.text + " B\n\n" in two_shot
    assert two_shot.endswith(second.text) and two_shot.count(second.text) == 1


@pytest.mark.parametrize("max_seq_len", [256, 40])   # 40: long items are cut from the left
def test_scores_agree_with_transformers(shared_data, tokenizer_dir, tmp_path, monkeypatch, max_seq_len):
    """Each choice's log-likelihood, ours vs LlamaForCausalLM on the export, the harness's way:
    context and continuation encoded whole, the continuation what follows the context's tokens,
    a sequence longer than the context cut to its last max_seq_len + 1 tokens."""
    transformers = pytest.importorskip("transformers", reason="the [hf] extra is not installed")
    from train.model.hf import export_hf
    monkeypatch.setenv("SHARED", str(shared_data))
    model = _random_model(tokenizer_dir, tmp_path, max_seq_len)
    samples = tmp_path / "samples.jsonl"
    result = evaluate_tasks(str(model), ["hellaswag", "arc_challenge"], limit=6, progress=False,
                            samples=str(samples), batch_size=4)
    hf_dir = export_hf(str(model), str(tmp_path / "hf"))
    tok = transformers.AutoTokenizer.from_pretrained(hf_dir)
    hf = transformers.AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
    ours = [json.loads(line) for line in open(samples)]
    assert len(ours) == 12 and result["tasks"]["hellaswag"]["n"] == 6
    for item in ours:
        doc = load_docs(item["task"], task_file(item["task"], {}), limit=6)[item["index"]]
        context = tok(doc.text, add_special_tokens=False)["input_ids"]
        for choice, ll in zip(doc.choices, item["loglikelihoods"]):
            whole = tok(doc.text + " " + choice, add_special_tokens=False)["input_ids"]
            scored = len(whole) - len(context)
            window = whole[-(max_seq_len + 1):]
            with torch.no_grad():
                logprobs = torch.log_softmax(hf(torch.tensor([window[:-1]])).logits[0], -1)
            expected = sum(logprobs[i - 1, window[i]].item()
                           for i in range(max(1, len(window) - scored), len(window)))
            assert ll == pytest.approx(expected, abs=1e-3)
    accs = [float(i["pred"] == i["gold"]) for i in ours if i["task"] == "hellaswag"]
    assert result["tasks"]["hellaswag"]["acc"] == pytest.approx(sum(accs) / len(accs))


def test_gsm8k_answer_extraction_follows_the_harness():
    assert normalise_answer("Natalia sold 48/2 = 24 clips.\n#### 72") == "72"
    assert hash_number("so the total is\n#### 1,200") == "1,200"
    assert normalise_answer(hash_number("#### 1,200")) == "1200"
    assert last_number("She pays $18. Then 5 more.") == "5"
    assert last_number("no digits here") == "[invalid]"
    assert normalise_answer(last_number("The answer is $1,234.")) == "1234"


def test_bad_task_input_is_one_line(shared_data, random_model, tmp_path):
    unknown = run_cli("eval", random_model, "--tasks", "no_such_task", "--limit", "5", check=False)
    assert unknown.returncode == 2 and "unknown task no_such_task" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
    no_file = run_cli("eval", random_model, "--tasks", "arc_easy", check=False)
    assert no_file.returncode == 2 and "--task-file arc_easy=PATH" in no_file.stderr
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text(json.dumps({"question": "What?", "answer": "#### 3"}) + "\n")
    fields = run_cli("eval", random_model, "--tasks", "hellaswag", "--task-file", f"hellaswag={wrong}",
                     check=False)
    assert fields.returncode == 2 and "record 1 has no activity_label, ctx, endings, label" in fields.stderr
    assert len(fields.stderr.strip().splitlines()) == 1


def test_arc_easy_reads_any_arc_file(shared_data, random_model):
    """arc_easy has no shared file; any file in ARC's format serves (here the challenge set)."""
    out = run_cli("eval", random_model, "--tasks", "arc_easy", "--limit", "4", "--json", "--quiet",
                  "--task-file", f"arc_easy={shared_data / 'benchmarks' / 'arc_challenge_test.jsonl'}")
    scores = json.loads(out.stdout)["tasks"]["arc_easy"]
    assert scores["n"] == 4 and 0 <= scores["acc"] <= 1 and scores["acc_stderr"] is not None


def test_an_imported_hf_model_scores_the_same(shared_data, random_model, tmp_path, monkeypatch):
    """Any Llama-architecture HF folder, brought in by import-hf, is scored like our own."""
    from train.model.hf import export_hf, import_hf
    monkeypatch.setenv("SHARED", str(shared_data))
    imported = import_hf(str(export_hf(str(random_model), str(tmp_path / "hf"))), str(tmp_path / "imported"))
    scores = [evaluate_tasks(str(ckpt), ["arc_challenge"], limit=5, progress=False, samples=str(tmp_path / f"{i}.jsonl"))
              for i, ckpt in enumerate((random_model, imported))]
    assert scores[0]["tasks"]["arc_challenge"]["acc"] == scores[1]["tasks"]["arc_challenge"]["acc"]
    ours, theirs = ([json.loads(line)["loglikelihoods"] for line in open(tmp_path / f"{i}.jsonl")] for i in (0, 1))
    assert all(a == pytest.approx(b, abs=1e-4) for x, y in zip(ours, theirs) for a, b in zip(x, y))
