"""`xiulian recipe run`: the tiny recipe end to end, resuming, and the results page it writes."""
import json
import time
from pathlib import Path

import pytest

from corpus.errors import UserError
from tests.conftest import ROOT, run_cli
from train.recipes.recipe import load_recipe, options, stage_commands
from train.recipes.report import publish


def test_a_stage_table_becomes_the_options_of_its_command():
    table = {"max_steps": 40, "data": ["a.json", "b.json"], "quiet": True, "compile": False, "lr": 3e-4}
    assert options(table) == ["--max-steps", "40", "--data", "a.json", "b.json", "--quiet", "--lr", "0.0003"]


def test_stages_are_wired_to_the_outputs_before_them(tmp_path):
    recipe = load_recipe(ROOT / "data" / "recipes" / "tiny.toml")
    commands = stage_commands(recipe, tmp_path)
    assert commands["pretrain"][:5] == ["pretrain", "--data", str(tmp_path / "clean" / "shards"),
                                        "--tokenizer", str(tmp_path / "tokenizer")]
    assert commands["sft_lora"][1:3] == ["--init", str(tmp_path / "pretrain")]
    assert "data/recipes/tiny/sft.jsonl" in commands["sft_lora"]  # LoRA SFT reuses [sft] data
    assert commands["dpo"][1:3] == ["--init", str(tmp_path / "sft")]


def test_a_stage_runs_again_when_its_config_file_or_an_input_stage_changed(tmp_path):
    from train.recipes.recipe import stage_record, why_run_again
    config = tmp_path / "pretrain.toml"
    config.write_text("[train]\nlr = 2e-3\n")
    out = tmp_path / "run"
    pretrain = ["pretrain", "--data", str(out / "clean" / "shards"), "-o", str(out / "pretrain"), "--config", str(config)]
    sft = ["sft", "--init", str(out / "pretrain"), "-o", str(out / "sft")]
    (out / "pretrain").mkdir(parents=True)
    (out / "sft").mkdir()
    done = {"clean": {**stage_record(["clean", "x.jsonl"]), "finished": 1.0},
            "pretrain": {**stage_record(pretrain), "finished": 2.0}, "sft": {**stage_record(sft), "finished": 3.0}}
    assert why_run_again("pretrain", pretrain, done, out) is None and why_run_again("sft", sft, done, out) is None
    assert why_run_again("dpo", ["dpo"], done, out) == "it has not finished"
    assert why_run_again("sft", [*sft, "--max-steps", "9"], done, out) == "its command changed"
    config.write_text("# a comment, the same settings\n[train]\nlr = 0.002\n")
    assert why_run_again("pretrain", pretrain, done, out) is None
    config.write_text("[train]\nlr = 6e-3\n")  # same command line, another config: not done
    assert why_run_again("pretrain", pretrain, done, out) == f"{config} changed"
    done["pretrain"] = {**stage_record(pretrain), "finished": 4.0}  # ran again: what reads it is stale
    assert why_run_again("sft", sft, done, out) == "pretrain, whose output it reads, ran again since"
    assert why_run_again("pretrain", pretrain, done, out) is None  # the stage before it did not run again
    # The same data folder spelled another way ($SHARED=../shared/data or an absolute path) is no change.
    spelled = [*pretrain[:2], str(out / "x" / ".." / "clean" / "shards"), *pretrain[3:]]
    (out / "clean" / "shards").mkdir(parents=True)
    (out / "x").mkdir()
    assert why_run_again("pretrain", spelled, done, out) is None
    (out / "sft").rmdir()  # a finished stage whose folder was deleted is not done
    assert why_run_again("sft", sft, done, out) == f"its output {out / 'sft'} is gone"


def test_unknown_tables_are_a_clear_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[pretrian]\nmax_steps = 3\n")
    with pytest.raises(UserError, match="unknown table.*pretrian"):
        load_recipe(bad)


def test_a_recipe_without_stages_and_a_stage_without_its_inputs_are_clear_errors(tmp_path):
    from train.recipes.recipe import run_recipe
    (tmp_path / "empty.toml").write_text("")
    with pytest.raises(UserError, match="no stages"):
        load_recipe(tmp_path / "empty.toml")
    with pytest.raises(UserError, match="stage pretrain reads the output of clean, tokenizer, which has not run"):
        run_recipe(str(ROOT / "data" / "recipes" / "tiny.toml"), str(tmp_path / "run"), ["pretrain"])


def test_publishing_replaces_only_its_own_section(tmp_path):
    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "a.png").write_bytes(b"png")
    (out / "figures" / "other_recipe.png").write_bytes(b"png")  # in OUT, not on this page
    page = out / "RESULTS.md"
    target = tmp_path / "docs" / "RESULTS.md"
    target.parent.mkdir()
    target.write_text("# Results\n\nIntro kept as written.\n")
    for number in (1, 2):
        page.write_text(f"## Run {number}\n\n![a](figures/a.png)\n")
        publish(page, target, "tiny")
    text = target.read_text()
    assert text.count("<!-- recipe:tiny -->") == 1 and "## Run 2" in text and "## Run 1" not in text
    assert "Intro kept as written." in text and "](img/results/tiny/a.png)" in text
    assert (tmp_path / "docs" / "img" / "results" / "tiny" / "a.png").is_file()
    assert not (tmp_path / "docs" / "img" / "results" / "tiny" / "other_recipe.png").exists()


def tiny_recipe_for_tests(tmp_path: Path) -> Path:
    """tiny.toml with its experiments on two seeds, not three: the machinery (runs, intervals,
    verdicts) is the same, and the suite stays within its time (the published page uses three)."""
    text = (ROOT / "data" / "recipes" / "tiny.toml").read_text(encoding="utf-8")
    assert "experiment_seeds = 3" in text
    path = tmp_path / "tiny.toml"
    path.write_text(text.replace("experiment_seeds = 3", "experiment_seeds = 2"), encoding="utf-8")
    return path


def test_tiny_recipe_runs_end_to_end_and_resumes(tmp_path):
    out, recipe = tmp_path / "tiny", tiny_recipe_for_tests(tmp_path)
    first = run_cli("recipe", "run", recipe, "-o", out)
    assert "$ xiulian pretrain --data" in first.stdout  # each stage shows the command it runs
    state = json.loads((out / "recipe.json").read_text())
    assert set(state["done"]) >= {"clean", "tokenizer", "pretrain", "sft", "sft_lora", "reward", "reward_proxy",
                                  "dpo", "ppo"}
    page = (out / "RESULTS.md").read_text()
    for heading in ("Cleaning: the funnel", "Pretraining", "does the model answer and stop?",
                    "Reward model", "DPO", "PPO", "Best-of-N and reward hacking", "Tokens per character", "Are pretrained parameters the key",
                    "Cross-lingual transfer", "Does deduplication prevent regurgitation?", "High-quality text",
                    "Quality over quantity (LIMA)", "Against the n-gram floors", "continues held-out text"):
        assert heading in page
    # The pretrained model beside its floors, in bits per byte, with an interval and a plain verdict.
    floors = json.loads((out / "pretrain_floors.json").read_text())
    assert [f["name"] for f in floors["floors"]] == ["unigram", "bigram", "trigram"]
    assert "bigram count model" in page and "95% interval over documents" in page
    assert ("The model beats the best n-gram floor" in page) != ("does NOT beat the best n-gram floor" in page)
    # Each comparison has its interval; a sentence says "shown" only with one that excludes no effect.
    assert "95% interval over seeds" in page and page.count("seed0") >= 2
    assert "records read" in page and page.count("| unreadable |") <= 1
    for figure in Path(out / "figures").glob("*.png"):
        assert f"figures/{figure.name}" in page
    assert (out / "figures" / "cleaning_funnel.png").stat().st_size > 1000
    manifest = json.loads((out / "clean" / "manifest.json").read_text())
    assert f"{manifest['counts']['read']:,} records read" in page  # numbers come from the outputs
    # Run again: every stage is skipped (its evaluation, which reruns on purpose, is left out here).
    again = run_cli("recipe", "run", recipe, "-o", out, "--only", *state["done"])
    assert again.stdout.count("done earlier") == len(state["done"])
    # A stage whose input ran again starts over (resuming a finished run would train nothing).
    state["done"]["sft"]["finished"] = time.time()
    (out / "recipe.json").write_text(json.dumps(state))
    redo = run_cli("recipe", "run", recipe, "-o", out, "--only", "dpo")
    assert "sft, whose output it reads, ran again since; it starts over" in redo.stdout
    assert (out / "dpo.previous").is_dir() and any((out / "dpo").iterdir())


def test_the_gpu_recipe_builds_its_model_and_wires_its_stages(tmp_path):
    """small_gpu.toml is never run here (no GPU); its configs must still load and fit together."""
    import torch

    from corpus.config import read_toml
    from train.core.loop import TrainConfig
    from train.model.transformer import ModelConfig, Transformer
    from train.stages.pretrain.pretrain import resolve_config
    from train.stages.sft.sft import SFTDataConfig
    recipe = load_recipe(ROOT / "data" / "recipes" / "small_gpu.toml")
    commands = stage_commands(recipe, tmp_path)
    assert set(commands) >= {"clean", "tokenizer", "pretrain", "sft", "sft_lora", "reward", "dpo", "ppo"}
    assert commands["dpo"][1:3] == ["--init", str(tmp_path / "sft")]
    config_file = commands["pretrain"][commands["pretrain"].index("--config") + 1]
    config = resolve_config("tiny", config_file, {}, vocab_size=8192)
    assert config["train"]["compile"] and config["train"]["dtype"] == "bf16"
    with torch.device("meta"):
        model = Transformer(ModelConfig(**config["model"]))
    assert 25e6 < model.num_params() < 40e6
    sft_config = read_toml(commands["sft"][commands["sft"].index("--config") + 1], ("train", "data", "lora"))
    assert TrainConfig.from_dict(sft_config["train"]).batch_size == 32
    assert SFTDataConfig(**sft_config["data"]).overlong == "drop"


def test_prepare_turns_line_and_nested_json_prose_into_documents(tmp_path, shared_data):
    from train.recipes.recipe import prepare_documents, prepared_files
    recipe = {"prepare": {"line_documents": [str(shared_data / "text" / "en_wikipedia_demo.txt")],
                          "json_documents": [str(shared_data / "text" / "zh_classics")]}}
    files = prepared_files(recipe, tmp_path)
    assert [Path(f).name for f in files][:3] == ["en_wikipedia_demo.jsonl", "daxue.jsonl", "guwenguanzhi.jsonl"]
    prepare_documents(recipe, tmp_path)
    lunyu = [json.loads(line) for line in open(tmp_path / "inputs" / "lunyu.jsonl", encoding="utf-8")]
    assert lunyu[0]["id"] == "lunyu-0" and "子曰" in lunyu[0]["text"]
    assert all(1 <= d["text"].count("\n") + 1 <= 8 for d in lunyu)  # eight paragraphs to a document
    wiki = [json.loads(line) for line in open(tmp_path / "inputs" / "en_wikipedia_demo.jsonl", encoding="utf-8")]
    assert len(wiki) == 30
    with pytest.raises(UserError, match="unknown key"):
        prepared_files({"prepare": {"csv_documents": []}}, tmp_path)
