"""`xiulian self-instruct`: ROUGE-L, the instruction filters, prompts from the shared seed tasks,
and end-to-end runs with tiny teachers (a random one and one taught briefly to end its turns)."""
import argparse
import json

import pytest
import torch

from corpus.errors import UserError
from tests.conftest import run_cli
from train.stages.self_instruct.cli import add_parsers
from train.stages.self_instruct.self_instruct import (SimilarityIndex, Task, build_prompt, copy_key,
                                                      instruction_problem, language_of, lcs_length, parse_task,
                                                      read_seed_tasks, rouge_l, self_instruct)


def test_rouge_l_on_known_pairs():
    assert lcs_length(list("ABCBDAB"), list("BDCABA")) == 4   # the textbook example (CLRS)
    # 5 of 6 words in common, in order: F1 = 5/6.
    assert rouge_l("Give three tips for staying healthy.", "give three tips for staying HAPPY") == pytest.approx(5 / 6)
    assert rouge_l("Translate to French.", "Translate to French.") == 1.0
    assert rouge_l("Sort these numbers.", "Write a haiku.") == 0.0
    assert rouge_l("", "Write a haiku.") == 0.0
    # Chinese counts characters: 请以下面词语为+题+写一首 = 11 of 13 and 12 characters.
    assert rouge_l("请以下面词语为主题写一首诗", "请以下面词语为题写一首歌") == pytest.approx(22 / 25)
    assert rouge_l("给出下面词语的同义词", "把这段话翻译成英文") == 0.0


def test_instruction_filter_drops_copies_and_near_duplicates():
    seeds = ["Give three tips for staying healthy.", "请以下面词语为主题写一首诗"]
    seen = SimilarityIndex(seeds)
    keys = {copy_key(seed) for seed in seeds}
    assert instruction_problem("  GIVE three tips for staying healthy! ", keys, seen, 0.7) == "copies a seed"
    assert instruction_problem("请以下面词语为主题，写一首诗。", keys, seen, 0.7) == "copies a seed"
    assert instruction_problem("Give three tips for staying happy.", keys, seen, 0.7) == "near-duplicate"
    assert instruction_problem("请以下面词语为题写一首歌", keys, seen, 0.7) == "near-duplicate"
    assert instruction_problem("Give three tips for staying happy.", keys, seen, 0.9) is None  # --similarity
    assert instruction_problem("Name a colour.", keys, seen, 0.7) == "instruction too short"
    assert instruction_problem(" ".join(["word"] * 151), keys, seen, 0.7) == "instruction too long"
    assert instruction_problem("?!", keys, seen, 0.7) == "instruction empty"
    new = "Explain how a rainbow forms after rain."
    assert instruction_problem(new, keys, seen, 0.7) is None
    seen.add(new)  # kept: now its near-copies go too
    assert seen.most_similar("Explain how a rainbow forms after a storm.") == (pytest.approx(2 * 6 / 15), new)
    assert instruction_problem("Explain how a rainbow forms after the rain.", keys, seen, 0.7) == "near-duplicate"


def test_prompts_are_built_from_the_shared_seed_tasks_in_their_language(shared_data):
    english = read_seed_tasks(str(shared_data / "sft" / "alpaca_seed_tasks.jsonl"))
    chinese = read_seed_tasks(str(shared_data / "sft" / "belle_zh_seed_tasks.jsonl"))
    assert len(english) == len(chinese) == 175
    assert (language_of(english), language_of(chinese)) == ("en", "zh")
    relation = next(t for t in english if t.id == "seed_task_1")
    assert (relation.instruction, relation.input) == ("What is the relation between the given pairs?",
                                                      "Night : Day :: Right : Left")
    prompt = build_prompt([english[0], relation], "en")
    assert prompt.startswith("Come up with a new task")
    assert prompt.endswith("Instruction: What is the relation between the given pairs?\n"
                           "Input: Night : Day :: Right : Left")
    assert "Input:" not in prompt.split("Instruction: ")[1]  # no input line for a task without input
    poem = next(t for t in chinese if t.id == "seed_task_8")
    assert build_prompt([poem], "zh").endswith("\n\n指令：请以下面词语为主题写一首诗\n输入：夏天")
    # The teacher's reply is read back the same way, labels optional, a second task cut off.
    assert parse_task("指令：请写一首关于秋天的诗\n输入：落叶") == Task("请写一首关于秋天的诗", "落叶")
    assert parse_task("Instruction: Sort the list.\nInput: <noinput>\n\nInstruction: More") == Task("Sort the list.")
    assert parse_task("Tell me a joke about cats.") == Task("Tell me a joke about cats.")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Token-by-token generation of a tiny model is fastest on one thread (and the cores are shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def random_teacher(tokenizer_dir, tmp_path_factory):
    from train.model.checkpoint import save
    from train.model.tokenizer import Tokenizer
    from train.model.transformer import ModelConfig, Transformer
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=2048, dim=64, n_layers=2, n_heads=4, n_kv_heads=2, max_seq_len=256))
    return save(tmp_path_factory.mktemp("teacher") / "random", model, Tokenizer(tokenizer_dir))


@pytest.fixture(scope="module")
def stopping_teacher(random_teacher, shared_data, tmp_path_factory):
    """The random model after 40 SFT steps on the seed tasks: it has learned to end its turns,
    so some of its tasks survive the filters (a random model ends one turn in ~10)."""
    from train.stages.sft.sft import sft
    root = tmp_path_factory.mktemp("stopping")
    with open(root / "seeds_alpaca.jsonl", "w", encoding="utf-8") as f:
        for task in read_seed_tasks(str(shared_data / "sft" / "alpaca_seed_tasks.jsonl")):
            f.write(json.dumps({"instruction": task.instruction, "input": task.input, "output": task.output}) + "\n")
    (root / "sft.toml").write_text("[train]\nbatch_size = 8\nlr = 0.003\neval_every = 0\neval_batches = 1\n")
    sft(str(random_teacher), [str(root / "seeds_alpaca.jsonl")], str(root / "run"), str(root / "sft.toml"),
        {"max_steps": 40, "device": "cpu"}, progress=False)
    return root / "run"


def cli(argv: list[str]) -> int:
    """`xiulian self-instruct ARGS`, parsed and run in this process."""
    from corpus.cli import _command
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"), _command)
    args = parser.parse_args(["self-instruct", *argv])
    return args.run(args)


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_random_teacher_keeps_the_books_and_is_deterministic(random_teacher, shared_data, tmp_path, capsys):
    seeds = shared_data / "sft" / "belle_zh_seed_tasks.jsonl"
    argv = ["--teacher", str(random_teacher), "--seeds", str(seeds), "--num", "5", "--num-shots", "1",
            "--max-new-tokens", "32", "--max-rounds", "20", "--temperature", "1.5", "-q"]
    assert cli([*argv, "-o", str(tmp_path / "a.jsonl")]) == 0
    err = capsys.readouterr().err
    assert "warning: the teacher's licence is unknown" in err
    assert "self-instruct: 20 generated = " in err
    books = self_instruct(str(random_teacher), str(seeds), str(tmp_path / "b.jsonl"), num=5, num_shots=1,
                          temperature=1.5, max_new_tokens=32, max_rounds=20, progress=False)
    assert books.generated == 20 == books.kept + sum(books.rejected.values())
    assert books.rejected["instruction cut off at the limit"] > 10  # a random model rarely stops
    assert set(books.rejected) <= {"instruction cut off at the limit", "prompt does not fit the context",
                                   "instruction empty", "instruction too short", "no room left to answer",
                                   "answer empty", "answer cut off at the limit"}
    assert f"{books.kept} kept + {sum(books.rejected.values())} rejected" in err  # same seed, same run
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_rows_resume_without_duplicates_and_train_with_sft(stopping_teacher, random_teacher, shared_data, tmp_path):
    seeds, out = shared_data / "sft" / "alpaca_seed_tasks.jsonl", tmp_path / "tasks.jsonl"
    options = dict(num_shots=1, max_new_tokens=48, max_rounds=80, seed=1, progress=False, licence="MIT (test)")
    first = self_instruct(str(stopping_teacher), str(seeds), str(out), num=2, **options)
    assert first.generated == first.kept + sum(first.rejected.values()) and first.kept == first.total == 2
    written = out.read_bytes()
    rows = lines(out)
    for row in rows:
        assert set(row) == {"instruction", "input", "output", "teacher", "licence", "seed_ids"}
        assert row["instruction"].strip() and row["output"].strip() and row["licence"] == "MIT (test)"
        assert row["teacher"] == {"checkpoint": str(stopping_teacher / "checkpoint"), "stage": "sft",
                                  "init": str(random_teacher), "step": 40}
        assert len(row["seed_ids"]) == 1 and row["seed_ids"][0].startswith("seed_task_")
    # A run killed mid-row leaves half a line; the next run drops it, keeps the rows, adds new ones.
    with open(out, "ab") as f:
        f.write(b'{"instruction": "cut sh')
    second = self_instruct(str(stopping_teacher), str(seeds), str(out), num=4, **options)
    assert second.kept == 2 and second.total == 4
    assert out.read_bytes().startswith(written)
    instructions = [row["instruction"].casefold() for row in lines(out)]
    assert len(set(instructions)) == len(instructions) == 4
    assert max(rouge_l(a, b) for i, a in enumerate(instructions) for b in instructions[:i]) < 0.7
    done = self_instruct(str(stopping_teacher), str(seeds), str(out), num=4, **options)
    assert done.generated == 0 and len(lines(out)) == 4
    # A file that is not a self-instruct output is refused, not truncated or appended to.
    foreign = tmp_path / "alpaca.json"
    foreign.write_text('[{"instruction": "Say hi.", "input": "", "output": "Hi!"}]', encoding="utf-8")
    with pytest.raises(UserError, match="not a self-instruct output"):
        self_instruct(str(stopping_teacher), str(seeds), str(foreign), num=4, **options)
    assert foreign.read_text(encoding="utf-8") == '[{"instruction": "Say hi.", "input": "", "output": "Hi!"}]'
    # `xiulian sft` trains on the output as it is.
    run_cli("sft", "--init", stopping_teacher, "--data", out, "-o", tmp_path / "sft", "--max-steps", "1",
            "--batch-size", "2", "--eval-every", "1", "-q")
    summary = json.loads((tmp_path / "sft" / "run.json").read_text())
    assert summary["conversations"]["train"] + summary["conversations"]["validation"] == 4
    assert summary["conversations"]["skipped"] == {}
