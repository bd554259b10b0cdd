"""`xiulian pretrain` end to end on the shared prose: learning, exact resume, DDP, HF interop."""
import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.conftest import ROOT, TINY_TRAIN_TOML, run_cli


def losses(run):
    out = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "loss" in record:
            out[record["step"]] = record["loss"]
    return out


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "tiny.toml"
    path.write_text(TINY_TRAIN_TOML)
    return path


def pretrain_args(prose_files, tokenizer_dir, config, run, *extra):
    return ["pretrain", "--data", *prose_files, "--tokenizer", tokenizer_dir, "--config", config,
            "-o", run, "-q", *extra]


@pytest.fixture(scope="module")
def trained(prose_files, tokenizer_dir, config, tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "run"
    run_cli(*pretrain_args(prose_files, tokenizer_dir, config, run, "--max-steps", "40"))
    return run


def test_pretraining_lowers_the_loss_and_writes_the_run(trained):
    curve = losses(trained)
    assert sorted(curve) == list(range(1, 41))
    records = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    val = [r["val_loss"] for r in records if "val_loss" in r]
    # Training batches of 256 tokens swing with the document they come from (an English article
    # spans many steps); the fixed validation set shows the trend.
    assert len(val) == 4 and val == sorted(val, reverse=True)
    assert val[-1] < math.log(2048) - 0.4 and val[-1] < curve[1] - 0.4
    # MFU is a fraction of the hardware ceiling (train/kernels/flops.py), never above 1.
    assert all(r["tokens_per_s"] > 0 and 0 < r["mfu"] <= 1 for r in records if "loss" in r)
    for name in ("checkpoint/model.safetensors", "checkpoint/config.json", "checkpoint/tokenizer.json",
                 "checkpoint/trainer_state.pt", "loss.png", "run.json"):
        assert (trained / name).is_file(), name


def test_a_finished_run_is_not_trained_again(trained, prose_files, tokenizer_dir, config):
    before = (trained / "metrics.jsonl").read_text()
    args = pretrain_args(prose_files, tokenizer_dir, config, trained, "--max-steps", "40")
    proc = run_cli(*[a for a in args if a != "-q"])
    assert "already trained to step 40" in proc.stdout
    assert (trained / "metrics.jsonl").read_text() == before


def test_a_stopped_or_killed_run_resumes_to_the_same_losses(prose_files, tokenizer_dir, config, tmp_path):
    args = ["--max-steps", "24", "--save-every", "4"]
    run_cli(*pretrain_args(prose_files, tokenizer_dir, config, tmp_path / "a", *args))
    command = [sys.executable, "-m", "corpus.cli",
               *map(str, pretrain_args(prose_files, tokenizer_dir, config, tmp_path / "b", *args))]

    def interrupt(at_step: int, how: signal.Signals) -> int:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        metrics = tmp_path / "b" / "metrics.jsonl"
        while proc.poll() is None:
            if metrics.is_file() and max(losses(metrics.parent) or [0]) >= at_step:
                break
            time.sleep(0.05)
        os.killpg(proc.pid, how)
        return proc.wait()

    # SIGTERM (a time-limited segment ending): the step under way ends, is saved, nothing is lost.
    assert interrupt(6, signal.SIGTERM) == 143
    saved = json.loads((tmp_path / "b" / "checkpoint" / "config.json").read_text())["step"]
    assert saved == max(losses(tmp_path / "b")) < 24
    # SIGKILL: the run goes back to its last checkpoint and logs no step twice.
    interrupt(saved + 6, signal.SIGKILL)
    assert max(losses(tmp_path / "b")) < 24, "the run finished before it could be killed"
    run_cli(*pretrain_args(prose_files, tokenizer_dir, config, tmp_path / "b", *args))
    a, b = losses(tmp_path / "a"), losses(tmp_path / "b")
    assert sorted(b) == sorted(a) == list(range(1, 25))
    assert max(abs(a[s] - b[s]) for s in a) < 1e-6


def test_two_process_ddp_equals_one_process_with_the_same_global_batch(
        prose_files, tokenizer_dir, config, tmp_path):
    one = tmp_path / "one"
    run_cli(*pretrain_args(prose_files, tokenizer_dir, config, one, "--max-steps", "6",
                           "--batch-size", "4"))
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                "-m", "corpus.cli"]
    two = tmp_path / "two"
    proc = subprocess.run(torchrun + [str(a) for a in pretrain_args(
        prose_files, tokenizer_dir, config, two, "--max-steps", "6", "--batch-size", "2")],
        cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[:1500] + " ... " + proc.stderr[-1500:]  # the first rank to fail says why early
    a, b = losses(one), losses(two)
    assert sorted(a) == sorted(b) == list(range(1, 7))
    assert max(abs(a[s] - b[s]) for s in a) < 1e-4


@pytest.mark.parametrize("variant, options, tolerance", [
    ("grad_accum", ["--batch-size", "2", "--grad-accum", "2"], 1e-4),   # same global batch
    ("compile", ["--compile"], 1e-4),
    ("bf16", ["--dtype", "bf16"], 0.05),   # bf16 matmuls: ~3 significant digits per product
])
def test_loop_options_give_the_reference_losses(reference_losses, prose_files, tokenizer_dir, config,
                                                 tmp_path, variant, options, tolerance):
    """Six steps with each option against the same six steps in fp32, eager, one micro-batch."""
    run_cli(*pretrain_args(prose_files, tokenizer_dir, config, tmp_path / variant, *VARIANT_STEPS, *options))
    ours = losses(tmp_path / variant)
    assert sorted(ours) == sorted(reference_losses)
    gap = max(abs(ours[s] - reference_losses[s]) for s in ours)
    assert gap < tolerance
    if variant == "bf16":
        assert gap > 1e-6   # bf16 really ran: its rounding shows in the losses


VARIANT_STEPS = ["--max-steps", "6", "--batch-size", "4", "--eval-every", "0"]


@pytest.fixture(scope="module")
def reference_losses(prose_files, tokenizer_dir, config, tmp_path_factory):
    run = tmp_path_factory.mktemp("reference") / "run"
    run_cli(*pretrain_args(prose_files, tokenizer_dir, config, run, *VARIANT_STEPS))
    curve = losses(run)
    assert curve[6] < curve[1]   # six steps of real training, not a flat line
    return curve


def test_generate_is_deterministic_at_temperature_zero(trained):
    args = ["generate", trained, "--prompt", "The history of", "--max-new-tokens", "8", "--temperature", "0"]
    first = run_cli(*args).stdout
    assert first.startswith("The history of") and len(first) > len("The history of\n")
    assert run_cli(*args).stdout == first


def test_eval_reports_perplexity_and_bits_per_byte(trained, prose_files):
    out = run_cli("eval", trained, "--data", prose_files[0], "--max-tokens", "4000", "--json").stdout
    result = json.loads(out)
    assert result["tokens"] >= 4000 and result["bytes"] > result["tokens"]
    assert 1 < result["perplexity"] < 2048  # better than uniform over the vocabulary
    total_bits = result["loss"] * result["tokens"] / math.log(2)
    assert result["bits_per_byte"] == pytest.approx(total_bits / result["bytes"])
    # Beside it, the floors: count models fit on the run's training tokens, scored on the same
    # targets and bytes, and how far the model is from the best (a bootstrap over documents).
    floors = {f["name"]: f for f in result["floors"]}
    assert list(floors) == ["unigram", "bigram", "trigram"] and result["floor_training_tokens"] > 10_000
    assert floors["trigram"]["loss"] < floors["unigram"]["loss"]
    for floor in floors.values():
        bits = floor["loss"] * result["tokens"] / math.log(2)
        assert floor["bits_per_byte"] == pytest.approx(bits / result["bytes"])
    gap = result["floor_gap"]
    assert gap["low"] <= gap["mean"] <= gap["high"]
    text = run_cli("eval", trained, "--data", prose_files[0], "--max-tokens", "4000").stdout
    assert "bigram" in text and ("does NOT beat the best n-gram floor" in text) != ("beats the best n-gram floor" in text)


def test_a_fine_tuned_run_finds_its_pretraining_tokens_through_init(trained, tmp_path):
    from train.eval.floors import pretraining_data
    child = tmp_path / "sft"
    child.mkdir()
    (child / "run.json").write_text(json.dumps({"stage": "sft", "init": str(trained / "checkpoint")}))
    found = pretraining_data(child)
    assert found is not None and found.directory == trained / "data"
    assert pretraining_data(tmp_path) is None  # no run.json, no data: no floors


def test_hf_export_and_import_keep_the_logits(trained, tmp_path, capsys):
    transformers = pytest.importorskip("transformers", reason="the [hf] extra is not installed")
    from train.model.checkpoint import load_model, load_tokenizer
    run_cli("export", trained, "--hf", tmp_path / "hf")
    ours = load_model(trained).eval()
    theirs = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "hf").eval()
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    text = "北京大学 and the history of"
    ids = torch.tensor([load_tokenizer(trained).encode(text)])
    assert hf_tok(text, add_special_tokens=False).input_ids == ids[0].tolist()
    with torch.no_grad():
        assert torch.allclose(ours(ids), theirs(ids).logits, atol=1e-4)
    # The other way: a Llama that transformers built (untied, its own shape) comes in intact.
    hf_config = transformers.LlamaConfig(vocab_size=2048, hidden_size=96, intermediate_size=160,
                                         num_hidden_layers=2, num_attention_heads=6, num_key_value_heads=2,
                                         max_position_embeddings=128, tie_word_embeddings=False)
    torch.manual_seed(0)
    llama = transformers.LlamaForCausalLM(hf_config).eval()
    llama.save_pretrained(tmp_path / "llama")
    hf_tok.save_pretrained(tmp_path / "llama")
    run_cli("import-hf", tmp_path / "llama", "-o", tmp_path / "imported")
    imported = load_model(tmp_path / "imported").eval()
    with torch.no_grad():
        assert torch.allclose(imported(ids), llama(ids).logits, atol=1e-4)
    # An HF folder shares our file names: the native commands say to import it, not crash on it.
    from corpus.cli import main
    capsys.readouterr()
    assert main(["generate", str(tmp_path / "hf"), "--prompt", "x"]) == 2
    assert "xiulian import-hf" in capsys.readouterr().err
    for target in (trained, trained / "checkpoint", tmp_path / "imported"):  # never over a checkpoint
        assert main(["export", str(trained), "--hf", str(target)]) == 2
        assert "export to a new folder" in capsys.readouterr().err
    assert main(["import-hf", str(tmp_path / "llama"), "-o", str(tmp_path / "llama")]) == 2
    assert "import to a new folder" in capsys.readouterr().err
    assert load_model(trained) is not None and load_model(tmp_path / "imported") is not None


def test_user_errors_are_one_line(tmp_path, prose_files, tokenizer_dir):
    proc = run_cli("pretrain", "--data", tmp_path / "missing", "--tokenizer", tokenizer_dir,
                   "-o", tmp_path / "r", check=False)
    assert proc.returncode == 2 and "no .parquet, .jsonl or .txt files" in proc.stderr
    proc = run_cli("generate", tmp_path, "--prompt", "x", check=False)
    assert proc.returncode == 2 and "no checkpoint at" in proc.stderr
    proc = run_cli("import-hf", tmp_path, "-o", tmp_path / "x", check=False)
    assert proc.returncode == 2 and "no config.json" in proc.stderr
